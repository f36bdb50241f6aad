"""The authors' models as the upconvGAN port stores them, converted to invertnet's layout.

The port (Binxu Wang's ``upconvGAN`` and ``Caffenet`` classes, in Animadversio/Neuro-ActMax-GAN-comparison
``core/utils/GAN_utils.py``; weights in the Hugging Face repository ``binxu/DeePSim_DosovitskiyBrox2016``)
holds, per model, the ``torch.save``d state dict of an ``nn.Sequential`` named after the Caffe
release's layers (see docs/weights.md):

- fc6, fc6_eucl, fc7, fc8: ``defc7``, ``defc6``, ``defc5`` (Linear; fc8's ``defc7`` takes 1000
  inputs), a reshape to 256x4x4; pool5: ``Rconv6``, ``Rconv7`` (3x3, pad 1), ``Rconv8`` (3x3, no
  pad); then ``deconv5``, ``conv5_1``, ``deconv4``, ``conv4_1``, ``deconv3``, ``conv3_1``,
  ``deconv2``, ``deconv1``, ``deconv0``: all ``ConvTranspose2d`` with biases, the ``deconv*`` 4x4
  stride 2 pad 1, the ``conv*_1`` 3x3 stride 1 pad 1.
- norm1, norm2, conv3, conv4: the layouts of :mod:`invertnet.models.early_generator`, where
  conv3's and conv4's ``conv5_1``, ``conv4_1``, ``conv3_1`` are ``ConvTranspose2d`` and every other
  3x3 layer a ``Conv2d``.
- every output is BGR, 0-255 minus the mean (R 123, G 117, B 104).
- ``caffenet.pt``: CaffeNet as an ``nn.Sequential`` whose layers are named as Caffe's
  (``conv1`` ... ``fc8``), the names of :class:`~invertnet.encoders.caffenet.CaffeNet`
  (:func:`~invertnet.encoders.caffenet.caffenet_from_port`).

The port's loader renames every key with ``name.replace(".1.", ".")`` before loading: the
files may carry either form, and both are read here (:func:`~invertnet.encoders.caffenet.normalise_port_keys`).

bdpy's ``AlexNetGenerator`` and ``AlexNetPool5Generator`` (``bdpy/dl/torch/models.py``, the
KamitaniLab's relu6, relu7 and pool5 generators) have the same layer names, and each layer twice in
their state dicts: as an attribute (``defc7.weight``) and inside the ``nn.Sequential`` that runs it
(``defc.0.weight``, ``deconv.0.weight``, ``rconv.0.weight``). Both copies are read and must be equal.

Converting: linear and head layers are copied; a 3x3 stride-1 transposed convolution with
padding 1 is the convolution with the kernel flipped and in and out channels swapped; the last
layer's output channels are reordered to RGB and the mean is added by the generator. The
DeePSiM tail (conv5-fc8) is copied without its biases, which must be zero (Caffe kept them at
zero with ``lr_mult: 0``): a file whose tail biases are not zero is not the authors' generator,
and is refused. The early-layer generators keep all their biases.
"""

from __future__ import annotations

import torch

from ..encoders.alexnet import CAFFENET_ONLY_LAYERS, check_layer
from ..encoders.caffenet import INPUT_SIZE, RGB_MEAN, normalise_port_keys
from ..errors import InvertnetError
from ..initialisation import no_default_init
from ..models import EarlyLayerGenerator, Generator
from ..models.early_generator import EARLY_LAYOUTS
from ..models.kinds import inverter_generator

HEAD = {"conv5": ("Rconv6", "Rconv7", "Rconv8"), "fc6": ("defc7", "defc6", "defc5")}
TAIL = ("deconv5", "conv5_1", "deconv4", "conv4_1", "deconv3", "conv3_1", "deconv2", "deconv1", "deconv0")
"""The DeePSiM tail in order; ours is ``tail.0``, ``tail.2``, ... (an activation between each)."""
EARLY_TRANSPOSED = {"conv3": ("conv5_1", "conv4_1", "conv3_1"), "conv4": ("conv5_1", "conv4_1", "conv3_1"), "norm1": (), "norm2": ()}
"""The 3x3 layers the port stores as ``ConvTranspose2d`` in the early-layer generators (the others are ``Conv2d``)."""

AnyGenerator = Generator | EarlyLayerGenerator


def port_layout(layer: str) -> tuple[tuple[str, str], ...]:
    """The port's layers for the generator of ``layer``: (name, kind), kind one of ``linear``, ``conv``, ``transposed``."""
    check_layer(layer)
    if layer in CAFFENET_ONLY_LAYERS:
        transposed = EARLY_TRANSPOSED[layer]
        return tuple((spec.name, "transposed" if spec.kind == "up" or spec.name in transposed else "conv") for spec in EARLY_LAYOUTS[layer])
    head = HEAD["conv5" if layer == "conv5" else "fc6"]
    return tuple((name, "conv" if layer == "conv5" else "linear") for name in head) + tuple((name, "transposed") for name in TAIL)


def _flip(weight: torch.Tensor) -> torch.Tensor:
    """A 3x3 stride-1 pad-1 transposed convolution's kernel as the equivalent convolution's (and back: its own inverse)."""
    return weight.transpose(0, 1).flip(2, 3).contiguous()


SEQUENTIALS = {"defc": HEAD["fc6"], "rconv": HEAD["conv5"], "deconv": TAIL}
"""bdpy's ``nn.Sequential`` names and the layers they hold, every other module (the activations between have no weights)."""


def merge_sequential_copies(state: dict[str, torch.Tensor], origin: str) -> dict[str, torch.Tensor]:
    """bdpy's state dicts without the second copy of each layer (``defc.0.weight`` = ``defc7.weight``), each checked equal to the first."""
    merged = dict(state)
    for sequential, names in SEQUENTIALS.items():
        for index, name in enumerate(names):
            for kind in ("weight", "bias"):
                copy = merged.pop(f"{sequential}.{2 * index}.{kind}", None)
                if copy is None:
                    continue
                first = merged.get(f"{name}.{kind}")
                if not isinstance(first, torch.Tensor) or not isinstance(copy, torch.Tensor) or first.shape != copy.shape or not torch.equal(first, copy):
                    raise InvertnetError(f"{origin}: {sequential}.{2 * index}.{kind} is not the same tensor as {name}.{kind}; a bdpy generator holds each layer twice, equal")
    return merged


def _checked(state: dict[str, torch.Tensor], layer: str, origin: str) -> dict[str, torch.Tensor]:
    state = merge_sequential_copies(normalise_port_keys(state), origin)
    expected = {f"{name}.{kind}" for name, _ in port_layout(layer) for kind in ("weight", "bias")}
    if set(state) != expected:
        differences = (("missing", expected - set(state)), ("unexpected", set(state) - expected))
        problems = [f"{what} {', '.join(sorted(keys)[:6])}" for what, keys in differences if keys]
        raise InvertnetError(f"{origin} is not the authors' {layer} generator: {'; '.join(problems)}")
    dims = {key: (1,) if key.endswith(".bias") else (2, 4) for key in state}
    bad = [key for key, value in state.items() if not value.is_floating_point() or value.dim() not in dims[key]]
    if bad:
        raise InvertnetError(f"{origin} is not the authors' {layer} generator: {bad[0]} is not a tensor of the right kind")
    state = {key: value.float() for key, value in state.items()}  # checked as cast: a float64 1e300 is infinite in float32
    broken = [key for key, value in state.items() if not torch.isfinite(value).all()]
    if broken:  # refused now, not when the first image comes out blank
        raise InvertnetError(f"{origin}: {broken[0]} holds NaN or infinite values (as float32): not a usable generator")
    return state


def _convert_deepsim(state: dict[str, torch.Tensor], layer: str, origin: str, biases: bool = False) -> dict[str, torch.Tensor]:
    ours: dict[str, torch.Tensor] = {}
    for index, name in enumerate(HEAD["conv5" if layer == "conv5" else "fc6"]):
        ours[f"head.{2 * index}.weight"], ours[f"head.{2 * index}.bias"] = state[f"{name}.weight"], state[f"{name}.bias"]
    for index, name in enumerate(TAIL):
        weight, bias = state[f"{name}.weight"], state[f"{name}.bias"]
        if weight.dim() == 4 and bias.shape != weight.shape[1:2]:  # the port's transposed layers: (in, out, k, k)
            outputs = weight.shape[1]
            raise InvertnetError(f"{origin}: {name} has {bias.numel()} biases for {outputs} outputs: not the authors' {layer} generator")
        if biases:
            ours[f"tail.{2 * index}.bias"] = bias[[2, 1, 0]].contiguous() if name == "deconv0" else bias
        elif bias.numel() and bias.abs().max() > 0:
            raise InvertnetError(
                f"{origin}: {name} has non-zero biases (largest {bias.abs().max():.3g}): the authors' DeePSiM generators have none "
                "in their tail (Caffe lr_mult 0), so this is not one of them"
            )
        if name.startswith("conv"):
            weight = _flip(weight) if weight.dim() == 4 else weight
        elif name == "deconv0":
            weight = weight[:, [2, 1, 0]].contiguous()
        ours[f"tail.{2 * index}.weight"] = weight
    return ours


def _convert_early(state: dict[str, torch.Tensor], layer: str) -> dict[str, torch.Tensor]:
    ours: dict[str, torch.Tensor] = {}
    for name, kind in port_layout(layer):
        weight, bias = state[f"{name}.weight"], state[f"{name}.bias"]
        if kind == "transposed" and weight.dim() == 4 and weight.shape[-1] == 3:
            weight = _flip(weight)
        if name == "conv1_1":  # the last layer: BGR -> RGB
            weight, bias = weight[[2, 1, 0]], bias[[2, 1, 0]]
        ours[f"net.{name}.weight"], ours[f"net.{name}.bias"] = weight.contiguous(), bias.contiguous()
    return ours


def convert_upconvgan(state: dict[str, torch.Tensor], layer: str, origin: str = "the file", biases: bool = False) -> dict[str, torch.Tensor]:
    """Our generator's state dict from the port's for ``layer``; ``origin`` names the file in errors; ``biases``: keep the tail's."""
    state = _checked(state, check_layer(layer), origin)
    return _convert_early(state, layer) if layer in CAFFENET_ONLY_LAYERS else _convert_deepsim(state, layer, origin, biases)


def generator_from_upconvgan(state: dict[str, torch.Tensor], layer: str, origin: str = "the file", biases: bool = False) -> AnyGenerator:
    """The authors' generator for ``layer`` as an invertnet generator (RGB, CaffeNet's mean added, its 227 crop).

    ``biases``: a generator whose tail has biases (bdpy's ``AlexNetGenerator`` initialised in torch) keeps and uses
    every one; without it such a file is refused (the authors' have none, and ``weights import`` reads only theirs).
    """
    try:
        converted = convert_upconvgan(state, layer, origin, biases)
    except IndexError as error:  # a bias too short to reorder
        raise InvertnetError(f"{origin} is not the authors' {layer} generator: {error}") from None
    with_biases = biases and any(key.startswith("tail.") and key.endswith(".bias") and bool(value.abs().max() > 0) for key, value in converted.items())
    with no_default_init():  # every weight comes from the file next
        if layer in CAFFENET_ONLY_LAYERS:
            generator = inverter_generator(layer, RGB_MEAN, INPUT_SIZE)
        else:
            generator = Generator(layer, mean=RGB_MEAN, size=INPUT_SIZE, tail_bias=with_biases, upconv_bias=with_biases)
            if not with_biases:
                converted = {key: value for key, value in converted.items() if not (key.startswith("tail.") and key.endswith(".bias"))}
    try:
        generator.load_state_dict(converted)
    except RuntimeError as error:  # right names, wrong shapes
        raise InvertnetError(f"{origin} is not the authors' {layer} generator: {' '.join(str(error).split())[:400]}") from None
    return generator
