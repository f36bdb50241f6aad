"""How long loading a generator takes with and without building it uninitialised (invertnet.initialisation).

    python3 scripts/load_bench.py [--layer fc6] [--threads 1]

Trains a one-step run of LAYER against ``random:0`` in a temporary folder, then loads its generator
three times each way (the fastest of each kept) and prints both times and their ratio, measured in
one process, one after the other.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from pathlib import Path

import torch

import invertnet.inversion as inversion
from invertnet.inversion import Inverter
from invertnet.training import TrainConfig, Trainer


def fastest(run: Path, repeats: int = 3) -> float:
    """The fastest of ``repeats`` loads of ``run``'s generator, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        Inverter.load_generator(run)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layer", default="fc6", help="the generator's layer (default fc6: 56 million weights)")
    parser.add_argument("--threads", type=int, default=1, help="torch's CPU threads (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as folder:
        run = Path(folder) / "run"
        Trainer(TrainConfig(layer=args.layer, data="synthetic", out=str(run), steps=1, batch_size=2, encoder="random:0", device="cpu",
                            workers=0)).run()
        Inverter.load_generator(run)  # imports and the file in the page cache, for both
        uninitialised = fastest(run)
        built = inversion.no_default_init
        inversion.no_default_init = contextlib.nullcontext  # initialised as when training, then overwritten
        try:
            initialised = fastest(run)
        finally:
            inversion.no_default_init = built
    print(f"{args.layer} generator, {args.threads} thread(s): {uninitialised:.3f} s built uninitialised, "
          f"{initialised:.3f} s initialised then overwritten: {initialised / uninitialised:.2f} times as long")


if __name__ == "__main__":
    main()
