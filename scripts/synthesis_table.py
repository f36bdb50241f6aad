"""The table of docs/results.md, "Synthesis": two ``invertnet synthesize --json`` files (gradient, cma) of the same
units, side by side, with the activation as a multiple of the best natural image's and the CMA-ES evaluations
needed to reach 90% of the gradient method's activation.

    python3 scripts/synthesis_table.py gradient.json cma.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def evaluations_to_reach(unit: dict, value: float) -> int | None:
    """Images scored until the best activation first reached ``value``."""
    return next((n for n, best in zip(unit["evaluations_per_iteration"], unit["best"]) if best >= value), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gradient", type=Path)
    parser.add_argument("cma", type=Path)
    args = parser.parse_args()
    gradient, cma = (json.loads(path.read_text()) for path in (args.gradient, args.cma))
    print("| unit | best natural | gradient | x natural | cma | x natural | cma images to 90% of gradient |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    beat = {"gradient": 0, "cma": 0}
    reached = []
    for g, c in zip(gradient["units"], cma["units"]):
        assert g["target"] == c["target"], (g["target"], c["target"])
        for name, unit in (("gradient", g), ("cma", c)):
            beat[name] += unit["activation"] > unit["natural_max"]
        needed = evaluations_to_reach(c, 0.9 * g["activation"]) if g["activation"] > 0 else None
        reached.append(needed)
        ratio = lambda unit: "-" if unit["ratio_to_natural"] is None else f"{unit['ratio_to_natural']:.2f}"  # noqa: E731
        print(f"| {g['target']} | {g['natural_max']:.3g} | {g['activation']:.3g} | {ratio(g)} | {c['activation']:.3g} | {ratio(c)} | "
              f"{'not within ' + format(c['evaluations'], ',') if needed is None else format(needed, ',')} |")
    units = len(gradient["units"])
    print()
    print(f"Above the best of {gradient['units'][0]['natural_images']} natural images: gradient {beat['gradient']} of {units} units, "
          f"cma {beat['cma']} of {units}. Gradient: {gradient['units'][0]['evaluations']:,} images scored per unit; "
          f"cma: {cma['units'][0]['evaluations']:,}.")
    found = sorted(n for n in reached if n is not None)
    if found:
        print(f"CMA-ES reached 90% of the gradient method's activation in {len(found)} of {units} units, after "
              f"{found[len(found) // 2]:,} images scored (median of those).")


if __name__ == "__main__":
    main()
