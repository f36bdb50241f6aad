"""Dead-leaves images, painted a batch at a time on any device.

Each image is a seeded list of shapes (discs and axis-aligned rectangles, radii with
density ~ r^-3 between 3 px and size/2.5: scale invariance) dropped one over the other on a
background, then softened by a small Gaussian blur: occlusions, sharp edges and a roughly
1/f^2 power spectrum, like natural images. The shapes are drawn on the CPU from a generator
seeded by the image's number, so image ``k`` is always the same; the painting runs on the
device that asked, so the training loop can make its synthetic batches on the GPU.

Painting enumerates the pixels inside each shape's bounding box (shapes are mostly small,
so that is about 10^5 candidates per 256x256 image, not 500 x 65,536), tests them against
the shape in float32, and keeps, for every pixel, the last shape that covers it
(``scatter_reduce`` with ``amax`` over the shapes' order).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torchvision.transforms.v2 import functional as TF


@dataclass(frozen=True)
class Shapes:
    """The shapes of one image, in painting order (float64 geometry, as drawn)."""

    centers: torch.Tensor  # (count, 2): y, x
    half_sizes: torch.Tensor  # (count, 2): half height, half width (both the radius for a disc)
    radii: torch.Tensor  # (count,)
    discs: torch.Tensor  # (count,) bool
    colors: torch.Tensor  # (count + 1, 3): row 0 is the background


def draw_shapes(seed: int, size: int, count: int) -> Shapes:
    """The shapes of the image seeded by ``seed``, on the CPU (a few microseconds each)."""
    generator = torch.Generator().manual_seed(seed)
    r_min, r_max = 3.0, size / 2.5
    u = torch.rand(count, generator=generator, dtype=torch.float64)
    radii = (r_min**-2 - u * (r_min**-2 - r_max**-2)) ** -0.5  # inverse CDF of the r^-3 density
    centers = torch.rand(count, 2, generator=generator, dtype=torch.float64) * (size + r_max) - r_max / 2
    colors = torch.rand(count + 1, 3, 1, generator=generator) ** 1.2
    discs = torch.rand(count, generator=generator) < 0.5
    aspects = 0.5 + torch.rand(count, generator=generator, dtype=torch.float64)
    half_sizes = torch.where(discs[:, None], radii[:, None], torch.stack([radii * aspects, radii / aspects], 1))
    return Shapes(centers, half_sizes, radii, discs, colors[:, :, 0])


def paint(images: list[Shapes], size: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """The images (N, 3, size, size) in [0, 1] on ``device``."""
    device = torch.device(device)
    count = len(images[0].radii)
    centers = torch.cat([s.centers for s in images]).to(device)
    half = torch.cat([s.half_sizes for s in images]).to(device)
    radii = torch.cat([s.radii for s in images]).to(device)
    discs = torch.cat([s.discs for s in images]).to(device)
    colors = torch.stack([s.colors for s in images]).to(device)  # (N, count + 1, 3)

    # bounding boxes, clipped to the image (truncation toward zero, as int() does)
    low = (centers - half).trunc().clamp(0, size).long()
    high = ((centers + half).trunc() + 1).clamp(0, size).long()
    extent = (high - low).clamp(min=0)  # (S, 2): rows, columns
    areas = extent[:, 0] * extent[:, 1]
    shape = torch.repeat_interleave(torch.arange(len(areas), device=device), areas)
    offset = torch.arange(len(shape), device=device) - torch.repeat_interleave(areas.cumsum(0) - areas, areas)
    width = extent[shape, 1]
    y = low[shape, 0] + offset // width
    x = low[shape, 1] + offset % width

    # inside the shape? (pixel centres, float32)
    dy = (y.float() + 0.5) - centers[shape, 0].float()
    dx = (x.float() + 0.5) - centers[shape, 1].float()
    in_disc = dy**2 + dx**2 <= (radii * radii).float()[shape]
    in_rect = (dy.abs() <= half[shape, 0].float()) & (dx.abs() <= half[shape, 1].float())
    inside = torch.where(discs[shape], in_disc, in_rect)

    # the last shape over each pixel wins; -1 leaves the background
    image_of = shape // count
    pixel = (image_of * size + y) * size + x
    top = torch.full((len(images) * size * size,), -1, dtype=torch.long, device=device)
    top.scatter_reduce_(0, pixel[inside], (shape % count)[inside], reduce="amax")
    top = top.view(len(images), size * size) + 1  # 0 is the background
    canvas = torch.gather(colors, 1, top[:, :, None].expand(-1, -1, 3))  # (N, size*size, 3)
    canvas = canvas.transpose(1, 2).reshape(len(images), 3, size, size)
    return TF.gaussian_blur(canvas, kernel_size=[5, 5], sigma=[0.8, 0.8]).clamp(0, 1)
