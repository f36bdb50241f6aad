"""The table and picture of docs/results.md, "The adversarial term on a CPU", from what scripts/adversarial_run.sh wrote.

    python3 scripts/adversarial_table.py OUT      # prints a markdown table; writes OUT/adversarial.png and OUT/table.json

Per method: image and feature error, sharpness and the lattice check (from ``eval``), the spread of the
reconstructions (their mean pairwise distance over the inputs': 0 for a generator that ignores its input), and,
for each fine-tuned run, what its last steps did: the discriminator's update rate (the gate's duty cycle) and
the mean of each loss term over the last 50 steps, weighted as in eq. 1.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from invertnet.data.captions import labelled_rows
from invertnet.data.imageio import load_image, save_image
from invertnet.evaluation.metrics import pairwise_mean_distance

SHOWN = 6
LAST = 50


def _images(folder: Path, names: list[str]) -> torch.Tensor:
    return torch.stack([load_image(folder / f"{name}.png") for name in names])


def _last_steps(run: Path) -> dict[str, float]:
    """The mean of each weighted term and of D's update rate over the run's last ``LAST`` logged steps."""
    config = json.loads((run / "config.json").read_text())
    weights = {key.removeprefix("lambda_"): value for key, value in config["loss_config"].items() if key.startswith("lambda_")}
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    window = [r for r in records if r["step"] > records[-1]["step"] - LAST]
    terms = {term: sum(r[term] for r in window) / len(window) * weights[term] for term in ("feat", "adv", "img") if term in window[-1]}
    if "d_update_rate" in window[-1]:
        terms["d_update_rate"] = sum(r["d_update_rate"] for r in window) / len(window)
        terms["discr"] = sum(r["discr"] for r in window) / len(window)
    return terms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    out = parser.parse_args().out
    results = json.loads((out / "eval.json").read_text())["results"]
    names = [path.stem for path in sorted((out / "images" / "input").glob("*.png"))]
    inputs = _images(out / "images" / "input", names)
    folders = sorted((out / "images").glob("recon-*"), key=lambda path: int(path.name.split("-")[1]))
    rows, picture = [], [("input", inputs[:SHOWN])]
    print("| method | image % | feat. % | sharpness % | lattice | spread % | D updates | weighted terms, last 50 steps |")
    print("|---|---:|---:|---:|---|---:|---:|---|")
    for result, folder in zip(results, folders):
        recon = _images(folder, names)
        spread = pairwise_mean_distance(recon.flatten(1).double()) / pairwise_mean_distance(inputs.flatten(1).double())
        pattern = result["periodicity"]
        lattice = f"{pattern['period_px']:.1f} px, {pattern['amplitude_levels']:.0f} levels" if pattern["lattice"] else "-"
        checkpoint = Path(result["checkpoint"])
        run = checkpoint.parent if checkpoint.name.endswith(".safetensors") else None
        name = run.name if run is not None else "mean image"
        last = _last_steps(run) if run is not None and (run / "metrics.jsonl").is_file() else {}
        terms = ", ".join(f"{term} {value:.3g}" for term, value in last.items() if term in ("feat", "adv", "img"))
        rate = f"{100 * last['d_update_rate']:.0f}%" if "d_update_rate" in last else "-"
        print(f"| {name} | {100 * result['image_error_fraction']:.1f} | {100 * result['feature_error_fraction']:.1f} | {100 * result['sharpness_ratio']:.1f} | "
              f"{lattice} | {100 * spread:.1f} | {rate} | {terms or '-'} |")
        rows.append({"method": name, "image_error": result["image_error_fraction"], "feature_error": result["feature_error_fraction"],
                     "sharpness": result["sharpness_ratio"], "periodicity": pattern, "spread": spread, "last_steps": last or None})
        picture.append((f"{name}: {100 * result['image_error_fraction']:.1f}%, sharp {100 * result['sharpness_ratio']:.0f}%", recon[:SHOWN]))
    (out / "table.json").write_text(json.dumps({"schema": "invertnet.adversarial-table/1", "rows": rows}, indent=2, allow_nan=False) + "\n")
    print(save_image(labelled_rows(picture, title="held-out images; conv5 of random:0 (image error, sharpness)"), out / "adversarial.png"))


if __name__ == "__main__":
    main()
