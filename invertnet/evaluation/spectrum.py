"""Fine detail and periodic patterns in reconstructions, read from their power spectra.

The paper's claim for the adversarial term is sharper detail than the image loss's blurred
averages; an up-convolution's known failure is a lattice (a "checkerboard") laid over every
image. Both show in the spectrum, and both are measured against the inputs:

- **Sharpness**: the power of an image's luminance at spatial frequencies of at least
  :data:`HIGH_FREQUENCY` cycles per pixel (periods of 8 pixels and shorter), over the same power
  of its input: 1 (100%) = as much fine detail as the input, a blur far less, noise or a
  lattice more. Each image is mean-subtracted and multiplied by a 2-D Hann window before its
  FFT, so the image's borders add no detail of their own.
- **Periodicity**: over a test set, the frequency (at least :data:`LOWEST_FREQUENCY` cycles per
  pixel) where the reconstructions' mean power spectrum most exceeds the inputs', with the
  amplitude of the pattern it implies, in 8-bit levels. A **lattice** is such a peak at least
  :data:`LATTICE_EXCESS` times the inputs' power there and of at least one level: a pattern the
  inputs do not have, large enough to see. Averaging over the images keeps it: every
  reconstruction carries it at the same frequency.

Luminance is ITU-R BT.601's (0.299 R + 0.587 G + 0.114 B) of [0, 1] images.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

HIGH_FREQUENCY = 0.125
"""Cycles per pixel from which detail counts as fine: periods of 8 pixels and shorter (Nyquist is 0.5)."""
LOWEST_FREQUENCY = 0.05
"""Periodicity is looked for at periods of 20 pixels and shorter (coarser structure is the image's layout)."""
LATTICE_EXCESS = 10.0
LEVEL = 1 / 255
WINDOW_LEAKAGE = 2.25
"""A sinusoid on a frequency bin puts (1 + 2 * 1/4)^2 of its Hann-windowed power in the 3 x 3 bins around it."""


def _window(height: int, width: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    rows = torch.hann_window(height, periodic=False, dtype=dtype, device=device)
    columns = torch.hann_window(width, periodic=False, dtype=dtype, device=device)
    return rows[:, None] * columns[None]


def power_spectra(images: torch.Tensor) -> torch.Tensor:
    """Per image (N, 3, H, W in [0, 1]): the power of its windowed, mean-subtracted luminance, (N, H, W // 2 + 1), float64."""
    y = (0.299 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2]).double()
    y = y - y.mean((1, 2), keepdim=True)
    window = _window(*y.shape[-2:], y.dtype, y.device)
    return torch.fft.rfft2(y * window).abs().pow(2)


def frequencies(height: int, width: int, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(radius, vertical, horizontal) frequency of each bin of :func:`power_spectra`, in cycles per pixel."""
    fy = torch.fft.fftfreq(height, dtype=torch.float64, device=device)[:, None].expand(height, width // 2 + 1)
    fx = torch.fft.rfftfreq(width, dtype=torch.float64, device=device)[None].expand(height, width // 2 + 1)
    return (fy.pow(2) + fx.pow(2)).sqrt(), fy, fx


def high_frequency_power(spectra: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Per image: the power at :data:`HIGH_FREQUENCY` cycles per pixel and above (``size``: the images' (H, W))."""
    radius = frequencies(*size, spectra.device)[0]
    return spectra[:, radius >= HIGH_FREQUENCY].sum(1)


def sharpness(reconstructions: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """Per image: its fine detail over its input's (1 = as much; see the module docstring)."""
    size = (inputs.shape[-2], inputs.shape[-1])
    ours, theirs = high_frequency_power(power_spectra(reconstructions), size), high_frequency_power(power_spectra(inputs), size)
    return ours / theirs.clamp_min(1e-30)


@dataclass(frozen=True)
class Periodicity:
    """The strongest pattern the reconstructions have and their inputs do not (see the module docstring)."""

    frequency: tuple[float, float]  # (vertical, horizontal) cycles per pixel
    period_px: float  # 1 / |frequency|
    excess: float  # the reconstructions' mean power there over the inputs'
    amplitude_levels: float  # the implied sinusoid's amplitude, in 8-bit levels
    lattice: bool  # excess >= LATTICE_EXCESS and amplitude >= 1 level

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "frequency": list(self.frequency)}


def periodicity(reconstructions: torch.Tensor, inputs: torch.Tensor, size: tuple[int, int]) -> Periodicity:
    """The periodicity of a set of reconstructions from the mean power spectra of them and of their inputs (each (H, W // 2 + 1)),
    images of ``size`` (H, W)."""
    height, width = size
    radius, fy, fx = frequencies(height, width, reconstructions.device)
    excess = torch.where(radius >= LOWEST_FREQUENCY, reconstructions / inputs.clamp_min(1e-30), torch.full_like(radius, -1.0))
    index = int(excess.flatten().argmax())
    row, column = divmod(index, excess.shape[1])
    around = _neighbourhood_power(reconstructions, row, column)
    window_sum = float(_window(height, width, torch.float64, reconstructions.device).sum())
    amplitude = _halves(height, width, row, column) * math.sqrt(around / WINDOW_LEAKAGE) / window_sum / LEVEL
    ratio = float(excess[row, column])
    return Periodicity(
        (float(fy[row, column]), float(fx[row, column])), 1 / float(radius[row, column]), ratio, amplitude,
        ratio >= LATTICE_EXCESS and amplitude >= 1.0,
    )


def _halves(height: int, width: int, row: int, column: int) -> float:
    """How a real sinusoid's amplitude relates to the power around its bin: 2 sqrt(P) / sum(window) in general, but its two
    (conjugate) halves fold onto one bin at Nyquist (even sides: a factor 1), and onto the same last bins beside it (odd sides:
    their powers add, a factor sqrt 2)."""
    edge_row = row in (height // 2, (height + 1) // 2)  # the highest frequencies the vertical axis holds (two rows when odd)
    edge_column = column == width // 2
    if (edge_row and height % 2 == 0) or (edge_column and width % 2 == 0):
        return 1.0
    if (edge_row and height % 2 == 1) or (edge_column and width % 2 == 1):
        return math.sqrt(2.0)
    return 2.0


def _neighbourhood_power(spectrum: torch.Tensor, row: int, column: int) -> float:
    """The power in the 3 x 3 bins around (row, column): rows wrap round (negative frequencies); the column left of
    column 0, which a real FFT does not store, is its mirror (the power at (-r, -1) is the power at (r, 1))."""
    height = spectrum.shape[0]
    rows = [(row + step) % height for step in (-1, 0, 1)]
    columns = [c for c in (column - 1, column, column + 1) if 0 <= c < spectrum.shape[1]]
    power = float(spectrum[rows][:, columns].sum())
    if column == 0 and spectrum.shape[1] > 1:
        power += float(spectrum[[(-r) % height for r in rows], 1].sum())
    return power
