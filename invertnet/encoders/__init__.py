"""Encoders: the network whose features are inverted, and everything that depends on it.

``--encoder SPEC`` names one (:mod:`invertnet.encoders.base` is what each owns: input size, colour
order, scale and normalisation, layers and their feature shapes, the crop of a generator's output it
sees, its default comparator). The families:

- torchvision's AlexNet (:class:`invertnet.encoders.alexnet.AlexNet`): 224x224, RGB, ImageNet mean and
  std. ``imagenet``, a state-dict ``PATH``, ``random:SEED``, ``random-torchvision:SEED``.
- CaffeNet (:class:`invertnet.encoders.caffenet.CaffeNet`), the network of the paper and of the authors'
  released generators: 227x227, BGR, 0-255 minus the ILSVRC mean, LRN and grouped
  convolutions. ``caffenet``: from two sources (:func:`caffenet_sources`), tried in order and
  downloaded once into torch.hub's cache: the Caffe model zoo's
  ``bvlc_reference_caffenet.caffemodel`` (checked against the SHA-1 the zoo publishes), then
  the upconvGAN port's ``caffenet.pt`` on Hugging Face (trust on first use).
  ``caffenet:PATH`` (a ``.caffemodel``, or a state dict with :class:`CaffeNet`'s key names or
  the port's), ``caffenet:random:SEED``.
- torchvision's classifiers (:mod:`invertnet.encoders.classifiers`): ``vgg16``, ``resnet50``, ``vit_b_16``
  (curated layer names) or any other classifier name in its registry; ``NAME``, ``NAME:PATH``,
  ``NAME:random:SEED``.
- VGG-19 as Caffe ran it, with bdpy's layer names (:mod:`invertnet.encoders.vgg19_caffe`), the
  KamitaniLab's iCNN encoder: 224x224, BGR, 0-255 minus the mean. ``vgg19_caffe:PATH``
  (``VGG_ILSVRC_19_layers.caffemodel`` or bdpy's ``VGG19`` state dict), ``vgg19_caffe:random:SEED``.
- from Python, any ``torch.nn.Module`` (:class:`invertnet.encoders.module.ModuleEncoder`).

Everything else (generators, comparators, data crops, evaluation, training, synthesis) asks the
encoder: ``encoder.input_size``, ``encoder.generator_mean``, ``encoder.feature_shape(layer)`` and
``encoder(images, layers)``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import InvertnetError
from ..files.downloads import file_hash, read_state_dict
from ..files.sources import Source, first_usable
from ..names import CAFFENET, CAFFENET_ONLY_LAYERS, LAYERS, TRAINABLE_LAYERS, alias_hint
from .alexnet import FEATURE_SHAPES, MAX_WEIGHTS_BYTES, AlexNet, load_alexnet, parse_seed
from .alexnet import INPUT_SIZE as ALEXNET_INPUT_SIZE
from .base import Encoder, describe_shape
from .caffenet import INPUT_SIZE as CAFFENET_INPUT_SIZE
from .caffenet import CaffeNet, caffenet_from_caffemodel, caffenet_from_port, random_caffenet
from .classifiers import TorchvisionEncoder, is_torchvision, load_torchvision
from .classifiers import layout as torchvision_layout
from .module import ModuleEncoder
from .vgg19_caffe import FAMILY as VGG19_CAFFE
from .vgg19_caffe import FEATURE_SHAPES as VGG19_CAFFE_SHAPES
from .vgg19_caffe import INPUT_SIZE as VGG19_CAFFE_INPUT_SIZE
from .vgg19_caffe import VGG19Caffe, random_vgg19_caffe, vgg19_caffe_from_file

CAFFENET_URL = "http://dl.caffe.berkeleyvision.org/bvlc_reference_caffenet.caffemodel"
CAFFENET_SHA1 = "4c8d77deb20ea792f84eb5e6d0a11ca0a8660a46"
"""The SHA-1 of ``bvlc_reference_caffenet.caffemodel`` in Caffe's ``models/bvlc_reference_caffenet/readme.md``."""
CAFFENET_FILE = "bvlc_reference_caffenet.caffemodel"
CAFFENET_PORT_URL = "https://huggingface.co/binxu/DeePSim_DosovitskiyBrox2016/resolve/main/caffenet.pt"
"""The upconvGAN port's CaffeNet (``model_urls["caffenet"]`` in Animadversio/Neuro-ActMax-GAN-comparison ``core/utils/GAN_utils.py``)."""
CAFFENET_PORT_FILE = "upconvGAN_caffenet.pt"
"""The name the port's own loader gives that file in torch.hub's cache, so a cache the port filled is reused."""


@dataclass(frozen=True)
class EncoderSpec:
    """A parsed ``--encoder`` value: the family and what follows it."""

    family: str  # "alexnet" | "caffenet" | a torchvision classifier's name
    value: str  # the AlexNet spec; for the others "" | "random:SEED" | a path

    @classmethod
    def parse(cls, text: str) -> EncoderSpec:
        if text.startswith(f"{ModuleEncoder.family}:"):  # the identity of a module from Python: no spec rebuilds it
            return cls(ModuleEncoder.family, text)
        if is_torchvision(text):
            name, _, rest = text.partition(":")
            return cls(name, rest)
        for family in (CAFFENET, VGG19_CAFFE):
            if text == family:
                return cls(family, "")
            if text.startswith(f"{family}:"):
                value = text.split(":", 1)[1]
                if value.startswith("random:"):
                    seed = parse_seed(value.split(":", 1)[1], f"--encoder {text!r}: the seed after '{family}:random:'")
                    return cls(family, f"random:{seed}")
                if not value:
                    raise InvertnetError(f"--encoder {text!r}: name a file after '{family}:', or use {family} alone")
                return cls(family, value)
        return cls("alexnet", text)

    @property
    def input_size(self) -> int:
        """The image size this encoder takes, known before its weights are read."""
        if self.family == VGG19_CAFFE:
            return VGG19_CAFFE_INPUT_SIZE
        if self.family not in ("alexnet", CAFFENET):
            return TorchvisionEncoder.input_size_of(self.family)
        return CAFFENET_INPUT_SIZE if self.family == CAFFENET else ALEXNET_INPUT_SIZE


def is_paper_family(spec: str | Encoder) -> bool:
    """Whether an encoder (or spec, or recorded identity) is AlexNet's or CaffeNet's: the paper's, whose Table 2 compares."""
    return family_of(spec) in ("alexnet", CAFFENET)


def input_size(spec: str) -> int:
    """The input size of the encoder ``spec`` names (224 for torchvision's AlexNet, 227 for CaffeNet...), without its weights."""
    return EncoderSpec.parse(spec).input_size


CAFFENET_MEGABYTES = 233
"""The size of ``bvlc_reference_caffenet.caffemodel`` (243,862,418 bytes), as an error says it."""


def caffenet_sources() -> list[Source]:
    """Where ``--encoder caffenet`` comes from, in the order tried: the Caffe model zoo (``zoo``), the port (``hf``)."""
    return [Source("zoo", CAFFENET_URL, CAFFENET_FILE, sha1=CAFFENET_SHA1), Source("hf", CAFFENET_PORT_URL, CAFFENET_PORT_FILE)]


def caffenet_cache_path() -> Path:
    """Where ``--encoder caffenet`` looks for (and downloads) ``bvlc_reference_caffenet.caffemodel``, its first source."""
    return caffenet_sources()[0].path


def _load_reference(source: Source, path: Path) -> CaffeNet:
    if source.name == "zoo":
        return caffenet_from_caffemodel(path, CAFFENET)
    state = read_state_dict(path, "CaffeNet weights", max_bytes=MAX_WEIGHTS_BYTES)
    return caffenet_from_port(state, CAFFENET, f"the CaffeNet weights in {path}")


def reference_caffenet(source: str | None = None) -> tuple[Source, CaffeNet]:
    """The reference CaffeNet and the source it came from (``source``: only that one of :func:`caffenet_sources`)."""
    sources = [s for s in caffenet_sources() if source in (None, s.name)]
    if not sources:
        raise InvertnetError(f"CaffeNet has no source {source!r}: choose {', '.join(s.name for s in caffenet_sources())}")
    found = first_usable(sources, "CaffeNet", _load_reference, hint="or name a copy you have as the encoder caffenet:PATH")
    return found.source, found.value


def _caffenet_file(path: Path) -> CaffeNet:
    if path.suffix == ".caffemodel":
        if file_hash(path, "sha1") == CAFFENET_SHA1:  # the reference network by another path: the authors' generators fit it
            return caffenet_from_caffemodel(path, CAFFENET)
        return caffenet_from_caffemodel(path, f"caffenet:file:{file_hash(path)[:16]}")
    state = read_state_dict(path, "CaffeNet weights", max_bytes=MAX_WEIGHTS_BYTES)
    return caffenet_from_port(state, f"caffenet:file:{file_hash(path)[:16]}", f"the CaffeNet weights in {path}")


def load_encoder(spec: str | Encoder = "imagenet", *, device: torch.device | str = "cpu") -> Encoder:
    """The frozen encoder ``spec`` names (see the module docstring), on ``device``; an :class:`Encoder` object is moved there."""
    if isinstance(spec, Encoder):
        return spec.to(device)
    parsed = EncoderSpec.parse(spec)
    if parsed.family == VGG19_CAFFE:
        return _load_vgg19_caffe(parsed.value).to(device)
    if parsed.family not in ("alexnet", CAFFENET):
        return load_torchvision(spec, device=device)
    if parsed.family != CAFFENET:
        return load_alexnet(parsed.value, device=device)
    if parsed.value == "":
        net = reference_caffenet()[1]
    elif parsed.value.startswith("random:"):
        net = random_caffenet(int(parsed.value.split(":", 1)[1]))
    else:
        net = _caffenet_file(Path(parsed.value))
    return net.to(device)


def _load_vgg19_caffe(value: str) -> VGG19Caffe:
    """``vgg19_caffe:random:SEED`` or ``vgg19_caffe:PATH``; the released weights are not downloaded (no canonical URL serves them)."""
    if value.startswith("random:"):
        return random_vgg19_caffe(int(value.split(":", 1)[1]))
    if not value:
        raise InvertnetError(
            f"--encoder {VGG19_CAFFE} needs its weights: name VGG_ILSVRC_19_layers.caffemodel or bdpy's VGG19 state dict "
            f"as {VGG19_CAFFE}:PATH (or {VGG19_CAFFE}:random:SEED for a random network)"
        )
    path = Path(value)
    return vgg19_caffe_from_file(path, f"{VGG19_CAFFE}:file:{file_hash(path)[:16]}")


def layer_shapes(spec: str | Encoder) -> dict[str, tuple[int, ...]]:
    """Every layer of the encoder ``spec`` names, with its feature shape, in network order, without reading its weights."""
    if isinstance(spec, Encoder):
        return spec.feature_shapes()
    family = EncoderSpec.parse(spec).family
    if family == ModuleEncoder.family:
        raise InvertnetError(f"{spec} is a module from Python: pass the ModuleEncoder itself, not its identity")
    if family == "alexnet":
        return {layer: FEATURE_SHAPES[layer] for layer in TRAINABLE_LAYERS}
    if family == CAFFENET:
        return {layer: FEATURE_SHAPES[layer] for layer in LAYERS}
    if family == VGG19_CAFFE:
        return dict(VGG19_CAFFE_SHAPES)
    return dict(torchvision_layout(family)[2])


def default_comparator(spec: str | Encoder) -> str:
    """The comparator layer of the encoder ``spec`` names when none is asked for: conv5 for AlexNet and CaffeNet (the paper's)."""
    if isinstance(spec, Encoder):
        return spec.comparator_layer
    family = EncoderSpec.parse(spec).family
    if family == VGG19_CAFFE:
        return VGG19Caffe.comparator_layer
    return "conv5" if family in ("alexnet", CAFFENET) else torchvision_layout(family)[1]


def family_of(spec: str | Encoder) -> str:
    """The network family (``alexnet``, ``caffenet``, ``resnet50``...) of an encoder or spec, without its weights."""
    return spec.family if isinstance(spec, Encoder) else EncoderSpec.parse(spec).family


def encoder_layer(spec: str | Encoder, layer: str) -> str:
    """``layer`` if the encoder ``spec`` names has it, else an error that lists its layers with their shapes."""
    shapes = layer_shapes(spec)
    family = family_of(spec)
    if layer not in shapes:
        name = spec.identity if isinstance(spec, Encoder) else spec
        hint = f" ({', '.join(CAFFENET_ONLY_LAYERS)} are CaffeNet's)" if family == "alexnet" and layer in CAFFENET_ONLY_LAYERS else ""
        hint = hint or (alias_hint(layer) if family in ("alexnet", CAFFENET) else "")
        listing = ", ".join(f"{name} {describe_shape(shape)}" for name, shape in shapes.items())
        raise InvertnetError(f"the encoder {name} has no layer {layer!r}{hint}; its layers: {listing}")
    return layer


def trainable_layer(spec: str | Encoder, layer: str) -> str:
    """``layer`` if invertnet can train a generator for it on this encoder, else an error that says why, or lists the layers."""
    if family_of(spec) == CAFFENET and layer in CAFFENET_ONLY_LAYERS:
        raise InvertnetError(
            f"invertnet trains generators for CaffeNet's {', '.join(TRAINABLE_LAYERS)} (the paper's Table 1 architecture); "
            f"for {layer}, use the authors' generator: --weights deepsim:{layer}"
        )
    return encoder_layer(spec, layer)


@dataclass(frozen=True)
class Geometry:
    """What a generator needs of its encoder, without the network: its family, input size, the mean a generator adds, layer shapes.

    A generator file records it (``invertnet.geometry``), so ``invert --features`` runs a generator
    whose encoder's weights are not at hand (features decoded from brain recordings, say).
    """

    family: str
    input_size: int
    generator_mean: tuple[float, ...]
    shapes: dict[str, tuple[int, ...]]

    def feature_shape(self, layer: str) -> tuple[int, ...]:
        if layer not in self.shapes:
            raise InvertnetError(f"no feature shape is known for layer {layer!r} of {self.family}")
        return self.shapes[layer]

    def to_json(self, layer: str) -> str:
        """The record a file of a generator for ``layer`` keeps."""
        return json.dumps({"family": self.family, "input_size": self.input_size, "generator_mean": list(self.generator_mean),
                           "feature_shape": list(self.feature_shape(layer))}, allow_nan=False)

    @classmethod
    def from_json(cls, text: str, layer: str) -> Geometry:
        """The record of a file, checked field by field (a file is hostile input)."""
        try:
            record = json.loads(text)
            family, size, mean, shape = record["family"], record["input_size"], record["generator_mean"], record["feature_shape"]
        except (ValueError, TypeError, KeyError, RecursionError):
            raise InvertnetError("its invertnet.geometry metadata is not the record invertnet writes") from None
        numbers = isinstance(mean, list) and len(mean) == 3 and all(isinstance(v, (int, float)) and math.isfinite(v) for v in mean)
        sizes = isinstance(shape, list) and 1 <= len(shape) <= 3 and all(isinstance(n, int) and 1 <= n <= 1 << 20 for n in shape)
        if not (isinstance(family, str) and isinstance(size, int) and 1 <= size <= 4096 and numbers and sizes):
            raise InvertnetError(f"its invertnet.geometry metadata is damaged: {text[:120]!r}")
        return cls(family, size, tuple(float(v) for v in mean), {layer: tuple(shape)})


def geometry(spec: str | Encoder) -> Geometry:
    """The :class:`Geometry` of an encoder, or of the one a spec (or a checkpoint's recorded identity) names, without its weights."""
    if isinstance(spec, Encoder):
        return Geometry(spec.family, spec.input_size, tuple(spec.generator_mean), spec.feature_shapes())
    family = family_of(spec)
    if family == "alexnet":
        mean: tuple[float, ...] = AlexNet.generator_mean
    elif family == CAFFENET:
        mean = CaffeNet.generator_mean
    elif family == VGG19_CAFFE:
        mean = VGG19Caffe.generator_mean
    else:
        mean = TorchvisionEncoder.generator_mean_of(family)
    return Geometry(family, input_size(spec), mean, layer_shapes(spec))


def loadable_spec(identity: str) -> str | None:
    """The ``--encoder`` value that rebuilds the encoder a checkpoint names, or None for a file or a module (only a hash is recorded)."""
    if identity in ("imagenet", CAFFENET) or identity.startswith(("random:", "random-torchvision:", "caffenet:random:")):
        return identity
    name, _, rest = identity.partition(":")
    if is_torchvision(name) and (rest == "" or rest.startswith("random:")):
        return identity
    return None


def random_like(encoder: Encoder, seed: int) -> Encoder:
    """A random network of the same family as ``encoder`` (the paper's random comparator): variance-preserving for AlexNet and CaffeNet."""
    if encoder.family == "alexnet":
        spec = f"random:{seed}"
    elif encoder.family == CAFFENET:
        spec = f"caffenet:random:{seed}"
    elif isinstance(encoder, TorchvisionEncoder):
        spec = f"{encoder.family}:random:{seed}"
    else:
        raise InvertnetError(f"a random comparator needs a network invertnet can build with random weights; {encoder.identity} is not one")
    return load_encoder(spec, device=encoder.device)


__all__ = [
    "CAFFENET", "CAFFENET_SHA1", "CAFFENET_URL", "Encoder", "EncoderSpec", "Geometry", "geometry", "ModuleEncoder", "TorchvisionEncoder", "caffenet_cache_path",
    "caffenet_sources", "default_comparator", "describe_shape", "encoder_layer", "family_of", "input_size", "is_paper_family", "layer_shapes", "load_encoder", "loadable_spec",
    "random_like", "reference_caffenet", "trainable_layer",
]
