"""Sharpness and periodicity, on images whose answers are known: blur, noise, and a sinusoid of known amplitude."""

import math

import pytest
import torch
import torch.nn.functional as F

from invertnet.evaluation.spectrum import HIGH_FREQUENCY, frequencies, periodicity, power_spectra, sharpness


def _images(count: int = 8, size: int = 224, seed: int = 0) -> torch.Tensor:
    """Blocky random images: sharp edges, like the dead-leaves set."""
    small = torch.rand(count, 3, size // 16, size // 16, generator=torch.Generator().manual_seed(seed))
    return F.interpolate(small, size=(size, size), mode="nearest")


def test_an_image_has_all_of_its_own_detail_a_blur_less_and_noise_more():
    images = _images()
    torch.testing.assert_close(sharpness(images, images), torch.ones(8, dtype=torch.float64))
    blurred = F.avg_pool2d(images, 9, stride=1, padding=4, count_include_pad=False)
    noisy = (images + 0.2 * torch.randn(images.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    assert (sharpness(blurred, images) < 0.1).all() and (sharpness(noisy, images) > 2).all()
    assert (sharpness(torch.full_like(images, 0.5), images) == 0).all()  # a flat image has no detail at all


def test_detail_is_counted_from_the_stated_frequency():
    """A grating below the cut-off adds nothing to the fine-detail power; one above it adds all of its power."""
    size = 224
    x = torch.arange(size, dtype=torch.float64)
    for period, counted in ((16, False), (4, True)):
        grating = (0.5 + 0.25 * torch.cos(2 * math.pi * x / period)).float().expand(1, 3, size, size).clone()
        radius = frequencies(size, size)[0]
        share = power_spectra(grating)[0][radius >= HIGH_FREQUENCY].sum() / power_spectra(grating)[0].sum()
        assert (share > 0.99) if counted else (share < 0.01)


def _with_pattern(size: int, period: float, direction: str, levels: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs, and blurred copies of them with a sinusoid of ``levels`` 8-bit levels along ``direction`` (x, y or xy) added."""
    inputs = _images(size=size)
    x = torch.arange(size, dtype=torch.float32)
    phase = {"x": x[None, :].expand(size, size), "y": x[:, None].expand(size, size), "xy": x[:, None] + x[None, :]}[direction]
    blurred = F.avg_pool2d(inputs, 5, stride=1, padding=2, count_include_pad=False)
    return inputs, blurred + levels / 255 * torch.cos(2 * math.pi * phase / period)


@pytest.mark.parametrize("period, direction", [(2, "x"), (2, "y"), (4, "x"), (4, "y"), (4, "xy"), (2, "xy")])
def test_a_lattice_is_found_with_its_period_and_amplitude(period, direction):
    """On a bin (224 = 56 x 4), the amplitude comes back within 10%: the Hann window's leakage is summed over 3 x 3 bins,
    the conjugate halves that fold onto one bin at Nyquist are counted once."""
    inputs, reconstructions = _with_pattern(224, period, direction, 8)
    found = periodicity(power_spectra(reconstructions).mean(0), power_spectra(inputs).mean(0), (224, 224))
    expected = 1 / period if direction != "xy" else math.sqrt(2) / period
    assert found.lattice and found.excess > 10
    assert math.hypot(*found.frequency) == pytest.approx(expected, abs=1 / 224) and found.period_px == pytest.approx(1 / expected, rel=0.02)
    assert found.amplitude_levels == pytest.approx(8, rel=0.1)


@pytest.mark.parametrize("period", [2, 4])
def test_caffenets_odd_size_too(period):
    """227 has no Nyquist bin: the amplitude is at most sqrt 2 high next to it (the halves meet there), exact elsewhere within 10%."""
    inputs, reconstructions = _with_pattern(227, period, "x", 8)
    found = periodicity(power_spectra(reconstructions).mean(0), power_spectra(inputs).mean(0), (227, 227))
    assert found.lattice and found.period_px == pytest.approx(period, rel=0.02)
    assert 8 * 0.9 <= found.amplitude_levels <= 8 * math.sqrt(2) * 1.1


def test_a_faint_pattern_is_no_lattice():
    inputs, reconstructions = _with_pattern(224, 2, "x", 0.3)
    found = periodicity(power_spectra(reconstructions).mean(0), power_spectra(inputs).mean(0), (224, 224))
    assert found.amplitude_levels < 1 and not found.lattice


def test_inputs_own_patterns_are_not_a_lattice():
    inputs = _images()
    x = torch.arange(224, dtype=torch.float32)
    striped = (inputs + 0.05 * torch.cos(math.pi * x)[None, :]).clamp(0, 1)  # the inputs have the pattern themselves
    found = periodicity(power_spectra(striped).mean(0), power_spectra(striped).mean(0), (224, 224))
    assert found.excess == pytest.approx(1.0) and not found.lattice
