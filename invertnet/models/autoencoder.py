"""The DeePSiM autoencoder (arXiv v1, section 4.1 there).

What the v1 text fixes: a convolutional encoder to a hidden feature map of 8 channels, 8 times
smaller than the input; an up-convolutional decoder; trained with the DeePSiM loss on random
64x64 crops of 96x96 unlabeled images (STL-10). Its layer table is not in the text we have,
so the layers are ours, in the style of Table 1 (leaky ReLU 0.3, stride-2 4x4 up-convolutions,
He init):

    encoder  conv 5x5/2 3->64, conv 5x5/2 64->128, conv 3x3/2 128->256, conv 3x3/1 256->8 (linear)
    decoder  conv 3x3 8->256, up 4x4/2 256->128, conv 3x3 128->128, up 4x4/2 128->64,
             conv 3x3 64->64, up 4x4/2 64->3 (linear)

A 64x64 crop becomes an 8x8x8 code (512 numbers, 1/24 of the input's). The network is fully
convolutional: other sizes (the encoders' 224 or 227 crops, in ``invert`` and ``eval``) are
padded at the bottom right to a multiple of 8 by repeating the edge, and the output is cropped
back. Images enter as [0, 1] RGB minus the encoder's mean colour and leave in 0-255 units with
that mean added, as the inversion generators' do.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .generator import SLOPE, _he_init

CODE_CHANNELS = 8
REDUCTION = 8
CODE_LAYER = "code"
"""What an autoencoder checkpoint names as its layer: its own hidden code, not an encoder layer."""


def _act() -> nn.LeakyReLU:
    return nn.LeakyReLU(SLOPE)


class Autoencoder(nn.Module):
    """x -> 8-channel code at 1/8 resolution -> x, images in [0, 1] in and 0-255 out."""

    def __init__(self, mean: tuple[float, ...]) -> None:
        """``mean``: the RGB mean (0-255) of the encoder the loss compares with, removed at the input and added at the output."""
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(3, 64, 5, stride=2, padding=2), _act(),
            nn.Conv2d(64, 128, 5, stride=2, padding=2), _act(),
            nn.Conv2d(128, 256, 3, stride=2, padding=1), _act(),
            nn.Conv2d(256, CODE_CHANNELS, 3, padding=1),
        )
        self.decoder = nn.Sequential(
            nn.Conv2d(CODE_CHANNELS, 256, 3, padding=1), _act(),
            nn.ConvTranspose2d(256, 128, 4, stride=2, padding=1, bias=False), _act(),
            nn.Conv2d(128, 128, 3, padding=1), _act(),
            nn.ConvTranspose2d(128, 64, 4, stride=2, padding=1, bias=False), _act(),
            nn.Conv2d(64, 64, 3, padding=1), _act(),
            nn.ConvTranspose2d(64, 3, 4, stride=2, padding=1, bias=False),
        )
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.layer = CODE_LAYER
        self.apply(_he_init)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """The code (N, 8, ceil(H/8), ceil(W/8)) of ``images`` (N, 3, H, W) in [0, 1]."""
        height, width = images.shape[-2:]
        pad = (-width % REDUCTION, -height % REDUCTION)
        x = images - self.mean / 255.0
        if any(pad):
            x = F.pad(x, (0, pad[0], 0, pad[1]), mode="replicate")
        return self.encoder(x)

    def decode(self, code: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        """Images in 0-255 units from codes, cropped to ``size`` (H, W) if given."""
        images = self.decoder(code) + self.mean
        return images if size is None else images[..., : size[0], : size[1]]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The reconstruction of ``images`` at their own size, 0-255 units."""
        return self.decode(self.encode(images), tuple(images.shape[-2:]))
