"""The batch painter of dead-leaves images against a shape-by-shape reference."""

import torch
from torchvision.transforms.v2 import functional as TF

from invertnet.data.deadleaves import draw_shapes, paint


def _paint_shape_by_shape(shapes, size):
    """The brute-force reference: every shape tested on every pixel, painted in order."""
    centre = torch.arange(size, dtype=torch.float32) + 0.5
    canvas = shapes.colors[0].view(3, 1, 1).expand(3, size, size).clone()
    for k in range(len(shapes.radii)):
        dy = (centre - shapes.centers[k, 0].float()).view(-1, 1)
        dx = (centre - shapes.centers[k, 1].float()).view(1, -1)
        if shapes.discs[k]:
            mask = dy**2 + dx**2 <= (shapes.radii[k] ** 2).float()
        else:
            mask = (dy.abs() <= shapes.half_sizes[k, 0].float()) & (dx.abs() <= shapes.half_sizes[k, 1].float())
        canvas[:, mask] = shapes.colors[k + 1].view(3, 1)
    return TF.gaussian_blur(canvas[None], kernel_size=[5, 5], sigma=[0.8, 0.8])[0].clamp(0, 1)


def test_dead_leaves_painter_matches_shape_by_shape_painting():
    images = [draw_shapes(seed, 96, 60) for seed in range(6)]
    painted = paint(images, 96)
    assert painted.shape == (6, 3, 96, 96)
    for shapes, image in zip(images, painted):
        assert torch.equal(image, _paint_shape_by_shape(shapes, 96))

