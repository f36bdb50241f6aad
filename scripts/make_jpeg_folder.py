"""Write a folder of ImageNet-like JPEGs: dead-leaves pictures in ImageNet's common sizes.

    python3 scripts/make_jpeg_folder.py FOLDER --count 2048

A third of ILSVRC-2012's training images are 500x375 or 375x500 and most of the rest 500 on
the long side; these cycle through such sizes, with every fifth image a random size, so a
batch holds both repeated and one-off sizes (which matters to --gpu-decode, which crops a
group of same-sized images at a time). Quality 90, like the bench's generated folder.
"""

from __future__ import annotations

import argparse
import random
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch
from PIL import Image

from invertnet.data import DeadLeaves
from invertnet.data.imageio import to_uint8

SIZES = [(500, 375), (375, 500), (500, 333), (500, 500)]


def write(folder: Path, index: int) -> None:
    if index % 5 == 4:
        width, height = random.Random(index).randint(300, 640), random.Random(-index).randint(240, 500)
    else:
        width, height = SIZES[index % 5]
    pixels = to_uint8(DeadLeaves("val", size=max(width, height)).load(index)[:, :height, :width]).permute(1, 2, 0).numpy()
    Image.fromarray(pixels).save(folder / f"{index:06d}.jpg", quality=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--count", type=int, default=2048)
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(initializer=torch.set_num_threads, initargs=(1,)) as pool:  # one thread each: no oversubscription
        list(pool.map(write, [args.folder] * args.count, range(args.count), chunksize=16))
    print(f"wrote {args.count} JPEGs to {args.folder}")


if __name__ == "__main__":
    main()
