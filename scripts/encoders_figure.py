"""The picture of docs/results.md, "Other encoders": six held-out inputs, then each encoder's generator's reconstructions.

    python3 scripts/encoders_figure.py OUT           # OUT: what scripts/encoders_run.sh wrote; writes OUT/encoders.jpg

Each row is read from the reconstructions ``eval --save-reconstructions`` saved (the exact crops compared), so the
picture shows what the table measured.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from invertnet.data.captions import labelled_rows
from invertnet.data.imageio import load_image, save_image

COUNT = 6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    runs = sorted(path.with_suffix("") for path in args.out.glob("*.json"))
    inputs = sorted((runs[0].parent / f"{runs[0].name}-images" / "input").glob("*.png"))[:COUNT]
    rows = [("input", torch.stack([load_image(path) for path in inputs]))]
    for run in runs:
        result = json.loads(run.with_suffix(".json").read_text())["results"][0]
        folder = next(path for path in (run.parent / f"{run.name}-images").glob("recon-0-*"))
        images = torch.stack([load_image(folder / path.name) for path in inputs])
        rows.append((f"{result['encoder']} {result['layer']}: {100 * result['image_error_fraction']:.1f}%", images))
    print(save_image(labelled_rows(rows, title="held-out synthetic images; each encoder's generator after 300 steps of 8 (image error)"),
                     args.out / "encoders.jpg"))


if __name__ == "__main__":
    main()
