"""Where the JPEG input pipeline's time goes: each stage alone, in one run.

    python3 scripts/pipeline_probe.py FOLDER [--workers 16] [--batch-size 64]

Rates in training crops per second: one worker's own work on one core (Pillow path, and the
--gpu-decode path's header read), the DataLoader delivering batches with no decoding in the
main process, the main process's decoding alone on batches already received (nvJPEG, then
nvJPEG with the resize and crops), and the whole --gpu-decode pipeline (what bench reports).
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.data import DataLoader

from invertnet.bench import timed_pipeline_batches
from invertnet.data.batches import (
    EncodedTrainingImages,
    TrainingImages,
    collate_encoded,
    collate_training,
    decoded_batches,
    default_workers,
)
from invertnet.data.datasets import FolderImages, RunOrder
from invertnet.data.jpeg import _decode, decode_crops


def rate(batches, count: int, batch_size: int, device: torch.device) -> float:
    iterator = iter(batches)
    untimed, timed = count
    for _ in range(untimed):
        next(iterator)
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(timed):
        next(iterator)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return timed * batch_size / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    workers = default_workers(device) if args.workers is None else args.workers
    source, batch = FolderImages(args.folder), args.batch_size
    count = timed_pipeline_batches(8, workers)
    order = lambda: RunOrder(len(source), seed=0, batch_size=batch, start_step=0, steps=sum(count))  # noqa: E731
    print(f"{len(source)} files, batch {batch}, {workers} workers, {device}")

    for name, dataset in (("Pillow path", TrainingImages(source)), ("gpu-decode path (read + header)", EncodedTrainingImages(source))):
        torch.set_num_threads(1)
        items = list(order())[:batch]
        started = time.perf_counter()
        for item in items:
            dataset[item]
        print(f"one worker's work, one core, {name}: {batch / (time.perf_counter() - started):.0f}/s")
    torch.set_num_threads(max(1, torch.get_num_threads()))

    for name, dataset, collate in (("Pillow", TrainingImages(source), collate_training), ("encoded", EncodedTrainingImages(source), collate_encoded)):
        loader = DataLoader(dataset, batch_size=batch, sampler=order(), collate_fn=collate, num_workers=workers, generator=torch.Generator())
        print(f"DataLoader alone ({name} items, nothing in the main process): {rate(loader, count, batch, device):.0f}/s")

    loader = DataLoader(EncodedTrainingImages(source), batch_size=batch, sampler=order(), collate_fn=collate_encoded, num_workers=workers)
    received = [encoded for encoded, _ in loader][:32]
    reference = TrainingImages(source)
    for name, work in (
        ("decode_jpeg alone", lambda b: _decode(b.files(), device)),
        ("decode_crops (decode, resize, crop)", lambda b: decode_crops(b, device, lambda i, s: reference[(i, s)])),
    ):
        print(f"main process, {name}, batches in memory: {rate(map(work, received * 4), (4, len(received) * 4 - 4), batch, device):.0f}/s")
    print(f"whole --gpu-decode pipeline: {rate(decoded_batches(source, order(), device, workers), count, batch, device):.0f}/s")


if __name__ == "__main__":
    main()
