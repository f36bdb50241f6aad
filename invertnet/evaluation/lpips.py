"""LPIPS (Zhang et al., CVPR 2018), AlexNet variant, with the backbone from invertnet's AlexNet loading.

    d(x, y) = sum_l mean_hw || w_l * (f_l(x) / |f_l(x)| - f_l(y) / |f_l(y)|) ||^2

over the five ReLU outputs of AlexNet's convolutions, each unit-normalised along channels
and weighted per channel by the learned linear layers ``w_l`` of LPIPS v0.1. The inputs are
scaled to [-1, 1], then shifted and scaled as LPIPS does. The linear weights are read from
the ``lpips`` package (``pip install invertnet[lpips]``); the backbone must be torchvision's
ImageNet AlexNet, the one LPIPS was calibrated with. When either is missing, :func:`load_lpips`
says why instead of failing, so evaluation can report the metric as unavailable.
"""

from __future__ import annotations

import os
from importlib import resources

import torch
from torch import nn

from ..encoders.alexnet import AlexNet, hub_checkpoint_path, load_alexnet
from ..errors import InvertnetError
from ..files.guarded import open_input
from ..files.state import checked_state

RELU_INDICES = (1, 4, 7, 9, 11)  # ReLU after conv1..conv5 in torchvision's AlexNet.features
CHANNELS = (64, 192, 384, 256, 256)
MAX_LINEAR_BYTES = 1 << 20
"""LPIPS's AlexNet linear weights are 1,152 floats (about 6 KB as a .pth file)."""
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)


def lpips_weights_path() -> str:
    """The LPIPS v0.1 AlexNet linear weights shipped inside the ``lpips`` package."""
    try:
        path = resources.files("lpips") / "weights" / "v0.1" / "alex.pth"
    except ModuleNotFoundError as error:
        raise InvertnetError("LPIPS needs the lpips package for its linear weights: pip install 'invertnet[lpips]'") from error
    if not path.is_file():
        raise InvertnetError(f"the lpips package has no {path}")
    return str(path)


class LPIPS(nn.Module):
    """Perceptual distance per image pair; images (N, 3, H, W) in [0, 1]."""

    def __init__(self, backbone: AlexNet, weights_path: str | None = None) -> None:
        super().__init__()
        self.features = backbone.features[: RELU_INDICES[-1] + 1]
        path = weights_path or lpips_weights_path()
        with open_input(path, "LPIPS's linear weights", max_bytes=MAX_LINEAR_BYTES) as handle:
            try:
                state = torch.load(handle, map_location="cpu", weights_only=True)
            except Exception as error:  # any parse failure of a file is an input error
                raise InvertnetError(f"cannot read LPIPS's linear weights from {path}: {error}") from None
        expected = {f"lin{k}.model.1.weight": torch.empty(1, c, 1, 1) for k, c in enumerate(CHANNELS)}
        if not isinstance(state, dict):
            raise InvertnetError(f"{path} does not hold LPIPS's linear weights (a dict of tensors)")
        state = checked_state(state, expected, f"LPIPS's linear weights in {path}", "LPIPS v0.1's AlexNet layers")
        self.linear = nn.ParameterList([nn.Parameter(state[key], requires_grad=False) for key in expected])
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1), persistent=False)
        self.identity = backbone.identity
        self.to(backbone.device).eval()

    def _taps(self, images: torch.Tensor) -> list[torch.Tensor]:
        x = ((2 * images - 1) - self.shift) / self.scale
        taps = []
        for index, module in enumerate(self.features):
            x = module(x)
            if index in RELU_INDICES:
                taps.append(x / (x.pow(2).sum(1, keepdim=True).sqrt() + 1e-10))
        return taps

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        total = a.new_zeros(a.shape[0])
        for weight, fa, fb in zip(self.linear, self._taps(a), self._taps(b)):
            total = total + ((fa - fb).pow(2) * weight).sum(1).mean((1, 2))
        return total


def load_lpips(device: torch.device | str = "cpu") -> tuple[LPIPS | None, str]:
    """LPIPS with torchvision's ImageNet AlexNet, or ``(None, reason)`` when it cannot be had.

    The reason names the one file that would enable it (LPIPS was calibrated on that network:
    another ``--encoder`` would not do), and why the one there, if any, is not usable.
    """
    path = hub_checkpoint_path()
    try:
        return LPIPS(load_alexnet("imagenet", device=device)), ""
    except InvertnetError as error:
        state = "absent" if not os.path.lexists(path) else f"not usable: {error}"
        return None, f"it needs torchvision's ImageNet AlexNet, {path} ({state}; the folder follows TORCH_HOME)"
