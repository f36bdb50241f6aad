"""Checkpoints in safetensors, with the config that rebuilds the model stored beside the weights.

A training checkpoint holds the generator, the discriminator, both optimizer states and the
step (no RNG state: training reseeds from (seed, step, rank)); a generator file holds the
generator alone. Both carry string metadata (safetensors allows nothing else): ``format: pt`` and namespaced keys
``invertnet.layer``, ``invertnet.encoder`` (the identity of the encoder it was trained
against; files before 0.3 name it ``invertnet.alexnet``, which is read too), ``invertnet.feature_shape``
(JSON: the shape of the features it inverts, since 0.3), ``invertnet.config`` (JSON), ``invertnet.step``, ``invertnet.state`` (JSON).
Files are written to a temporary file in the same folder, synced, then renamed, so a run
killed at any moment leaves either the old checkpoint or the new one.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..encoders import Geometry, geometry
from ..encoders.alexnet import LAYERS, TRAINABLE_LAYERS
from ..errors import InvertnetError
from ..files.atomic import atomic_path
from ..files.guarded import check_input
from ..names import PAPER_ALIASES, alias_hint
from ..version import __version__

CHECKPOINT_NAME = "checkpoint.safetensors"
MODEL_LAYERS = {"inverter": LAYERS, "vae": ("fc6",), "autoencoder": ("code",)}
"""The layers a file of each model kind may name (see :mod:`invertnet.models.kinds`); an inverter of an encoder other
than AlexNet and CaffeNet names one of that encoder's (:data:`LAYER_NAME`)."""
LAYER_NAME = r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}"
"""What a layer name recorded in a file may be: a word of at most 64 letters, digits, ``_``, ``.`` and ``-`` (no path)."""
GENERATOR_NAME = "generator.safetensors"


def atomic_save(tensors: dict[str, torch.Tensor], metadata: dict[str, str], path: str | os.PathLike[str]) -> Path:
    """Write a safetensors file via a temporary file and ``os.replace``; a failed write (a full disk) leaves the old file."""
    try:
        with atomic_path(path) as tmp:
            save_file({name: t.detach().contiguous().cpu() for name, t in tensors.items()}, str(tmp), metadata={"format": "pt", **metadata})
    except SafetensorError as error:
        raise InvertnetError(f"cannot write {path} ({error}); the previous version, if any, is untouched") from None
    return Path(path)


def flatten_optimizer(prefix: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], str]:
    """An optimizer's state as tensors named ``PREFIX.PARAM.KEY`` plus its param_groups as JSON (a tensor rate as its value)."""
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, object]] = {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}.{index}.{key}"] = value
            else:
                scalars.setdefault(str(index), {})[key] = value
    groups = [{key: float(value) if isinstance(value, torch.Tensor) else value for key, value in group.items()} for group in state["param_groups"]]
    return tensors, json.dumps({"param_groups": groups, "scalars": scalars}, allow_nan=False)


def unflatten_optimizer(prefix: str, tensors: dict[str, torch.Tensor], encoded: str) -> dict[str, object]:
    """Inverse of :func:`flatten_optimizer`: a state dict for ``Optimizer.load_state_dict``.

    Raises ``ValueError`` (or ``KeyError``) for state that is not what flatten wrote; the
    trainer reports it as a damaged checkpoint.
    """
    decoded = json.loads(encoded)
    state: dict[int, dict[str, object]] = {}
    for name, tensor in tensors.items():
        if name.startswith(prefix + "."):
            index, key = name[len(prefix) + 1 :].split(".", 1)
            state.setdefault(int(index), {})[key] = tensor
    for index, values in decoded["scalars"].items():
        state.setdefault(int(index), {}).update(values)
    return {"state": state, "param_groups": decoded["param_groups"]}


@dataclass
class Checkpoint:
    """A loaded invertnet file: its tensors and its decoded metadata."""

    path: Path
    tensors: dict[str, torch.Tensor]
    metadata: dict[str, str]

    @property
    def layer(self) -> str:
        return self.metadata["invertnet.layer"]

    @property
    def model(self) -> str:
        """What the file holds: ``inverter`` (a generator; also files written before there were other kinds), ``vae`` or ``autoencoder``."""
        return self.metadata.get("invertnet.model", "inverter")

    @property
    def encoder(self) -> str:
        """The identity of the encoder the model was trained against."""
        return encoder_identity(self.metadata)

    @property
    def geometry(self) -> Geometry:
        """What the generator needs of its encoder: recorded in the file since 0.3, else that of the encoder its identity names."""
        if "invertnet.geometry" in self.metadata:
            try:
                return Geometry.from_json(self.metadata["invertnet.geometry"], self.layer)
            except InvertnetError as error:
                raise InvertnetError(f"{self.path} is damaged: {error}") from None
        if self.encoder.startswith("module:"):
            raise InvertnetError(f"{self.path} records no geometry for its encoder {self.encoder}")
        return geometry(self.encoder)

    @property
    def step(self) -> int:
        return int(self.metadata.get("invertnet.step", "0"))

    @property
    def config(self) -> dict[str, object]:
        return json.loads(self.metadata.get("invertnet.config", "{}"))

    @property
    def state(self) -> dict[str, object]:
        return json.loads(self.metadata.get("invertnet.state", "{}"))

    def module_state(self, prefix: str) -> dict[str, torch.Tensor]:
        """The tensors under ``prefix.`` with the prefix removed (a module's state dict)."""
        return {name[len(prefix) + 1 :]: t for name, t in self.tensors.items() if name.startswith(prefix + ".")}

    def check_compatible(self, layer: str | None, encoder: str) -> None:
        """Refuse a checkpoint for another layer or trained against another encoder; a VAE or autoencoder takes no layer
        (``None``) at all, not even its own code's."""
        if layer is not None and self.model != "inverter":
            raise InvertnetError(
                f"{self.path} is {'a VAE' if self.model == 'vae' else 'an autoencoder'}: it reconstructs images through its own code, "
                f"not from {layer} features; leave out the layer (--layer)"
            )
        if layer is not None and self.layer != layer:
            if PAPER_ALIASES.get(layer) == self.layer:
                raise InvertnetError(f"{self.path} inverts {self.layer}{alias_hint(layer)}")
            raise InvertnetError(f"{self.path} inverts {self.layer}, not {layer}: pass a {layer} checkpoint or --layer {self.layer}")
        if self.encoder != encoder:
            raise InvertnetError(
                f"{self.path} was trained against the encoder '{self.encoder}', not '{encoder}': "
                f"pass --encoder {self.encoder if not self.encoder.startswith('file:') else 'PATH (the same weights file)'}"
            )


def _other_family(metadata: dict[str, str]) -> bool:
    """Whether a file's recorded geometry names an encoder other than AlexNet and CaffeNet (whose layers are :data:`LAYERS`)."""
    try:
        family = json.loads(metadata.get("invertnet.geometry", "{}")).get("family")
    except (ValueError, AttributeError, RecursionError):
        return False
    return isinstance(family, str) and family not in ("alexnet", "caffenet")


def encoder_identity(metadata: dict[str, str]) -> str:
    """The encoder a file's metadata names (``invertnet.encoder``, or before 0.3 ``invertnet.alexnet``)."""
    return metadata.get("invertnet.encoder", metadata.get("invertnet.alexnet", ""))


def is_invertnet_file(metadata: dict[str, str]) -> bool:
    """Whether metadata is an invertnet file's: a layer and an encoder."""
    return "invertnet.layer" in metadata and bool(encoder_identity(metadata))


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The metadata of a safetensors file without reading its tensors (empty if it is not readable: :func:`load_checkpoint` says why)."""
    try:
        check_input(path, "checkpoint")
        with safe_open(str(path), framework="pt") as handle:
            return handle.metadata() or {}
    except (InvertnetError, SafetensorError, OSError, ValueError):
        return {}


def load_checkpoint(path: str | os.PathLike[str], *, map_location: str | torch.device = "cpu", tensors: bool = True) -> Checkpoint:
    """Read an invertnet safetensors file, with a clear error if it is not one; ``tensors=False``: its checked metadata alone."""
    path = Path(path)
    check_input(path, "checkpoint")
    try:
        with safe_open(str(path), framework="pt", device=str(map_location)) as handle:
            metadata = handle.metadata() or {}
            values = {name: handle.get_tensor(name) for name in handle.keys()} if tensors else {}
    except (SafetensorError, OSError, ValueError) as error:
        raise InvertnetError(f"{path} is not a readable safetensors checkpoint: {error}") from error
    if not is_invertnet_file(metadata):
        raise InvertnetError(f"{path} is not an invertnet checkpoint (no invertnet.layer / invertnet.encoder metadata)")
    damaged = f"{path} is damaged:"
    model = metadata.get("invertnet.model", "inverter")
    if model not in MODEL_LAYERS:
        raise InvertnetError(f"{damaged} it names the model {model!r}, not one of {', '.join(MODEL_LAYERS)}")
    layer = metadata["invertnet.layer"]
    if layer not in MODEL_LAYERS[model] and not (model == "inverter" and _other_family(metadata) and re.fullmatch(LAYER_NAME, layer)):
        raise InvertnetError(f"{damaged} it names the layer {layer!r}, not one of {', '.join(MODEL_LAYERS[model])}")
    if not re.fullmatch(r"[0-9]{1,18}", metadata.get("invertnet.step", "0")):
        raise InvertnetError(f"{damaged} its step {metadata['invertnet.step']!r} is not a non-negative integer")
    for key in ("invertnet.config", "invertnet.state"):
        try:
            value = json.loads(metadata.get(key, "{}"))
        except (ValueError, RecursionError):  # RecursionError: JSON nested thousands deep
            raise InvertnetError(f"{damaged} its {key} metadata is not JSON (or is nested too deep)") from None
        if not isinstance(value, dict):
            raise InvertnetError(f"{damaged} its {key} metadata is not a JSON object")
    return Checkpoint(path, values, metadata)


def base_metadata(
    layer: str, encoder: str, config: dict[str, object], step: int, kind: str, model: str = "inverter", geometry: str | None = None,
) -> dict[str, str]:
    """The metadata every invertnet file carries (``kind``: training or generator file; ``model``: inverter, vae or autoencoder;
    ``geometry``: the encoder's, as :meth:`invertnet.encoders.Geometry.to_json` writes it, for an inverter)."""
    architecture = {"generator": f"deepsim-{layer}", "discriminator": "deepsim-conditional"}
    if layer not in TRAINABLE_LAYERS and geometry is None:
        architecture = {"generator": f"authors-early-{layer}"}
    if model != "inverter":
        architecture = {"generator": f"deepsim-{model}", "discriminator": "deepsim-unconditional"}
    return {
        "invertnet.version": __version__,
        "invertnet.kind": kind,
        "invertnet.model": model,
        "invertnet.layer": layer,
        "invertnet.encoder": encoder,
        "invertnet.architecture": json.dumps(architecture, allow_nan=False),
        "invertnet.config": json.dumps(config, sort_keys=True, allow_nan=False),
        "invertnet.step": str(step),
        **({"invertnet.geometry": geometry} if geometry is not None else {}),
    }
