"""Check on a GPU that ``train --cuda-graph`` computes what the eager step computes.

    python scripts/check_cuda_graph.py            # needs CUDA; prints a table, exits 1 on a mismatch

For each layer, two trainers start from the same weights and train on the same synthetic
batches (preset ``full``: comparator, discriminator with dropout, the gate), one eagerly and
one with its step captured into a CUDA graph after the eager warm-up. In fp32 with cuDNN's
deterministic algorithms the two must agree to rounding at every step (dropout draws
included: a replay that ignored the per-step reseeding would differ by whole dropout
masks); in bf16 (autotuned algorithms) to bf16 tolerance. A stop request made before a
replayed step must reach that step's flag, as it does in an eager one.
"""

from __future__ import annotations

import sys
import tempfile

import torch

from invertnet.batches import synthetic_batches
from invertnet.data import DeadLeaves, RunOrder
from invertnet.train import GRAPH_WARMUP, TrainConfig, Trainer

STEPS = GRAPH_WARMUP + 5
TOLERANCE = {"fp32": 1e-4, "bf16": 3e-2}


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


def main() -> int:
    source = DeadLeaves("train")
    batches = [images for images, _ in synthetic_batches(source, RunOrder(len(source), 0, 64, 0, STEPS), torch.device("cuda"))]
    failed = False
    print(f"{'layer':6} {'precision':9} {'worst relative difference over steps (graph vs eager)':56} gate")
    with tempfile.TemporaryDirectory() as out:
        for precision in ("fp32", "bf16"):
            for layer in ("conv5", "fc6"):
                eager, eager_gate, _ = trajectory(layer, precision, False, batches, out)
                graph, graph_gate, trainer = trajectory(layer, precision, True, batches, out)
                assert trainer._captured is not None and trainer._captured.captured
                worst = {k: max(abs(g[k] - e[k]) / max(abs(e[k]), 1e-12) for e, g in zip(eager, graph)) for k in eager[0]}
                ok = all(v <= TOLERANCE[precision] for v in worst.values()) and eager_gate == graph_gate
                trainer.request_stop()
                stopped = trainer.train_step(batches[0]).read().stop_requested
                ok = ok and stopped
                failed |= not ok
                shown = ", ".join(f"{k} {v:.1e}" for k, v in worst.items())
                print(f"{layer:6} {precision:9} {shown:56} {'same' if eager_gate == graph_gate else 'DIFFERENT'}"
                      f"{'' if stopped else ', stop flag LOST'} {'ok' if ok else 'FAIL'}")
                torch.backends.cudnn.deterministic = False
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
