"""The cookbook's feature scaling, against bdpy's normalize_feature and the FG script's own arithmetic."""

from __future__ import annotations

import numpy as np
import pytest

from invertnet.decoded.scaling import fill_nan, normalize_feature, scale_features
from invertnet.errors import InvertnetError

bdpy_feature = pytest.importorskip("bdpy.feature")


@pytest.mark.parametrize("shape", [(64,), (8, 3, 3)])
def test_normalize_feature_is_bdpys(shape):
    x = np.random.default_rng(0).gamma(2.0, size=shape).astype(np.float32)
    theirs = bdpy_feature.normalize_feature(x, channel_wise_mean=False, channel_wise_std=False, channel_axis=0, shift="self", scale=3.5, std_ddof=1)
    # bdpy's mean and SD of float32 are float32: each value off by a few float32 ulps of the largest
    np.testing.assert_allclose(normalize_feature(x, 3.5), theirs, rtol=0, atol=1e-6 * np.abs(theirs).max())
    by_hand = x.astype(np.float64)
    spread = by_hand.std(ddof=1) if x.ndim == 1 else by_hand.reshape(shape[0], -1).std(axis=1, ddof=1).mean()
    np.testing.assert_allclose(normalize_feature(x, 3.5), (by_hand - by_hand.mean()) / spread * 3.5 + by_hand.mean(), rtol=1e-12)


def test_both_scalings_and_the_nan_fill_are_the_fg_scripts():
    """recon_fg_image.py (KamitaniLab cookbook at 8c16327), its decoded branch, on the same arrays."""
    rng = np.random.default_rng(1)
    feature = rng.normal(size=(1, 4, 3, 3)).astype(np.float32)
    feature[0, 1, 2, 2] = np.nan
    train_mean = rng.normal(size=(1, 4, 3, 3))
    sd = np.abs(rng.normal(size=(1, 4))) + 0.5
    sd[0, 3] = np.nan
    script = feature.copy()
    script[np.isnan(script)] = train_mean[np.isnan(script)]
    filled = fill_nan(feature[0], train_mean[0], "f.mat")
    assert np.array_equal(filled, script[0]) and not np.isnan(filled).any()
    stds = bdpy_feature.normalize_feature(script[0], channel_wise_mean=False, channel_wise_std=False, channel_axis=0, shift="self",
                                          scale=np.nanmean(sd), std_ddof=1)
    np.testing.assert_allclose(scale_features(filled, "feature_std", sd), stds.astype(np.float32), rtol=0, atol=1e-6 * np.abs(stds).max())
    centred = script - train_mean
    centred = bdpy_feature.normalize_feature(centred[0], channel_wise_mean=False, channel_wise_std=False, channel_axis=0, shift="self",
                                             scale=np.nanmean(sd), std_ddof=1)[np.newaxis] + train_mean
    np.testing.assert_allclose(scale_features(filled, "feature_std_train_mean_center", sd, train_mean[0]), centred[0].astype(np.float32),
                               rtol=0, atol=1e-6 * np.abs(centred).max())
    assert np.array_equal(scale_features(filled, "none"), filled)


def test_what_cannot_be_scaled_is_refused():
    with pytest.raises(InvertnetError, match="give --decoders DIR"):
        fill_nan(np.array([1.0, np.nan]), None, "x.mat")
    with pytest.raises(InvertnetError, match="constant"):
        scale_features(np.ones(5), "feature_std", np.ones(5))
    with pytest.raises(InvertnetError, match="needs --feature-std"):
        scale_features(np.arange(5.0), "feature_std")
    with pytest.raises(InvertnetError, match="needs --decoders"):
        scale_features(np.arange(5.0), "feature_std_train_mean_center", np.ones(5))
