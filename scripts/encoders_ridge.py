"""How much of the image a layer's features carry, without a generator: ridge regression from features to 32x32 images.

    python3 scripts/encoders_ridge.py      # docs/results.md, "Other encoders" (a few minutes on 2 cores, offline)

Features of 600 synthetic training images, z-scored per dimension, then kernel ridge regression (the best of six
weights, chosen on the test images themselves: an upper bound for a linear decoder) to the images shrunk to 32x32,
measured on 32 held-out images as Table 2 measures: the mean distance to the input over the mean distance between
two test images.
"""
import torch
import torch.nn.functional as F

from invertnet.data.datasets import DeadLeaves, eval_crop
from invertnet.encoders import load_encoder

torch.set_num_threads(2)
train, val = DeadLeaves("train"), DeadLeaves("val")
xt = torch.stack([eval_crop(train.load(i), 224) for i in range(600)])
xv = torch.stack([eval_crop(val.load(i), 224) for i in range(32)])
small = lambda x: F.interpolate(x, size=(32, 32), mode="area").flatten(1).double()
yt, yv = small(xt), small(xv)
base = ((yv - yt.mean(0)).norm(dim=1).mean() / torch.cdist(yv, yv).sum() * 32 * 31).item()
print(f"mean image: {100 * base:.1f}% of the mean distance between two test images (32x32)")
for spec, layer in [("random:0", "conv5"), ("resnet50:random:0", "layer4"), ("resnet50:random:0", "avgpool"), ("vgg16:random:0", "pool5"), ("vit_b_16:random:0", "block12")]:
    e = load_encoder(spec)
    with torch.no_grad():
        ft = torch.cat([e(c, layer).flatten(1) for c in xt.split(50)]).double()
        fv = e(xv, layer).flatten(1).double()
    mu, sd = ft.mean(0), ft.std(0) + 1e-8
    ft, fv = (ft - mu) / sd, (fv - mu) / sd
    best = None
    for lam in (1e0, 1e1, 1e2, 1e3, 1e4, 1e5):
        alpha = torch.linalg.solve(ft @ ft.T + lam * torch.eye(len(ft), dtype=torch.float64), yt - yt.mean(0))
        pred = fv @ ft.T @ alpha + yt.mean(0)
        err = ((pred - yv).norm(dim=1).mean() / torch.cdist(yv, yv).sum() * 32 * 31).item()
        best = min(best or (9, 0), (err, lam))
    print(f"{spec} {layer}: ridge from features {100 * best[0]:.1f}% (lambda {best[1]:g})")
