"""Profile one layer's training step with torch.profiler: where the time of a DeePSiM step goes.

    python scripts/profile_step.py --layer fc6 --batch-size 64 --out profile/   # on a GPU
    python scripts/profile_step.py --layer conv5 --batch-size 4 --device cpu --steps 2

Writes ``OUT/profile-LAYER-PRECISION.txt``: the step's wall time against the busy time of
the device (a step much longer than its kernels is bound by the host: launches,
synchronisations, Python), then the operators sorted by device time and by host time.
The step is :meth:`invertnet.train.Trainer.train_step`, on a synthetic batch already on
the device, as ``invertnet bench`` times it.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from invertnet.bench import training_batch
from invertnet.training import TrainConfig, Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layer", default="fc6")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--cuda-graph", action="store_true")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=10, help="Profiled steps (after as many untimed ones).")
    parser.add_argument("--out", type=Path, default=Path("."))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as runs:
        config = TrainConfig(
            layer=args.layer, data="synthetic", out=runs, steps=1, batch_size=args.batch_size, alexnet="random:0",
            device=args.device, precision=args.precision, compile=args.compile, cuda_graph=args.cuda_graph, workers=0,
        )
        trainer = Trainer(config)
        device = trainer.device
        images = training_batch(args.batch_size, device)
        sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
        for _ in range(args.steps):
            trainer.train_step(images)
        sync()
        started = time.perf_counter()
        for _ in range(args.steps):
            trainer.train_step(images)
        sync()
        step_ms = 1000 * (time.perf_counter() - started) / args.steps
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
        with profile(activities=activities) as prof:
            for _ in range(args.steps):
                trainer.train_step(images)
            sync()
    events = prof.key_averages()
    device_us = sum(e.self_device_time_total for e in events if e.device_type == torch.autograd.DeviceType.CUDA) / args.steps
    lines = [
        (
            f"{args.layer} step, batch {args.batch_size}, {trainer.precision.name}{' compiled' if args.compile else ''}"
            f"{' graph' if args.cuda_graph else ''}, on "
            f"{torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}, torch {torch.__version__}"
        ),
        (
            f"wall time per step (unprofiled): {step_ms:.2f} ms; device busy per step (sum of kernel times): {device_us / 1000:.2f} ms "
            f"({100 * device_us / 1000 / step_ms:.0f}% of the wall time)"
        ),
        "",
        "by device time:",
        events.table(sort_by="self_device_time_total" if device.type == "cuda" else "self_cpu_time_total", row_limit=40),
        "by host time:",
        events.table(sort_by="self_cpu_time_total", row_limit=25),
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"profile-{args.layer}-{trainer.precision.name}{'-compiled' if args.compile else ''}{'-graph' if args.cuda_graph else ''}.txt"
    path.write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:2]))
    print(path)


if __name__ == "__main__":
    main()
