import math

import pytest
import torch
import torch.nn.functional as F

from invertnet.evaluation.quality import MSSSIM, PSNR, SSIM, class_agreement, ms_ssim, psnr, ssim


def _reference_ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Wang et al. (2004) written out: Gaussian window 11, sigma 1.5, valid positions, per channel, then averaged."""
    coords = torch.arange(11, dtype=torch.float64) - 5
    g = torch.exp(-(coords**2) / (2 * 1.5**2))
    window = (g / g.sum()).outer(g / g.sum())[None, None]
    c1, c2 = (0.01 * 1) ** 2, (0.03 * 1) ** 2
    values = []
    for channel in range(a.shape[1]):
        x, y = a[:, channel : channel + 1].double(), b[:, channel : channel + 1].double()
        mx, my = F.conv2d(x, window), F.conv2d(y, window)
        sxx = F.conv2d(x * x, window) - mx**2
        syy = F.conv2d(y * y, window) - my**2
        sxy = F.conv2d(x * y, window) - mx * my
        s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))
        values.append(s.flatten(1).mean(1))
    return torch.stack(values, 1).mean(1)


def test_psnr_by_hand():
    a = torch.zeros(1, 3, 4, 4)
    b = torch.full((1, 3, 4, 4), 0.1)  # MSE 0.01 -> 20 dB
    assert psnr(a, b).item() == pytest.approx(20.0, abs=1e-4)
    assert PSNR()(a, b).item() == pytest.approx(20.0, abs=1e-4)


def test_ssim_matches_the_published_formula():
    torch.manual_seed(0)
    a = torch.rand(2, 3, 32, 32)
    b = (a + 0.1 * torch.randn_like(a)).clamp(0, 1)
    assert torch.allclose(ssim(a, b).double(), _reference_ssim(a, b), atol=1e-5)
    assert torch.allclose(SSIM()(a, a), torch.ones(2), atol=1e-6)


def test_ms_ssim_properties():
    torch.manual_seed(0)
    a = torch.rand(2, 3, 224, 224)
    noisy = (a + 0.2 * torch.randn_like(a)).clamp(0, 1)
    slightly = (a + 0.02 * torch.randn_like(a)).clamp(0, 1)
    assert torch.allclose(ms_ssim(a, a), torch.ones(2), atol=1e-5)
    assert (ms_ssim(a, noisy) < MSSSIM()(a, slightly)).all()
    # its finest scale's contrast-structure term is bounded by single-scale SSIM's behaviour: both fall with noise
    assert (ssim(a, noisy) < ssim(a, slightly)).all()


def test_class_agreement():
    inputs = torch.tensor([[0.0, 5.0, 1.0, 0.0, 0.0, 0.0], [9.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    recon = torch.tensor([[0.0, 5.0, 1.0, 0.0, 0.0, 0.0], [0.0, 9.0, 8.0, 7.0, 6.0, 5.0]])
    top1, top5 = class_agreement(inputs, recon)
    assert top1.tolist() == [True, False]
    assert top5.tolist() == [True, False]  # class 0 is the recon's sixth choice
    assert not math.isnan(float(top1.float().mean()))
