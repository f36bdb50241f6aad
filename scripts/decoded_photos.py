"""FG and iCNN on real photographs, offline: true features and simulated "decoded" ones (docs/results.md, issue 40).

    python3 scripts/decoded_photos.py --out /tmp/decoded            # about 6 minutes on two CPU cores

No brain data: the "decoded" features are **simulated**, true features plus Gaussian noise at a stated
signal-to-noise ratio (the variance of an image's features at a layer over the noise's). What it runs,
every step through the command line a user has:

1. a small relu7 generator (fc width 1024) trained for ``--steps`` on synthetic dead-leaves images against
   ``caffenet:random:0`` (no ImageNet weights here), with the image loss;
2. scikit-image's RGB photographs (in its wheel) as the test images; their CaffeNet features at nine layers
   written as a true-feature tree by bdpy's own ``save_feature``, and the same plus noise as decoded trees
   (subject ``sim``, one ROI per SNR);
3. the per-channel SD of true features from 64 other (dead-leaves) images (``features --stats``);
4. FG and iCNN (``--iterations``) on each tree, decoded ones with ``--feature-scaling feature_std``;
5. ``eval --reconstructions`` on each, and a grid of the pictures.

Needs the ``mat`` and ``test`` extras (bdpy, scikit-image is pulled in by nothing: ``pip install scikit-image``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina", "colorwheel")
LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "relu7", "fc8")
ENCODER = "caffenet:random:0"


def cli(*args: object) -> None:
    from invertnet.cli import main

    code = main([str(a) for a in args])
    if code != 0:
        raise SystemExit(f"invertnet {' '.join(map(str, args))} failed ({code})")


def train(out: Path, steps: int) -> Path:
    from invertnet.training import TrainConfig, Trainer

    run = out / "run"
    if not (run / "generator.safetensors").exists():
        config = TrainConfig(layer="fc7", encoder=ENCODER, data="synthetic", out=str(run), steps=steps, batch_size=16, loss="image",
                             fc_width=1024, device="cpu", log_every=max(1, steps // 10), sample_every=steps, checkpoint_every=steps)
        Trainer(config).run()
    return run


def write_trees(out: Path, snrs: list[float]) -> dict[str, Path]:
    from bdpy.dataform import save_feature
    from PIL import Image
    from skimage import data

    from invertnet.cli.common import crop_inputs
    from invertnet.data.imageio import load_image
    from invertnet.encoders import load_encoder
    from invertnet.encoders.tree_taps import tree_features

    true_dir = out / "true"
    true_dir.mkdir(parents=True, exist_ok=True)
    for name in PHOTOS:
        Image.fromarray(getattr(data, name)()[..., :3]).save(true_dir / f"{name}.png")
    net = load_encoder(ENCODER)
    images = torch.stack(list(crop_inputs([load_image(true_dir / f"{name}.png") for name in PHOTOS], net.input_size)))
    with torch.no_grad():
        features = tree_features(net, images, LAYERS)
    trees = {"true": out / "features" / "true"}
    rng = np.random.default_rng(0)
    for index, name in enumerate(PHOTOS):
        for layer in LAYERS:
            value = features[layer][index : index + 1].numpy()
            save_feature(value, str(trees["true"]), layer, name)
            for snr in snrs:
                noise = rng.normal(scale=float(value.std()) / np.sqrt(snr), size=value.shape).astype(np.float32)
                save_feature(value + noise, str(out / "features" / "decoded"), f"{layer}/sim/snr{snr:g}", name)
    trees["decoded"] = out / "features" / "decoded"
    return trees


def feature_std(out: Path) -> Path:
    from invertnet.data.datasets import DeadLeaves
    from invertnet.data.imageio import save_image

    folder = out / "sd_images"
    leaves = DeadLeaves("train")
    for i in range(64):
        save_image(leaves.load(i), folder / f"{i:03d}.png")
    target = out / "std.mat"
    cli("features", folder, "--encoder", ENCODER, "--layer", ",".join(LAYERS), "--stats", "--out", target)
    return target


def reconstruct(out: Path, run: Path, trees: dict[str, Path], std: Path, iterations: int) -> dict[str, float]:
    seconds = {}
    for method in ("generator", "icnn"):
        for kind, tree in trees.items():
            target = out / "recon" / method / kind
            extra = ["--feature-scaling", "feature_std", "--feature-std", std] if kind == "decoded" else []
            if method == "icnn":
                extra += ["--encoder", ENCODER, "--iterations", iterations]
            started = time.perf_counter()
            cli("invert", "--features", tree, "--layer", "relu7", "--weights", run, "--method", method, "--out", target, *extra)
            count = len(list(target.rglob("*.png")))
            seconds[f"{method}/{kind}"] = (time.perf_counter() - started) / count
    return seconds


def score(out: Path) -> list[dict[str, object]]:
    rows = []
    for method in ("generator", "icnn"):
        for kind in ("true", "decoded"):
            report = out / f"scores-{method}-{kind}.json"
            cli("eval", "--reconstructions", out / "recon" / method / kind, "--true", out / "true", "--json", report)
            for row in json.loads(report.read_text())["rows"]:
                rows.append({"method": method, "tree": kind if row["roi"] is None else row["roi"], **row})
    return rows


def grid(out: Path, snrs: list[float]) -> Path:
    from invertnet.data.captions import labelled_rows
    from invertnet.data.imageio import load_image, save_image

    def row(folder: Path) -> torch.Tensor:
        return torch.stack([torch.nn.functional.interpolate(load_image(folder / f"{name}.png")[None], size=(96, 96), mode="area")[0]
                            for name in PHOTOS])

    rows = [("true image", row(out / "true"))]
    for method, label in (("generator", "FG"), ("icnn", "iCNN")):
        rows.append((f"{label}, true features", row(out / "recon" / method / "true")))
        rows += [(f"{label}, SNR {snr:g}", row(out / "recon" / method / "decoded" / "sim" / f"snr{snr:g}")) for snr in snrs]
    picture = labelled_rows(rows, columns=list(PHOTOS), title="FG and iCNN, caffenet:random:0, a small relu7 generator (simulated decoding)")
    return save_image(picture, out / "decoded_photos.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/decoded"))
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--snrs", default="1,0.25")
    args = parser.parse_args()
    snrs = [float(v) for v in args.snrs.split(",")]
    run = train(args.out, args.steps)
    trees = write_trees(args.out, snrs)
    std = feature_std(args.out)
    seconds = reconstruct(args.out, run, trees, std, args.iterations)
    rows = score(args.out)
    print(f"{'method':10} {'features':10} {'pixel r':>8} {'ident. %':>9} {'img err %':>10} {'s/image':>8}")
    for row in rows:
        kind = "true" if row["tree"] == "true" else "decoded"
        print(f"{row['method']:10} {row['tree']:10} {row['pixel_correlation']:8.3f} {100 * row['identification_accuracy']:9.1f} "
              f"{100 * row['image_error_fraction']:10.1f} {seconds[row['method'] + '/' + kind]:8.2f}")
    print(grid(args.out, snrs))
    (args.out / "table.json").write_text(json.dumps({"rows": rows, "seconds_per_image": seconds}, indent=1))


if __name__ == "__main__":
    main()
