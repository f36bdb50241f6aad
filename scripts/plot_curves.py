"""Learning curves of training runs from their metrics.jsonl: one panel per loss term, one line per run.

    python scripts/plot_curves.py runs/proxy/conv5-image runs/proxy/fc6-full ... --out curves.png

Needs matplotlib (not a dependency of invertnet). A run is named by its folder; a term a
run does not log (the feature term of an ``image`` run) is left out of that panel. Folders
named LAYER-PRESET (as scripts/proxy_run.sh names them) share a colour per preset and a
line style per layer.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

TERMS = {"img": "L_img (image term, 0-255 units)", "feat": "L_feat (feature term)", "adv": "L_adv", "discr": "L_discr"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--terms", default="img,feat", help="Comma-separated terms, one panel each (img, feat, adv, discr).")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    terms = args.terms.split(",")
    unknown = [t for t in terms if t not in TERMS]
    if unknown:
        parser.error(f"unknown terms {unknown}: choose from {', '.join(TERMS)}")
    records = {run.name: [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()] for run in args.runs}
    presets = list(dict.fromkeys(name.split("-", 1)[-1] for name in records))  # LAYER-PRESET folders: a colour per preset
    colours = {preset: f"C{i}" for i, preset in enumerate(presets)}
    figure, axes = plt.subplots(1, len(terms), figsize=(6 * len(terms), 4.2), squeeze=False)
    for axis, term in zip(axes[0], terms):
        for name, rows in records.items():
            points = [(r["step"], r[term]) for r in rows if term in r]
            if points:
                steps, values = zip(*points)
                style = "-" if name.startswith("conv5") else "--"
                axis.plot(steps, values, label=name, color=colours[name.split("-", 1)[-1]], linestyle=style, linewidth=1.2)
        axis.set_title(TERMS[term])
        axis.set_xlabel("step (batch 64)")
        axis.set_yscale("log")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(args.out, dpi=110)
    print(args.out)


if __name__ == "__main__":
    main()
