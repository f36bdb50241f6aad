"""The authors' generators (``deepsim:LAYER``), imports of weights a user already has, and what is cached.

``--weights deepsim:LAYER`` names the generator Dosovitskiy & Brox released for LAYER (conv5,
fc6, fc7, fc8), trained against CaffeNet. The first use downloads the authors' release
(``release_deepsim_v0.zip``, Caffe ``generator.caffemodel`` files under ``pool5/``, ``fc6/``,
...) into torch.hub's cache, records its SHA-256 (the authors publish none; a later download
that differs is refused), converts the layer's generator once to an invertnet safetensors
file there (:func:`deepsim_path`) and reuses that file from then on. A download that is not
the release (it cannot be read, or holds no such generator) is refused and removed.

``invertnet weights import FILE --layer L`` converts a file the user already has: the release
zip, one ``generator.caffemodel``, or the upconvGAN port's PyTorch state dict
(:mod:`invertnet.upconvgan`). Every converted file records its source (URL or file, and the
SHA-256) in its metadata, which ``invertnet weights list`` shows.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .alexnet import IMAGENET_SHA256_PREFIX, IMAGENET_WEIGHTS, LAYERS, check_layer, hub_checkpoint_path
from .atomic import atomic_path
from .caffemodel import read_layers
from .checkpoint import atomic_save, base_metadata, load_checkpoint
from .downloads import cache_dir, download, file_hash
from .encoders import CAFFENET, CAFFENET_SHA1, CAFFENET_URL, EncoderSpec, caffenet_cache_path, load_encoder
from .errors import InvertnetError
from .models import Generator
from .upconvgan import HEAD, TAIL, generator_from_upconvgan

RELEASE_URL = "https://lmb.informatik.uni-freiburg.de/resources/binaries/arxiv2016_alexnet_inversion_with_gans/release_deepsim_v0.zip"
"""The authors' release of the trained generators (Caffe), as linked from their project page and used by
Evolving-AI-Lab/synthesizing and KamitaniLab's reconstruction code."""
RELEASE_FOLDERS = {"conv5": "pool5", "fc6": "fc6", "fc7": "fc7", "fc8": "fc8", "prob": "fc8"}
"""The release's folder for each layer; its one fc8 generator is offered as both ``fc8`` (reading logits) and ``prob``
(reading probabilities): which it was trained on could not be checked offline (see :data:`invertnet.alexnet.LAYERS`)."""
"""Our layer names -> the release's folders (it says pool5 for what we call conv5)."""
DEEPSIM = "deepsim:"
FORMATS = ("auto", "release", "caffemodel", "upconvgan")
SOURCES_FILE = "invertnet-sources.json"
"""In the cache: the SHA-256 of each download the first time it was seen (URL -> hex)."""
POOL5_ALIASES = {"conv6": "Rconv6", "conv7": "Rconv7", "conv8": "Rconv8"}
"""Names a Caffe pool5 generator may give its head (the port's R-prefixed names are taken as well)."""


def release_path() -> Path:
    """Where the authors' release zip is looked for and downloaded to."""
    return cache_dir() / Path(RELEASE_URL).name


def deepsim_path(layer: str) -> Path:
    """The converted authors' generator for ``layer`` in the cache."""
    return cache_dir() / f"invertnet-deepsim-{check_layer(layer)}.safetensors"


def is_deepsim(text: str | os.PathLike[str] | None) -> bool:
    """Whether a ``--weights`` value names an authors' generator (``deepsim:LAYER``)."""
    return isinstance(text, str) and text.startswith(DEEPSIM)


def deepsim_layer(text: str) -> str:
    """The layer of ``deepsim:LAYER``, checked."""
    layer = text[len(DEEPSIM) :]
    if layer not in LAYERS:
        raise InvertnetError(f"--weights {text!r}: the authors released generators for {', '.join(DEEPSIM + name for name in LAYERS)}")
    return layer


def _port_state_from_caffemodel(path: Path, layer: str) -> dict[str, torch.Tensor]:
    """The generator's layers of a Caffe ``generator.caffemodel`` in the port's layout (transposed 3x3 layers, biases)."""
    layers = read_layers(path)
    for caffe_name, port_name in POOL5_ALIASES.items():
        if caffe_name in layers and port_name not in layers:
            layers[port_name] = layers.pop(caffe_name)
    state: dict[str, torch.Tensor] = {}
    names = (*HEAD["conv5" if layer == "conv5" else "fc6"], *TAIL)
    missing = [name for name in names if name not in layers]
    if missing:
        raise InvertnetError(f"{path} is not the authors' {layer} generator: it has no layer {', '.join(missing)} (its layers: {', '.join(layers)})")
    for name in names:
        found = layers[name]
        weight = found.blobs[0]
        if found.type == "InnerProduct":
            weight = weight.reshape(weight.shape[-2:])  # legacy blobs are (1, 1, out, in)
        elif found.type == "Convolution" and name in TAIL:  # a 3x3 convolution in Caffe: the port stores its transposed twin
            weight = weight.flip(2, 3).transpose(0, 1)
        outputs = weight.shape[1] if name in TAIL else weight.shape[0]  # tail layers are transposed: (in, out, k, k)
        state[f"{name}.weight"] = weight.contiguous()
        state[f"{name}.bias"] = found.blobs[1].reshape(-1) if len(found.blobs) > 1 else torch.zeros(outputs)  # bias_term: false
    return state


def generator_from_caffemodel(path: str | os.PathLike[str], layer: str) -> Generator:
    """The authors' generator for ``layer`` from a Caffe ``generator.caffemodel``."""
    return generator_from_upconvgan(_port_state_from_caffemodel(Path(path), layer), layer)


def generator_from_release(path: str | os.PathLike[str], layer: str) -> Generator:
    """The authors' generator for ``layer`` from their release zip (``.../<folder>/generator.caffemodel``)."""
    path, folder = Path(path), RELEASE_FOLDERS[check_layer(layer)]
    try:
        with zipfile.ZipFile(path) as archive:
            members = [name for name in archive.namelist() if name.endswith("generator.caffemodel")]
            wanted = [name for name in members if Path(name).parent.name == folder]
            if not wanted:
                raise InvertnetError(
                    f"{path} holds no {folder}/generator.caffemodel (the {layer} generator); "
                    f"its generators: {', '.join(members) or 'none'}"
                )
            with tempfile.TemporaryDirectory(dir=path.parent, prefix=".invertnet-unzip-") as scratch:
                target = Path(scratch) / "generator.caffemodel"
                with archive.open(wanted[0]) as member, open(target, "wb") as handle:
                    shutil.copyfileobj(member, handle, 1 << 20)
                return generator_from_caffemodel(target, layer)
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise InvertnetError(f"{path} is not a readable zip file: {error}") from None


def generator_from_port_file(path: str | os.PathLike[str], layer: str) -> Generator:
    """The authors' generator for ``layer`` from the upconvGAN port's state dict (``.pt``/``.pth``, or ``.safetensors``)."""
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)  # never unpickle code
    except Exception as error:  # any parse failure of a user-supplied file is an input error
        raise InvertnetError(f"cannot read {path} as a PyTorch state dict: {error}") from None
    if not isinstance(state, dict) or not all(isinstance(value, torch.Tensor) for value in state.values()):
        raise InvertnetError(f"{path} does not hold a state dict of tensors")
    return generator_from_upconvgan(state, layer)


def detect_format(path: Path) -> str:
    """``release`` for a zip, ``caffemodel`` for a .caffemodel, ``upconvgan`` for a PyTorch file."""
    if path.suffix == ".zip":
        return "release"
    if path.suffix == ".caffemodel":
        return "caffemodel"
    if path.suffix in (".pt", ".pth", ".safetensors"):
        return "upconvgan"
    raise InvertnetError(f"cannot tell the format of {path} from its name: pass --format {', '.join(FORMATS[1:])}")


READERS = {"release": generator_from_release, "caffemodel": generator_from_caffemodel, "upconvgan": generator_from_port_file}


def read_generator(path: str | os.PathLike[str], layer: str, fmt: str = "auto") -> Generator:
    """The authors' generator for ``layer`` from a file in format ``fmt`` (see :data:`FORMATS`)."""
    path = Path(path)
    if fmt not in FORMATS:
        raise InvertnetError(f"unknown --format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if not path.is_file():
        raise InvertnetError(f"no such file: {path}")
    return READERS[detect_format(path) if fmt == "auto" else fmt](path, check_layer(layer))


def save_generator(generator: Generator, path: Path, source: dict[str, str], encoder: str = CAFFENET) -> Path:
    """Write an authors' generator as an invertnet generator file for ``encoder`` (the identity of a CaffeNet), its source in the metadata."""
    metadata = base_metadata(generator.layer, encoder, {"loss_config": {"preset": "deepsim (authors' release)"}}, 0, "generator")
    metadata["invertnet.source"] = json.dumps(source, sort_keys=True)
    tensors = {f"generator.{name}": value for name, value in generator.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_save(tensors, metadata, path)


def import_weights(
    path: str | os.PathLike[str], layer: str, fmt: str = "auto", out: str | os.PathLike[str] | None = None, encoder: str = CAFFENET
) -> Path:
    """Convert a file the user has into an invertnet generator: ``out``, or the cache's ``deepsim:LAYER``.

    ``encoder`` is the CaffeNet the generator is to be run with (``--alexnet``): ``caffenet`` for the
    authors' generators; another (``caffenet:PATH``, ``caffenet:random:SEED``) only with ``out``,
    so ``deepsim:LAYER`` always means the authors' pairing.
    """
    path = Path(path)
    if EncoderSpec.parse(encoder).family != CAFFENET:
        raise InvertnetError(f"--alexnet {encoder}: the authors' generators make CaffeNet's crops and colours (227x227); name a caffenet encoder")
    if encoder != CAFFENET and out is None:
        raise InvertnetError(f"--alexnet {encoder} needs --out: the cache's {DEEPSIM}{layer} is the authors' generator for caffenet")
    identity = encoder if encoder == CAFFENET else load_encoder(encoder).identity
    generator = read_generator(path, layer, fmt)
    source = {"file": str(path.resolve()), "sha256": file_hash(path), "format": detect_format(path) if fmt == "auto" else fmt}
    return save_generator(generator, Path(out) if out is not None else deepsim_path(layer), source, identity)


def _recorded() -> dict[str, str]:
    path = cache_dir() / SOURCES_FILE
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _record(url: str, digest: str) -> None:
    recorded = {**_recorded(), url: digest}
    with atomic_path(cache_dir() / SOURCES_FILE) as tmp:
        tmp.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n")


def fetch_deepsim(layer: str) -> Path:
    """The converted authors' generator for ``layer``: from the cache, else converted from the release (downloaded if missing)."""
    target = deepsim_path(layer)
    if target.is_file():
        return target
    archive = release_path()
    where = (
        f"download {RELEASE_URL} and put it at {archive} (the folder follows TORCH_HOME), "
        f"or run `invertnet weights import release_deepsim_v0.zip --layer {layer}` where you have it"
    )
    fresh = not archive.is_file()
    if fresh:
        download(RELEASE_URL, archive, what=f"the authors' {layer} generator ({archive.name})", where=where)
    digest, recorded = file_hash(archive), _recorded().get(RELEASE_URL)
    problem = ""
    if recorded is not None and recorded != digest:
        problem = f"its SHA-256 {digest[:16]}... differs from the {recorded[:16]}... recorded when it was first downloaded"
    else:
        try:
            generator = generator_from_release(archive, layer)
        except InvertnetError as error:
            problem = str(error)
    if problem:
        if fresh:
            archive.unlink()
            raise InvertnetError(f"the download of {RELEASE_URL} is not the authors' release ({problem}); removed it")
        raise InvertnetError(f"{archive} is not usable ({problem}): delete it to download it again, or {where}")
    if recorded is None:
        _record(RELEASE_URL, digest)
    member = f"{RELEASE_FOLDERS[layer]}/generator.caffemodel"
    return save_generator(generator, target, {"url": RELEASE_URL, "member": member, "sha256": digest, "format": "release"})


@dataclass
class KnownWeights:
    """One row of ``invertnet weights list``."""

    name: str
    kind: str  # "generator" | "encoder" | "download"
    encoder: str
    cached: bool
    path: str
    sha256: str = ""
    source: str = ""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _generator_row(name: str, path: Path) -> KnownWeights:
    if not path.is_file():
        return KnownWeights(name, "generator", CAFFENET if name.startswith(DEEPSIM) else "-", False, str(path))
    try:
        checkpoint = load_checkpoint(path)
    except InvertnetError as error:
        return KnownWeights(name, "generator", "?", True, str(path), source=f"unreadable: {error}")
    source = json.loads(checkpoint.metadata.get("invertnet.source", "{}"))
    origin = source.get("url", source.get("file", f"trained, step {checkpoint.step}"))
    if source.get("member"):
        origin += f" ({source['member']})"
    return KnownWeights(name, "generator", checkpoint.alexnet, True, str(path), source.get("sha256", ""), origin)


def known_weights(weights_folder: Path) -> list[KnownWeights]:
    """Every generator and encoder invertnet knows, and whether each is on this machine."""
    rows = [_generator_row(f"weights/{layer}", weights_folder / f"{layer}.safetensors") for layer in LAYERS]
    rows += [_generator_row(f"{DEEPSIM}{layer}", deepsim_path(layer)) for layer in LAYERS]
    archive = release_path()
    rows.append(KnownWeights("release_deepsim_v0.zip", "download", CAFFENET, archive.is_file(), str(archive), _recorded().get(RELEASE_URL, ""), RELEASE_URL))
    rows.append(KnownWeights(CAFFENET, "encoder", CAFFENET, caffenet_cache_path().is_file(), str(caffenet_cache_path()), f"sha1:{CAFFENET_SHA1}", CAFFENET_URL))
    imagenet = hub_checkpoint_path()
    rows.append(KnownWeights("imagenet", "encoder", "imagenet", imagenet.is_file(), str(imagenet), f"{IMAGENET_SHA256_PREFIX}...", IMAGENET_WEIGHTS.url))
    return rows
