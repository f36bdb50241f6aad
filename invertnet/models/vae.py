"""The DeePSiM variational autoencoder (NIPS 2016, section 4.2).

Encoder: the encoder network (torchvision's AlexNet or CaffeNet) up to fc6, rectified as in
the inversion taps, trained along with the rest; it starts from the ``--encoder`` weights (the
paper: AlexNet's when AlexNet is the comparator, random for its VideoNet comparator, i.e.
``--encoder random:SEED`` here). Two linear heads map fc6 to mu and to log sigma^2 (4096
each). z = mu + sigma * eps with eps ~ N(0, I); the decoder is Table 1's fc6 generator, so it
outputs the encoder's input crop in 0-255 units. Sampling: z ~ N(0, I) through the decoder.

The paper's heads predict sigma; predicting log sigma^2 is the same model (sigma = exp(h / 2))
and keeps sigma positive without a constraint. The copy of the encoder stays in eval mode
(no dropout before fc6), as the frozen one does.
"""

from __future__ import annotations

import torch
from torch import nn

from ..encoders import Encoder
from ..names import FC_WIDTH
from .generator import Generator

FEATURES = 4096
"""fc6's width: what the heads take."""
LATENT_LAYER = "fc6"
LOGVAR_RANGE = (-30.0, 20.0)
"""log sigma^2 is clamped here so that exp never overflows (sigma from 3e-7 to 2e4)."""


class VAE(nn.Module):
    """Enc(x) -> (mu, log sigma^2); Dec(z) -> image (N, 3, S, S) in 0-255 units."""

    def __init__(self, encoder: Encoder, tail_bias: bool = False, latent: int = FC_WIDTH) -> None:
        """``encoder``: the network whose layers up to fc6 become the VAE's encoder (copied, then trained); ``tail_bias``: the decoder's
        (see :class:`Generator`); ``latent``: the code's size and the decoder's width (4096 in the paper; smaller for quick runs)."""
        super().__init__()
        self.encoder = encoder.up_to(LATENT_LAYER)
        self.latent = latent
        self.mu = nn.Linear(FEATURES, latent)
        self.logvar = nn.Linear(FEATURES, latent)
        nn.init.normal_(self.logvar.weight, 0.0, 1e-3)  # sigma starts near 1, the prior's
        nn.init.zeros_(self.logvar.bias)
        self.decoder = Generator(
            LATENT_LAYER, mean=encoder.generator_mean, size=encoder.input_size, tail_bias=tail_bias, width=latent, in_features=latent
        )
        self.layer, self.size = LATENT_LAYER, encoder.input_size

    def encode_distribution(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, log sigma^2) of q(z|x) for ``images`` (N, 3, S, S) in [0, 1]."""
        hidden = self.encoder(images, LATENT_LAYER)
        return self.mu(hidden), self.logvar(hidden).clamp(*LOGVAR_RANGE)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """The code of ``images``: the mean of q(z|x) (what inversion, re-encoding and interpolation use)."""
        return self.encode_distribution(images)[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images (N, 3, S, S) in 0-255 units from latent vectors (N, latent)."""
        return self.decoder(z)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One training pass: (Dec(mu + sigma * eps), mu, log sigma^2), eps drawn from torch's generator."""
        mu, logvar = self.encode_distribution(images)
        z = reparameterize(mu, logvar, torch.randn_like(mu))
        return self.decode(z), mu, logvar

    def prior(self, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``count`` latent vectors z ~ N(0, I), drawn on the CPU with ``generator`` (the same numbers on every device)."""
        return torch.randn(count, self.latent, generator=generator).to(self.mu.weight.device)

    @torch.no_grad()
    def sample(self, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``count`` images from the prior (0-255 units)."""
        return self.decode(self.prior(count, generator))


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """z = mu + sigma * eps with sigma = exp(log sigma^2 / 2): differentiable in mu and sigma."""
    return mu + torch.exp(0.5 * logvar) * eps
