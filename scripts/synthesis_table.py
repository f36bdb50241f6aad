"""The table of docs/results.md, "Synthesis": ``invertnet synthesize --json`` files of the same units, the gradient
method first, then gradient-free ones (cma, ga), side by side: the activation, as a multiple of the best natural
image's, and the images each gradient-free search scored to reach 90% of the gradient method's activation.

    python3 scripts/synthesis_table.py gradient.json cma.json ga.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def evaluations_to_reach(unit: dict, value: float) -> int | None:
    """Images scored until the best activation first reached ``value``."""
    return next((n for n, best in zip(unit["evaluations_per_iteration"], unit["best"]) if best >= value), None)


def ratio(unit: dict) -> str:
    return "-" if unit["ratio_to_natural"] is None else f"{unit['ratio_to_natural']:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gradient", type=Path)
    parser.add_argument("others", type=Path, nargs="+", help="gradient-free searches of the same units (cma, ga)")
    args = parser.parse_args()
    gradient = json.loads(args.gradient.read_text())
    others = [json.loads(path.read_text()) for path in args.others]
    names = [record["method"] + (f" ({record['settings']['cma_variant']})" if record["settings"].get("cma_variant") else "") for record in others]
    header = ["unit", "best natural", "gradient", "x natural"]
    for name in names:
        header += [name, "x natural", f"{name}: images to 90%"]
    print("| " + " | ".join(header) + " |")
    print("|---|" + "---:|" * (len(header) - 1))
    beat = [0] * (1 + len(others))
    reached: list[list[int | None]] = [[] for _ in others]
    for index, g in enumerate(gradient["units"]):
        cells = [g["target"], f"{g['natural_max']:.3g}", f"{g['activation']:.3g}", ratio(g)]
        beat[0] += g["activation"] > g["natural_max"]
        for k, record in enumerate(others):
            unit = record["units"][index]
            assert unit["target"] == g["target"], (unit["target"], g["target"])
            beat[k + 1] += unit["activation"] > unit["natural_max"]
            needed = evaluations_to_reach(unit, 0.9 * g["activation"]) if g["activation"] > 0 else None
            reached[k].append(needed)
            cells += [f"{unit['activation']:.3g}", ratio(unit), f"not within {unit['evaluations']:,}" if needed is None else f"{needed:,}"]
        print("| " + " | ".join(cells) + " |")
    units = len(gradient["units"])
    print()
    above = ", ".join(f"{name} {count} of {units}" for name, count in zip(["gradient", *names], beat))
    print(f"Above the best of {gradient['units'][0]['natural_images']} natural images: {above}. Images scored per unit: gradient "
          f"{gradient['units'][0]['evaluations']:,}, " + ", ".join(f"{name} {r['units'][0]['evaluations']:,}" for name, r in zip(names, others)) + ".")
    for name, found in zip(names, reached):
        hits = sorted(n for n in found if n is not None)
        if hits:
            print(f"{name} reached 90% of the gradient method's activation in {len(hits)} of {units} units, after "
                  f"{hits[len(hits) // 2]:,} images scored (median of those).")
        else:
            print(f"{name} reached 90% of the gradient method's activation in none of the {units} units.")


if __name__ == "__main__":
    main()
