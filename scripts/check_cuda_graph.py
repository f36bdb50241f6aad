"""Check on a GPU that ``train --cuda-graph`` computes what the eager step computes.

    PYTHONPATH=. python scripts/check_cuda_graph.py     # needs CUDA; prints a table, exits 1 on a mismatch

For each layer and precision, trainers start from the same weights and train on the same
synthetic batches (preset ``full``: comparator, discriminator with dropout, the gate): one
eagerly, one eagerly again, and one with its step captured into a CUDA graph after the eager
warm-up. A replay launches the kernels the eager step launched, so the graph must give the
eager trajectory bit for bit (dropout draws included: a replay that ignored the per-step
reseeding would differ by whole dropout masks) wherever two eager runs agree bit for bit, as
they do in fp32 with cuDNN's deterministic algorithms. In bf16 cuDNN's autotuner may pick
other algorithms in each run; there the graph may differ from the eager run by no more than
the second eager run does (the same computation, other algorithms): no tolerance is assumed.
A stop request made before a replayed step must reach that step's flag, as it does in an eager one.
"""

from __future__ import annotations

import sys
import tempfile

import torch

from invertnet.data.batches import synthetic_batches
from invertnet.data.datasets import DeadLeaves, RunOrder
from invertnet.training import TrainConfig, Trainer
from invertnet.training.step import GRAPH_WARMUP

STEPS = GRAPH_WARMUP + 5


def trajectory(layer: str, precision: str, cuda_graph: bool, batches: list[torch.Tensor], out: str) -> tuple[list[dict[str, float]], list[bool | None], Trainer]:
    config = TrainConfig(
        layer=layer, data="synthetic", out=f"{out}/{layer}-{precision}-{cuda_graph}", steps=STEPS + 1, batch_size=len(batches[0]),
        loss="full", alexnet="random:0", device="cuda", precision=precision, cuda_graph=cuda_graph, workers=0,
    )
    trainer = Trainer(config)
    if precision == "fp32":
        torch.backends.cudnn.deterministic = True
    values, updated = [], []
    for images in batches:
        result = trainer.train_step(images).read()
        trainer.step += 1
        values.append(result.values)
        updated.append(result.discriminator_updated)
    return values, updated, trainer


def worst_difference(a: list[dict[str, float]], b: list[dict[str, float]]) -> dict[str, float]:
    """Each loss's largest relative difference over the steps (0.0: bit for bit the same)."""
    return {k: max(abs(y[k] - x[k]) / max(abs(x[k]), 1e-30) for x, y in zip(a, b)) for k in a[0]}


def main() -> int:
    source = DeadLeaves("train")
    batches = [images for images, _ in synthetic_batches(source, RunOrder(len(source), 0, 64, 0, STEPS), torch.device("cuda"))]
    failed = False
    print(f"{'layer':6} {'precision':9} {'graph vs eager, worst relative difference (eager vs eager)':64} gate")
    with tempfile.TemporaryDirectory() as out:
        for precision in ("fp32", "bf16"):
            for layer in ("conv5", "fc6"):
                eager, eager_gate, _ = trajectory(layer, precision, False, batches, f"{out}/a")
                again, _, _ = trajectory(layer, precision, False, batches, f"{out}/b")
                graph, graph_gate, trainer = trajectory(layer, precision, True, batches, out)
                assert trainer.update.captured is not None and trainer.update.captured.captured
                worst, spread = worst_difference(eager, graph), worst_difference(eager, again)
                ok = all(worst[k] <= spread[k] for k in worst) and eager_gate == graph_gate
                trainer.request_stop()
                stopped = trainer.train_step(batches[0]).read().stop_requested
                ok = ok and stopped
                failed |= not ok
                shown = ", ".join(f"{k} {worst[k]:.1e} ({spread[k]:.1e})" for k in worst)
                print(f"{layer:6} {precision:9} {shown:64} {'same' if eager_gate == graph_gate else 'DIFFERENT'}"
                      f"{'' if stopped else ', stop flag LOST'} {'ok' if ok else 'FAIL'}")
                torch.backends.cudnn.deterministic = False
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
