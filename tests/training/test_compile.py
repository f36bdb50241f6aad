"""``--compile``: the compiled training step computes what the eager one does.

Inductor would spend minutes compiling C++ on a 2-core CPU, so the test compiles with the
``aot_eager`` backend: Dynamo's tracing and AOTAutograd's joint graph, the parts that can
break on invertnet's modules, without code generation.
"""

import pytest
import torch
from conftest import ALEXNET

from invertnet.bench import training_batch
from invertnet.training import TrainConfig, Trainer


def test_compiled_step_matches_eager(tmp_path, monkeypatch):
    compile_ = torch.compile
    monkeypatch.setattr(torch, "compile", lambda module: compile_(module, backend="aot_eager"))
    images = training_batch(2, torch.device("cpu"))
    results = {}
    for compiled in (False, True):
        config = TrainConfig(layer="fc8", data="synthetic", out=str(tmp_path / str(compiled)), steps=2, batch_size=2, encoder=ALEXNET,
                             device="cpu", workers=0, compile=compiled, fc_width=64)
        trainer = Trainer(config)
        assert isinstance(trainer.update.g_train, torch._dynamo.eval_frame.OptimizedModule) == compiled
        results[compiled] = [trainer.train_step(images).read().values for _ in range(2)]
    for eager, compiled in zip(results[False], results[True]):
        assert compiled == pytest.approx(eager, rel=1e-4)
