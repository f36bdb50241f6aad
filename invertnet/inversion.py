"""Running a trained model: invert, re-encode (Fig. 5) and interpolate (Fig. 7).

An :class:`Inverter` pairs the encoder whose features are inverted (torchvision's AlexNet or
CaffeNet, see :mod:`invertnet.encoders`) with the generator trained for one of its layers.
Images in and out are (N, 3, S, S) RGB in [0, 1] with S the encoder's ``input_size`` (224 or
227); use ``eval_crop(image, inverter.input_size)`` to bring any image to that size.

A VAE or autoencoder checkpoint loads the same way: its code takes the place of the features
(the VAE's is the mean of q(z|x)), so ``invert`` reconstructs, ``reencode`` iterates and
``interpolate`` walks its latent space. :meth:`Inverter.sample` draws from a VAE's prior.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .devices import resolve_device
from .encoders import CAFFENET_MEGABYTES, Encoder, Geometry, caffenet_sources, default_comparator, encoder_layer, family_of, layer_shapes, load_encoder, loadable_spec
from .errors import InvertnetError, named
from .files.guarded import is_present
from .files.sources import by_hand
from .initialisation import no_default_init
from .models.generator import has_tail_biases
from .models.kinds import INVERTER, VAE_KIND, build_model, check_width
from .names import CAFFENET, FC_WIDTH, MAX_FRAMES, WEIGHTS_ENV
from .precision import Precision
from .weights.checkpoint import (
    CHECKPOINT_NAME,
    GENERATOR_NAME,
    Checkpoint,
    encoder_identity,
    is_invertnet_file,
    load_checkpoint,
    read_metadata,
)
from .weights.registry import DEEPSIM, deepsim_name, deepsim_path, fetch_deepsim, is_authors_layer, is_deepsim


def user_weights_dir() -> Path:
    """The user's own generators: ``$XDG_CACHE_HOME/invertnet``, else ``~/.cache/invertnet``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "invertnet"


def weights_dirs() -> list[Path]:
    """Where generators are looked for without ``--weights``, in order: ``$INVERTNET_WEIGHTS`` (when set), then the user's."""
    chosen = os.environ.get(WEIGHTS_ENV)
    return [*([Path(chosen)] if chosen else []), user_weights_dir()]


DEFAULT_HINT = ", or pass --weights (a later location is not used while it is there)"
PAPER_FAMILIES = ("alexnet", CAFFENET)
NOR_AUTHORS = " nor the authors' in the cache"
"""The encoders whose default generators are named by the layer alone (``fc6.safetensors``), and whose layers the authors' generators invert."""


def default_name(layer: str, encoder: str | Encoder = "imagenet") -> str:
    """The file name of the default generator for ``layer`` of ``encoder``: ``LAYER.safetensors`` for AlexNet and
    CaffeNet, ``FAMILY/LAYER.safetensors`` for the others (``resnet50/layer4.safetensors``).

    ``layer`` must be one of the encoder's: the error lists them.
    """
    encoder_layer(encoder, layer)
    family = family_of(encoder)
    return f"{layer}.safetensors" if family in PAPER_FAMILIES else f"{family}/{layer}.safetensors"


def default_weights(layer: str, encoder: str | Encoder = "imagenet") -> Path:
    """The generator file used for ``layer`` of ``encoder`` without ``--weights``: :func:`default_name` in the first of
    :func:`weights_dirs` that has one (the first folder's, where none has)."""
    candidates = [folder / default_name(layer, encoder) for folder in weights_dirs()]
    return next((path for path in candidates if is_present(path, "the default generator", DEFAULT_HINT)), candidates[0])


def resolve_weights(weights: str | os.PathLike[str] | None, layer: str | None, encoder: str | Encoder | None = None) -> Path:
    """The file behind ``--weights``: a file, a run folder, ``deepsim:NAME`` (fetched once), ``deepsim`` (the authors' for
    ``layer``), or the default for ``layer`` of ``encoder`` (torchvision's AlexNet if None).

    The default is :func:`default_name` in ``$INVERTNET_WEIGHTS``, then in the user's folder
    (:func:`weights_dirs`), then (AlexNet and CaffeNet) the authors' generator for ``layer`` if it is in the cache;
    never a folder of the source tree, which an installed package does not have.
    """
    if weights is None:
        if layer is None:
            raise InvertnetError("give --layer, or --weights to take the layer from the checkpoint")
        encoder = "imagenet" if encoder is None else encoder
        own = default_weights(layer, encoder)
        authors = [deepsim_path(layer)] if family_of(encoder) in PAPER_FAMILIES and is_authors_layer(layer) else []
        for path in (own, *authors):
            if is_present(path, "the default generator", DEFAULT_HINT):
                return path
        fetch = f"`invertnet weights fetch {DEEPSIM}{layer}` downloads the authors' (with CaffeNet, once); " if authors else ""
        raise InvertnetError(
            f"no generator for {layer}: none in {' nor '.join(str(folder) for folder in weights_dirs())}"
            f"{NOR_AUTHORS if authors else ''}. {fetch}"
            f"pass --weights (a run folder or a .safetensors file), or copy one to {own}"
        )
    if is_deepsim(weights):
        return fetch_deepsim(deepsim_name(str(weights), layer))
    path = Path(weights)
    if path.is_dir():
        for name in (GENERATOR_NAME, CHECKPOINT_NAME):
            if is_present(path / name, "the run's", f" from {path}"):
                return path / name
        raise InvertnetError(f"{path} holds no {GENERATOR_NAME} or {CHECKPOINT_NAME}")
    if not path.exists():
        raise InvertnetError(f"weights not found: {path}")
    return path


ALSO_NEEDED = "it will also need CaffeNet"


def _caffenet_also_needed(weights: str | os.PathLike[str] | None, encoder: str | Encoder | None) -> list[str]:
    """Where an authors' generator cannot be had: the lines that say CaffeNet, which runs it, is missing too (if it is)."""
    if weights is None or not is_deepsim(weights) or encoder not in (None, CAFFENET) or any(source.path.is_file() for source in caffenet_sources()):
        return []
    return [f"{ALSO_NEEDED} ({CAFFENET_MEGABYTES} MB), not in the cache either:", *by_hand(caffenet_sources())]


def _weights_path(weights: str | os.PathLike[str] | None, layer: str | None, encoder: str | Encoder | None = None) -> Path:
    """:func:`resolve_weights` for a command's ``--weights``, ``--layer`` and ``--encoder``; one of the first two must be given.

    Where an authors' generator cannot be had, the error also says whether CaffeNet, which runs it, is missing."""
    try:
        return resolve_weights(weights, layer, encoder)
    except InvertnetError as error:
        raise InvertnetError(error.message, [*error.details, *_caffenet_also_needed(weights, encoder)]) from None


@dataclass(frozen=True)
class LayerGenerator:
    """One layer of an encoder, its feature shape, and the generator there is for it (``invertnet layers``)."""

    layer: str
    shape: tuple[int, ...]
    comparator: bool  # the encoder's default comparator layer
    kind: str | None  # "file" (the user's default), "authors" (deepsim:LAYER), or None
    path: Path | None  # where the generator is, or would be once fetched
    present: bool

    def describe(self) -> str:
        if self.kind == "file":
            return str(self.path)
        if self.kind == "authors":
            return f"{DEEPSIM}{self.layer} (the authors', {'cached' if self.present else 'not downloaded: invertnet weights fetch'})"
        return "none"

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.layer, "shape": list(self.shape), "comparator": self.comparator,
            "generator": None if self.kind is None else {"kind": self.kind, "path": str(self.path), "present": self.present},
        }


def available_generators(spec: str) -> list[LayerGenerator]:
    """Every layer of the encoder ``spec`` names with its feature shape and the generator ``invert --layer`` would use, read without its weights."""
    family = family_of(spec)
    comparator = default_comparator(spec)
    rows = []
    for layer, shape in layer_shapes(spec).items():
        own = default_weights(layer, spec)
        kind, path, present = (("file", own, True) if own.is_file() else (None, None, False))
        if kind is None and family == CAFFENET and is_authors_layer(layer):
            path = deepsim_path(layer)
            kind, present = "authors", path.is_file()
        rows.append(LayerGenerator(layer, shape, layer == comparator, kind, path, present))
    return rows


def _invertnet_metadata(
    weights: str | os.PathLike[str] | None, layer: str | None, encoder: str | Encoder | None = None,
) -> tuple[Path, dict[str, str]]:
    """The file behind ``--weights``/``--layer``/``--encoder`` and its metadata, read without its tensors; refused if not an invertnet file."""
    path = _weights_path(weights, layer, encoder)
    metadata = read_metadata(path)
    if not is_invertnet_file(metadata):
        load_checkpoint(path)  # not an invertnet file: its error says why
    return path, metadata


def trained_against(weights: str | os.PathLike[str] | None, layer: str | None) -> str:
    """The ``--encoder`` value of the encoder a generator was trained against (read from its file's metadata)."""
    path, metadata = _invertnet_metadata(weights, layer)
    return _encoder_spec(path, encoder_identity(metadata))


def weights_model(weights: str | os.PathLike[str] | None, layer: str | None, encoder: str | None = None) -> tuple[str, str]:
    """(layer, model kind) of the file ``--weights`` names (or the default for ``layer`` of ``encoder``), from its metadata alone."""
    _, metadata = _invertnet_metadata(weights, layer, encoder)
    return metadata["invertnet.layer"], metadata.get("invertnet.model", INVERTER)


def _encoder_spec(path: Path, identity: str) -> str:
    spec = loadable_spec(identity)
    if spec is None:
        raise InvertnetError(f"{path} was trained against the weights file {identity}: pass --encoder PATH (that file)")
    return spec


def generator_from_checkpoint(checkpoint: Checkpoint, encoder: Encoder | Geometry) -> torch.nn.Module:
    """Rebuild the network stored in a checkpoint: a :class:`~invertnet.models.Generator` (its layer says which), a VAE or an autoencoder.

    ``encoder`` gives the output's mean and crop and the layer's feature shape (its :class:`Geometry` is enough for a
    generator); a VAE's encoder weights come from the checkpoint, the encoder only shapes them.
    """
    state = checkpoint.module_state("generator")
    if checkpoint.model == VAE_KIND and isinstance(encoder, Geometry):
        raise InvertnetError(f"{checkpoint.path} is a VAE: its encoder is part of it, so it needs the encoder network, not only its geometry")
    try:
        shape = encoder.feature_shape(checkpoint.layer) if checkpoint.model == INVERTER else None
        width = check_width(checkpoint.model, checkpoint.layer, checkpoint.config.get("fc_width", FC_WIDTH), shape, encoder.input_size,
                            "its config's fc_width")
    except InvertnetError as error:
        raise InvertnetError(f"{checkpoint.path} is damaged: {error}") from None
    with no_default_init():  # every weight comes from the file next
        generator = build_model(checkpoint.model, checkpoint.layer, encoder, tail_bias=has_tail_biases(state), width=width)
    try:
        generator.load_state_dict(state)
    except RuntimeError as error:
        what = checkpoint.layer if checkpoint.model == INVERTER else checkpoint.model
        raise InvertnetError(f"{checkpoint.path}: the weights do not fit the {what} architecture: {error}") from error
    if not all(torch.isfinite(t).all() for t in generator.state_dict().values()):
        raise InvertnetError(f"{checkpoint.path}: the generator has NaN or infinite weights (a run that diverged?): its images would be blank")
    return generator.eval().requires_grad_(False)



def check_unit_range(images: torch.Tensor) -> None:
    """Refuse images that are not floats in [0, 1] (0-255 values or uint8 would be inverted as garbage, silently)."""
    if not images.is_floating_point():
        raise InvertnetError(f"images must be floats in [0, 1], got {images.dtype}: convert with images.float() / 255")
    if images.numel() and images.dim() >= 3:
        low, high = float(images.min()), float(images.max())
        if low < -UNIT_TOLERANCE or high > 1 + UNIT_TOLERANCE:
            hint = ": divide 0-255 images by 255" if high > 2 else ""
            raise InvertnetError(f"images must be in [0, 1], got values from {low:.4g} to {high:.4g}{hint}")


UNIT_TOLERANCE = 1e-3
"""How far outside [0, 1] an image may stray (resampling overshoot) before it is refused."""


@torch.no_grad()
def encode(encoder: Encoder, images: torch.Tensor, layer: str, *, batch_size: int = 64, precision: str = "fp32") -> torch.Tensor:
    """Features of ``images`` (N, 3, S, S floats in [0, 1], the encoder's crop) at ``layer``, as float32 on the CPU.

    What :meth:`Inverter.features` feeds a generator, computed the same way: a file of them
    (``invertnet features``) given back to ``invert --features`` reconstructs what ``invert`` does.
    """
    check_unit_range(images)
    encoder.check_layer(layer)
    mode = Precision.resolve(precision, encoder.device)
    with mode.autocast():
        rows = [encoder(mode.images(chunk.to(encoder.device)), layer).float().cpu() for chunk in images.split(batch_size)]
    return torch.cat(rows)


class Inverter:
    """Encoder features of one layer, and the generator that maps them back to images (or a VAE's or autoencoder's code and decoder)."""

    def __init__(
        self, encoder: Encoder | None, generator: torch.nn.Module, source: str = "", config: dict[str, object] | None = None, precision: str = "fp32",
        model: str = INVERTER,
    ) -> None:
        """``generator``: a :class:`Generator` for ``model`` ``inverter``, else the VAE or autoencoder (``model``);
        ``encoder`` None: the generator alone, for features from elsewhere (:meth:`load_generator`)."""
        self.encoder, self.generator = encoder, generator.eval()
        self.layer, self.source, self.model = generator.layer, source, model
        self.config = config or {}  # the training config stored in the checkpoint
        self.device = encoder.device if encoder is not None else next(generator.parameters()).device
        self.input_size: int = encoder.input_size if encoder is not None else generator.size
        self.precision = Precision.resolve(precision, self.device)
        if self.precision.fast:
            if self.encoder is not None:
                self.precision.module(self.encoder)
            self.precision.module(self.generator)

    @classmethod
    def load_generator(cls, weights: str | os.PathLike[str], *, device: str | torch.device = "auto", precision: str = "fp32") -> Inverter:
        """The generator in ``weights`` alone, without its encoder's weights: it takes features from elsewhere (:meth:`generate`).

        The generator is built from the geometry its file records (the encoder's input size, the mean it
        adds, the layer's feature shape); :meth:`features` is not available.
        """
        path = resolve_weights(weights, None)
        device = resolve_device(device) if isinstance(device, str) else device
        checkpoint = load_checkpoint(path)
        if checkpoint.model != INVERTER:
            raise InvertnetError(f"{path} is a {checkpoint.model}: features from elsewhere go through a generator trained to invert a layer")
        generator = generator_from_checkpoint(checkpoint, checkpoint.geometry).to(device)
        return cls(None, generator, str(path), checkpoint.config, precision, checkpoint.model)

    @classmethod
    def load(
        cls,
        layer: str | None,
        weights: str | os.PathLike[str] | None = None,
        *,
        encoder: str | Encoder | None = None,
        device: str | torch.device = "auto",
        precision: str = "fp32",
    ) -> Inverter:
        """Load the generator for ``layer`` and check it was trained against this encoder.

        ``encoder=None`` takes the encoder the generator was trained against (``caffenet`` for the
        authors' generators). ``layer=None`` takes the layer the checkpoint inverts (``weights`` is then required).
        ``precision`` ``bf16`` (or ``auto`` on CUDA) runs both networks under bf16 autocast,
        for throughput; evaluation keeps fp32 so its figures do not depend on the device.
        """
        path = _weights_path(weights, layer, encoder)
        device = resolve_device(device) if isinstance(device, str) else device
        checkpoint = load_checkpoint(path)
        if encoder is None:
            encoder = _encoder_spec(path, checkpoint.encoder)
        network = load_encoder(encoder, device=device) if isinstance(encoder, str) else encoder
        checkpoint.check_compatible(layer, network.identity)
        layer = layer or checkpoint.layer
        generator = generator_from_checkpoint(checkpoint, network).to(device)
        return cls(network.to(device), generator, str(path), checkpoint.config, precision, checkpoint.model)

    @property
    def label(self) -> str:
        """How pictures name this generator: its run folder's name for a run's generator or checkpoint, else its file's name."""
        path = Path(self.source)
        return path.parent.name or path.name if path.name in (GENERATOR_NAME, CHECKPOINT_NAME) else path.name

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Encoder features of ``images`` (floats in [0, 1]) at this inverter's layer (a VAE's or autoencoder's code)."""
        check_unit_range(images)
        if self.encoder is None:
            raise InvertnetError(f"this inverter was loaded without its encoder ({self.source}): it takes features, not images")
        with self.precision.autocast():
            x = self.precision.images(images.to(self.device))
            return (self.encoder(x, self.layer) if self.model == INVERTER else self.generator.encode(x)).float()

    @torch.no_grad()
    def generate(self, features: torch.Tensor, batch_size: int = 64, clamp: bool = True) -> torch.Tensor:
        """Images (N, 3, S, S) in [0, 1] from features (or codes), clamped to the valid range unless ``clamp`` is False (the raw output / 255)."""
        size = self.input_size
        with self.precision.autocast():
            chunks = [self.generator.decode(chunk.to(self.device))[..., :size, :size].float() for chunk in features.split(batch_size)]
        images = torch.cat(chunks) / 255.0
        return images.clamp(0, 1) if clamp else images

    def sample(self, count: int, seed: int = 0) -> torch.Tensor:
        """``count`` images (N, 3, S, S) in [0, 1] from a VAE's prior, z ~ N(0, I) drawn from ``seed`` (the same on every device)."""
        if self.model != VAE_KIND:
            what = {INVERTER: "a generator", "autoencoder": "an autoencoder"}.get(self.model, self.model)
            raise InvertnetError(f"{self.source or 'this model'} is {what}: only a VAE has a prior to sample from")
        if count < 1:
            raise InvertnetError(f"{named('count')} must be a positive integer, got {count}")
        return self.generate(self.generator.prior(count, torch.Generator().manual_seed(seed)))

    def invert(self, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
        """Reconstruct ``images`` from their features."""
        return torch.cat([self.generate(self.features(chunk)) for chunk in images.split(batch_size)])

    def reencode(self, image: torch.Tensor, iterations: int) -> torch.Tensor:
        """Fig. 5: image -> features -> reconstruction -> features -> ...; returns input and each iterate."""
        if not 1 <= iterations <= MAX_FRAMES:
            raise InvertnetError(f"{named('iterations')} must be between 1 and {MAX_FRAMES} (a strip of that many images), got {iterations}")
        frames = [image.to(self.device)]
        for _ in range(iterations):
            frames.append(self.invert(frames[-1].unsqueeze(0))[0])
        return torch.stack(frames)

    def interpolate(self, first: torch.Tensor, second: torch.Tensor, frames: int) -> torch.Tensor:
        """Fig. 7: ``frames`` images generated along the straight line between two feature vectors (ends included)."""
        if not 2 <= frames <= MAX_FRAMES:
            raise InvertnetError(f"{named('frames')} must be between 2 (the two ends) and {MAX_FRAMES} (a strip of that many images), got {frames}")
        ends = self.features(torch.stack([first, second]))
        weights = torch.linspace(0, 1, frames, device=self.device).view(-1, *([1] * (ends.dim() - 1)))
        return self.generate(torch.lerp(ends[0:1], ends[1:2], weights))
