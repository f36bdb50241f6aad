"""Image-quality metrics beyond Table 2: PSNR, SSIM, MS-SSIM, and AlexNet class agreement.

Images are (N, 3, H, W) in [0, 1]; every function returns one value per image. SSIM and
MS-SSIM are Wang et al.'s (Gaussian window 11, sigma 1.5, K1 0.01, K2 0.03, five scales
with the published weights) from ``pytorch_msssim``, which computes them on each channel
and averages. Each metric is also an ``nn.Module`` for use inside models.
"""

from __future__ import annotations

import torch
from pytorch_msssim import ms_ssim as _ms_ssim
from pytorch_msssim import ssim as _ssim
from torch import nn


def psnr(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image, peak 1 ([0, 1] images)."""
    mse = (a.double() - b.double()).pow(2).flatten(1).mean(1)
    return (10 * torch.log10(1.0 / mse.clamp_min(eps))).float()


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Structural similarity per image (1 = identical)."""
    return _ssim(a.float(), b.float(), data_range=1.0, size_average=False)


def ms_ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Multi-scale structural similarity per image (1 = identical); needs sides over 160 pixels."""
    return _ms_ssim(a.float(), b.float(), data_range=1.0, size_average=False)


def class_agreement(logits_input: torch.Tensor, logits_recon: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image: does the reconstruction's top-1 class equal the input's, and is the input's top-1 in its top-5."""
    target = logits_input.argmax(1, keepdim=True)
    top5 = logits_recon.topk(5, dim=1).indices
    return (top5[:, :1] == target).squeeze(1), (top5 == target).any(1)


class PSNR(nn.Module):
    """:func:`psnr` as a module."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return psnr(a, b)


class SSIM(nn.Module):
    """:func:`ssim` as a module."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return ssim(a, b)


class MSSSIM(nn.Module):
    """:func:`ms_ssim` as a module."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return ms_ssim(a, b)
