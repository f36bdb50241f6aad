"""Scaling decoded features before reconstruction, exactly as the KamitaniLab's cookbook does.

Decoded features come out of a linear decoder shrunk towards the training mean: their spread is far
smaller than true features'. The cookbook (KamitaniLab/brain-decoding-cookbook-public,
``reconstruction/recon_fg_image.py`` and ``recon_icnn_image_vgg19_dgn_relu7gen_gd.py``) rescales them
with bdpy's ``normalize_feature(x, channel_wise_mean=False, channel_wise_std=False, shift="self",
scale=mean(SD), std_ddof=1)``:

- ``feature_std``: x' = (x - m) / s * S + m, where m is the mean of x over all its units, s the mean
  over channels of each channel's SD (ddof 1; for a vector, its SD), and S the mean of the per-channel
  SD of true features (``--feature-std``, one key per layer, NaN ignored);
- ``feature_std_train_mean_center``: the same around the decoder's training mean y (``--decoders``):
  x' = f(x - y) + y with f the first form.

Before either, NaN entries (units a decoder did not predict) are replaced by the training mean's, as
``recon_fg_image.py`` does. Arithmetic is float64, as bdpy's on the arrays the .mat files hold.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvertnetError

SCALINGS = ("none", "feature_std", "feature_std_train_mean_center")
STD_DDOF = 1


def normalize_feature(features: np.ndarray, scale: float) -> np.ndarray:
    """bdpy's ``normalize_feature`` with ``channel_wise_mean=False, channel_wise_std=False, channel_axis=0, shift='self', std_ddof=1``.

    ``features``: one image's features (C, H, W) or (D,), without the leading axis of 1.
    """
    x = np.asarray(features, dtype=np.float64)
    mean = x.mean()
    spread = x.std(ddof=STD_DDOF) if x.ndim == 1 else x.std(axis=tuple(range(1, x.ndim)), ddof=STD_DDOF).mean()
    if not np.isfinite(spread) or spread == 0:
        raise InvertnetError("the features are constant (their SD is 0): they cannot be scaled; use --feature-scaling none")
    return (x - mean) / spread * scale + mean


def fill_nan(features: np.ndarray, train_mean: np.ndarray | None, where: str) -> np.ndarray:
    """``features`` with NaN entries replaced by ``train_mean``'s (``recon_fg_image.py``); NaN without a training mean is refused."""
    missing = np.isnan(features)
    if not missing.any():
        return features
    if train_mean is None:
        raise InvertnetError(
            f"{where}: {int(missing.sum()):,} NaN values; give --decoders DIR so they are replaced by the decoder's training mean (y_mean)"
        )
    filled = features.copy()
    filled[missing] = train_mean[missing]
    return filled


def check_scaling(scaling: str, has_feature_std: bool, has_train_mean: bool) -> None:
    """Refuse a scaling that is unknown or lacks what it needs: the true features' SD, and for the centred form the training mean."""
    if scaling not in SCALINGS:
        raise InvertnetError(f"unknown --feature-scaling {scaling!r}: choose one of {', '.join(SCALINGS)}")
    if scaling != "none" and not has_feature_std:
        raise InvertnetError(f"--feature-scaling {scaling} needs --feature-std FILE (the per-channel SD of true features, one key per layer)")
    if scaling == "feature_std_train_mean_center" and not has_train_mean:
        raise InvertnetError("--feature-scaling feature_std_train_mean_center needs --decoders DIR (the decoders' training means)")


def scale_features(features: np.ndarray, scaling: str, feature_std: np.ndarray | None = None, train_mean: np.ndarray | None = None) -> np.ndarray:
    """One image's features scaled by ``scaling`` (see the module), as float32.

    ``feature_std``: the layer's per-channel SD of true features (any shape; its NaN-ignoring mean is used);
    ``train_mean``: the decoder's training mean, the features' shape.
    """
    check_scaling(scaling, feature_std is not None, train_mean is not None)
    if scaling == "none":
        return np.asarray(features, dtype=np.float32)
    scale = float(np.nanmean(feature_std))
    if not np.isfinite(scale) or scale <= 0:
        raise InvertnetError(f"the feature SD's mean is {scale}: not a usable scale")
    if scaling == "feature_std":
        return normalize_feature(features, scale).astype(np.float32)
    centre = np.asarray(train_mean, dtype=np.float64)
    return (normalize_feature(np.asarray(features, dtype=np.float64) - centre, scale) + centre).astype(np.float32)
