"""The generator a feature tree's reconstruction runs: the KamitaniLab's torch files as they are, or any invertnet generator.

``--weights`` may name:

- bdpy's ``AlexNetGenerator`` (relu6, relu7) or ``AlexNetPool5Generator`` (pool5) state dict, a ``.pt``/``.pth``
  file as ``torch.save`` wrote it (read without unpickling code) or ``.safetensors`` without invertnet's
  metadata: the lab's generators for CaffeNet (``generator_relu7.pt``). The file does not say its layer:
  the tree's ``--layer`` does (:func:`invertnet.treenames.generator_layer`). Every tensor is used,
  biases included (:func:`invertnet.weights.upconvgan.generator_from_upconvgan` with ``biases=True``);
- an invertnet generator file, run folder or ``deepsim:NAME``: its layer must be the tree's layer
  (translated for a CaffeNet generator, the same name for any other encoder's).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..encoders.caffenet import INPUT_SIZE as CAFFENET_SIZE
from ..errors import InvertnetError
from ..files.downloads import read_state_dict
from ..inversion import Inverter, resolve_weights
from ..models.generator import CroppedGenerator
from ..names import CAFFENET
from ..treenames import RECTIFIED_GENERATOR_LAYERS, generator_layer
from ..weights.checkpoint import is_invertnet_file, load_checkpoint, read_metadata
from ..weights.registry import generator_bytes_bound
from ..weights.upconvgan import generator_from_upconvgan

LAB_SUFFIXES = (".pt", ".pth")


@dataclass
class TreeGenerator:
    """A generator for a tree's layer: the network, its invertnet layer, whether that layer is rectified, what to call it."""

    generator: CroppedGenerator
    layer: str
    family: str
    source: str

    @property
    def rectified(self) -> bool:
        """Whether the generator's layer comes after a ReLU (it never saw negative values in training)."""
        return self.family == CAFFENET and self.layer in RECTIFIED_GENERATOR_LAYERS

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return tuple(self.generator.feature_shape)

    @property
    def input_size(self) -> int:
        return int(self.generator.size)

    @torch.no_grad()
    def full(self, features: torch.Tensor) -> torch.Tensor:
        """The generator's whole output (256x256 for the paper's), RGB in 0-255, not clamped: the image the cookbook's FG script computes."""
        device = next(self.generator.parameters()).device
        return self.generator.full(features.to(device)).float().cpu()


def _is_lab_file(path: Path) -> bool:
    return path.suffix in LAB_SUFFIXES or (path.suffix == ".safetensors" and not is_invertnet_file(read_metadata(path)))


def load_tree_generator(weights: str, tree_layer: str, device: torch.device) -> TreeGenerator:
    """The generator ``weights`` names for a tree's ``tree_layer`` (see the module), on ``device``, or one clear error."""
    path = Path(weights)
    if path.is_file() and _is_lab_file(path):
        layer, _ = generator_layer(tree_layer)
        state = read_state_dict(path, "bdpy generator", max_bytes=generator_bytes_bound(layer))
        generator = generator_from_upconvgan(state, layer, f"{path} (read as bdpy's generator for {tree_layer})", biases=True)
        if not hasattr(generator, "full"):
            raise InvertnetError(f"{path}: a generator of {layer} is not one of the lab's relu6, relu7 or pool5 generators")
        return TreeGenerator(generator.eval().to(device), layer, CAFFENET, str(path))
    resolved = resolve_weights(weights, None)
    family = load_checkpoint(resolved, tensors=False).geometry.family
    inverter = Inverter.load_generator(str(resolved), device=device)
    wanted = generator_layer(tree_layer)[0] if family == CAFFENET else tree_layer
    if inverter.layer != wanted:
        raise InvertnetError(
            f"{inverter.source} inverts {inverter.layer}; the tree's {tree_layer} needs a generator of {wanted}"
            + (" (bdpy's names: relu7 is invertnet's fc7, pool5 its conv5)" if family == CAFFENET else "")
        )
    return TreeGenerator(inverter.generator.eval(), inverter.layer, family, inverter.source)


def check_size(generator: TreeGenerator) -> None:
    """Refuse a CaffeNet generator whose crop is not CaffeNet's (a lab file is always built at 227)."""
    if generator.family == CAFFENET and generator.input_size != CAFFENET_SIZE:
        raise InvertnetError(f"{generator.source}: a CaffeNet generator crops {CAFFENET_SIZE}, this one {generator.input_size}")
