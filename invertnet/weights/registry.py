"""The authors' models (``deepsim:NAME``), imports of weights a user already has, and what is cached.

``--weights deepsim:NAME`` names a generator Dosovitskiy & Brox released, trained against
CaffeNet (:data:`AUTHORS_MODELS`: norm1, norm2, conv3, conv4, conv5, fc6, fc6_eucl, fc7, fc8, and
prob, the fc8 generator fed probabilities). Each has one or two sources (:mod:`invertnet.files.sources`),
tried in order: ``hf``, the upconvGAN port's file on Hugging Face (one model, alive, every
model), then ``release``, the authors' 2016 zip of Caffe files (for conv5, fc6 and fc7, the
generators public scripts take from it). The first source that works is converted once into an
invertnet safetensors file in torch.hub's cache (:func:`deepsim_path`), which records the
source, its URL and the raw file's SHA-256, and is reused from then on.

``invertnet weights import FILE`` converts a file the user already has: the release zip (or a
zip of one model's folder), one ``generator.caffemodel``, or the port's PyTorch state dict
(:mod:`invertnet.weights.upconvgan`).
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..encoders import CAFFENET, EncoderSpec, caffenet_sources, load_encoder
from ..encoders.alexnet import IMAGENET_SHA256_PREFIX, IMAGENET_WEIGHTS, LAYERS, check_layer, hub_checkpoint_path
from ..encoders.caffenet import INPUT_SIZE, RGB_MEAN, CaffeNet
from ..errors import InvertnetError
from ..files.atomic import check_not_input, check_writable
from ..files.caffemodel import CaffeLayer, parse_layers, read_layers
from ..files.downloads import cache_dir, file_hash, read_state_dict
from ..files.guarded import open_input
from ..files.sources import SOURCES_FILE, Source, first_usable, recorded
from ..models.kinds import inverter_generator
from ..names import DEEPSIM, FORMATS, SOURCE_NAMES
from .checkpoint import atomic_save, base_metadata, load_checkpoint
from .upconvgan import AnyGenerator, generator_from_upconvgan, port_layout

RELEASE_URL = "https://lmb.informatik.uni-freiburg.de/resources/binaries/arxiv2016_alexnet_inversion_with_gans/release_deepsim_v0.zip"
"""The authors' 2016 release of trained generators (Caffe), as Evolving-AI-Lab/synthesizing's ``download.sh`` fetches it."""
RELEASE_FILE = "release_deepsim_v0.zip"
PORT_URL = "https://huggingface.co/binxu/DeePSim_DosovitskiyBrox2016/resolve/main/"
"""The upconvGAN port's files (``model_urls`` in Animadversio/Neuro-ActMax-GAN-comparison ``core/utils/GAN_utils.py``)."""
ALL_DEEPSIM = "deepsim"
"""``--weights deepsim``: the authors' generator of the layer asked for (every layer, in ``figure layers``)."""
SOURCE_FORMATS = {"hf": "upconvgan", "release": "release"}
"""The format of each generator source's file (see :data:`FORMATS`)."""
POOL5_ALIASES = {"conv6": "Rconv6", "conv7": "Rconv7", "conv8": "Rconv8"}
"""Names a Caffe pool5 generator may give its head (the port's R-prefixed names are taken as well)."""
MEMBER_MARGIN = 1.5
"""A zip member is read only up to this many times the size of the generator's weights (and 16 MiB more)."""


@dataclass(frozen=True)
class AuthorsModel:
    """One generator the authors released: ``deepsim:NAME`` inverts ``layer`` of CaffeNet."""

    name: str
    layer: str
    port: str
    """The port's name for it: its file is ``upconvGAN_<port>.pt``."""
    release: str | None
    """Its folder in the release zip, or None where no public source shows it there."""
    label: str
    """How ``eval`` names it (the paper's row where one is known)."""

    def sources(self) -> list[Source]:
        """Where it comes from, in the order tried."""
        found = [Source("hf", f"{PORT_URL}upconvGAN_{self.port}.pt", f"upconvGAN_{self.port}.pt")]
        if self.release is not None:
            found.append(Source("release", RELEASE_URL, RELEASE_FILE))
        return found


_DEEPSIM = "DeePSiM (authors')"
_EARLY = "authors' early-layer generator"
AUTHORS_MODELS: dict[str, AuthorsModel] = {
    model.name: model
    for model in (
        AuthorsModel("norm1", "norm1", "norm1", None, _EARLY),
        AuthorsModel("norm2", "norm2", "norm2", None, _EARLY),
        AuthorsModel("conv3", "conv3", "conv3", None, _EARLY),
        AuthorsModel("conv4", "conv4", "conv4", None, _EARLY),
        AuthorsModel("conv5", "conv5", "pool5", "pool5", _DEEPSIM),
        AuthorsModel("fc6", "fc6", "fc6", "fc6", _DEEPSIM),
        AuthorsModel("fc6_eucl", "fc6", "fc6_eucl", None, "DeePSiM, image loss (authors'; Table 2 'Our image loss', Fig. 1b)"),
        AuthorsModel("fc7", "fc7", "fc7", "fc7", _DEEPSIM),
        AuthorsModel("fc8", "fc8", "fc8", None, _DEEPSIM),
        AuthorsModel("prob", "prob", "fc8", None, "DeePSiM (authors' fc8 generator fed probabilities)"),
    )
}
"""The authors' models by name. conv5 is the port's and release's pool5; fc6_eucl is the fc6 generator
trained with the Euclidean image loss alone; prob runs the fc8 generator on fc8's softmax (it was trained on
the logits: docs/weights.md)."""
LAYER_MODELS = tuple(name for name in AUTHORS_MODELS if name in LAYERS and name != "prob")
"""One authors' generator per layer, norm1 to fc8: what ``figure layers --weights deepsim`` draws."""


def authors_model(name: str) -> AuthorsModel:
    """The model ``deepsim:NAME`` (or NAME) names, checked."""
    key = name.removeprefix(DEEPSIM)
    if key not in AUTHORS_MODELS:
        raise InvertnetError(f"{name!r}: the authors released {', '.join(DEEPSIM + model for model in AUTHORS_MODELS)}")
    return AUTHORS_MODELS[key]


def is_authors_layer(layer: str) -> bool:
    """Whether the authors released a generator for CaffeNet's ``layer`` (``deepsim:LAYER``)."""
    return layer in AUTHORS_MODELS


def deepsim_path(name: str) -> Path:
    """The converted authors' generator ``name`` in the cache."""
    return cache_dir() / f"invertnet-deepsim-{authors_model(name).name}.safetensors"


def release_path() -> Path:
    """Where the authors' release zip is looked for and downloaded to."""
    return cache_dir() / RELEASE_FILE


def is_deepsim(text: str | os.PathLike[str] | None) -> bool:
    """Whether a ``--weights`` value names the authors' generators (``deepsim:NAME``, or ``deepsim`` for the layer's)."""
    return isinstance(text, str) and (text.startswith(DEEPSIM) or text == ALL_DEEPSIM)


def expand_deepsim(values: list[str]) -> list[str]:
    """``deepsim`` in a list of names stands for the authors' generator of every layer (:data:`LAYER_MODELS`)."""
    return [name for value in values for name in ([DEEPSIM + model for model in LAYER_MODELS] if value == ALL_DEEPSIM else [value])]


def deepsim_name(text: str, layer: str | None = None) -> str:
    """The model a ``--weights`` value names: ``deepsim:NAME``, or ``deepsim`` with ``layer`` (its generator)."""
    if text == ALL_DEEPSIM:
        if layer is None:
            raise InvertnetError("--weights deepsim takes the authors' generator of --layer: give --layer, or name one (deepsim:fc6, ...)")
        return authors_model(layer).name
    return authors_model(text).name


def _weights_bytes(layer: str | None) -> int:
    """The bytes of a generator's float32 weights (what a file of it holds, give or take its tail biases); None: CaffeNet's."""
    with torch.device("meta"):
        network = CaffeNet() if layer is None else inverter_generator(layer, RGB_MEAN, INPUT_SIZE)
    return 4 * sum(p.numel() for p in network.parameters())


def _origin(path: Path, fmt: str) -> str:
    return {"release": f"the zip {path}", "caffemodel": f"the Caffe file {path}", "upconvgan": f"the upconvGAN port's file {path}"}[fmt]


def _port_state_from_layers(layers: dict[str, CaffeLayer], layer: str, origin: str) -> dict[str, torch.Tensor]:
    """A Caffe generator's layers in the port's layout (its 3x3 layers transposed where the port's are, all with biases)."""
    for caffe_name, port_name in POOL5_ALIASES.items():
        if caffe_name in layers and port_name not in layers:
            layers[port_name] = layers.pop(caffe_name)
    layout = port_layout(layer)
    missing = [name for name, _ in layout if name not in layers]
    if missing:
        found = ", ".join(layers)[:300]
        raise InvertnetError(f"{origin} is not the authors' {layer} generator: it has no layer {', '.join(missing)} (its layers: {found})")
    state: dict[str, torch.Tensor] = {}
    try:
        for name, kind in layout:
            found = layers[name]
            weight = found.blobs[0]
            if weight.dim() != 4 and not (found.type == "InnerProduct" and weight.dim() == 2):  # Caffe's blobs are 4-D, or 2-D
                raise InvertnetError(
                    f"{origin} is not the authors' {layer} generator: its layer {name} holds weights of shape {tuple(weight.shape)}"
                )
            if found.type == "InnerProduct":
                weight = weight.reshape(weight.shape[-2:])  # legacy blobs are (1, 1, out, in)
            elif (kind == "transposed") != (found.type == "Deconvolution") and weight.dim() == 4 and weight.shape[-1] == 3:
                weight = weight.flip(2, 3).transpose(0, 1)  # the port keeps the other of the two equivalent 3x3 forms
            outputs = weight.shape[1] if kind == "transposed" else weight.shape[0]
            state[f"{name}.weight"] = weight.contiguous()
            state[f"{name}.bias"] = found.blobs[1].reshape(-1) if len(found.blobs) > 1 else torch.zeros(outputs)  # bias_term: false
    except (IndexError, RuntimeError) as error:
        raise InvertnetError(f"{origin} is not the authors' {layer} generator: a layer has the wrong shape ({error})") from None
    return state


def generator_bytes_bound(layer: str) -> int:
    """The most bytes a file of one generator for ``layer`` is read to: :data:`MEMBER_MARGIN` times its weights, and 16 MiB more."""
    return int(_weights_bytes(layer) * MEMBER_MARGIN) + (16 << 20)


def generator_from_caffemodel(path: str | os.PathLike[str], layer: str) -> AnyGenerator:
    """The authors' generator for ``layer`` from a Caffe ``generator.caffemodel``."""
    origin = _origin(Path(path), "caffemodel")
    layers = read_layers(path, max_bytes=generator_bytes_bound(check_layer(layer)))
    return generator_from_upconvgan(_port_state_from_layers(layers, layer, origin), layer, origin)


def generator_from_zip(path: str | os.PathLike[str], model: str) -> AnyGenerator:
    """The authors' generator ``model`` from a zip holding ``<folder>/generator.caffemodel``: the release, or one model's zip.

    The member is read into memory, at most :data:`MEMBER_MARGIN` times the generator's size: nothing is
    written beside the zip, which may be in a read-only folder.
    """
    path, found = Path(path), authors_model(model)
    folders = {found.port, found.name} | ({found.release} if found.release else set())
    origin = _origin(path, "release")
    try:
        with open_input(path, "the zip") as handle, zipfile.ZipFile(handle) as archive:
            members = [info for info in archive.infolist() if info.filename.endswith("generator.caffemodel")]
            wanted = [info for info in members if Path(info.filename).parent.name in folders]
            if not wanted:
                raise InvertnetError(
                    f"{origin} holds no {'/'.join(sorted(folders))}/generator.caffemodel (the {found.name} generator); "
                    f"its generators: {', '.join(info.filename for info in members) or 'none'}"
                )
            limit = generator_bytes_bound(found.layer)
            if wanted[0].file_size > limit:
                size = wanted[0].file_size
                raise InvertnetError(
                    f"{origin}: {wanted[0].filename} would unpack to {size:,} bytes, more than a {found.layer} generator's {limit:,}"
                )
            with archive.open(wanted[0]) as member:
                data = member.read(limit + 1)
            if len(data) > limit:
                raise InvertnetError(f"{origin}: {wanted[0].filename} unpacks to more than a {found.layer} generator's {limit:,} bytes")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, OSError, EOFError) as error:
        raise InvertnetError(f"{path} is not a readable zip file: {error}") from None
    layers = parse_layers(data, f"{path}:{wanted[0].filename}")
    return generator_from_upconvgan(_port_state_from_layers(layers, found.layer, origin), found.layer, origin)


def generator_from_port_file(path: str | os.PathLike[str], layer: str) -> AnyGenerator:
    """The authors' generator for ``layer`` from the upconvGAN port's state dict (``.pt``/``.pth``, or ``.safetensors``)."""
    path = Path(path)
    state = read_state_dict(path, "the upconvGAN port's generator", max_bytes=generator_bytes_bound(check_layer(layer)))
    if not all(isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in state.items()):
        raise InvertnetError(f"{path} does not hold a state dict of tensors")
    return generator_from_upconvgan(state, check_layer(layer), _origin(path, "upconvgan"))


def detect_format(path: Path) -> str:
    """``release`` for a zip, ``caffemodel`` for a .caffemodel, ``upconvgan`` for a PyTorch file."""
    if path.suffix == ".zip":
        return "release"
    if path.suffix == ".caffemodel":
        return "caffemodel"
    if path.suffix in (".pt", ".pth", ".safetensors"):
        return "upconvgan"
    raise InvertnetError(f"cannot tell the format of {path} from its name: pass --format {', '.join(FORMATS[1:])}")


def read_generator(path: str | os.PathLike[str], model: str, fmt: str = "auto") -> AnyGenerator:
    """The authors' generator ``model`` (a name of :data:`AUTHORS_MODELS`) from a file in format ``fmt`` (see :data:`FORMATS`)."""
    path, found = Path(path), authors_model(model)
    if fmt not in FORMATS:
        raise InvertnetError(f"unknown --format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if not path.is_file():
        raise InvertnetError(f"no such file: {path}")
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "release":
        return generator_from_zip(path, found.name)
    return (generator_from_caffemodel if fmt == "caffemodel" else generator_from_port_file)(path, found.layer)


def save_generator(generator: AnyGenerator, path: Path, source: dict[str, str], model: str, encoder: str = CAFFENET) -> Path:
    """Write an authors' generator as an invertnet generator file for ``encoder`` (a CaffeNet's identity), its source in the metadata."""
    found = authors_model(model)
    config = {"loss_config": {"preset": found.label}, "authors_model": found.name}
    metadata = base_metadata(found.layer, encoder, config, 0, "generator")
    metadata["invertnet.source"] = json.dumps({**source, "model": found.name}, sort_keys=True, allow_nan=False)
    tensors = {f"generator.{name}": value for name, value in generator.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_save(tensors, metadata, path)


def import_weights(
    path: str | os.PathLike[str], model: str, fmt: str = "auto", out: str | os.PathLike[str] | None = None, encoder: str = CAFFENET
) -> Path:
    """Convert a file the user has into an invertnet generator: ``out``, or the cache's ``deepsim:MODEL``.

    ``encoder`` is the CaffeNet the generator is to be run with (``--encoder``): ``caffenet`` for the
    authors' generators; another (``caffenet:PATH``, ``caffenet:random:SEED``) only with ``out``,
    so ``deepsim:MODEL`` always means the authors' pairing.
    """
    path, found = Path(path), authors_model(model)
    if EncoderSpec.parse(encoder).family != CAFFENET:
        raise InvertnetError(
            f"--encoder {encoder}: the authors' generators make CaffeNet's crops and colours (227x227); name a caffenet encoder"
        )
    if encoder != CAFFENET and out is None:
        raise InvertnetError(f"--encoder {encoder} needs --out: the cache's {DEEPSIM}{found.name} is the authors' generator for caffenet")
    target = Path(out) if out is not None else deepsim_path(found.name)
    check_not_input(target, [path])
    identity = encoder if encoder == CAFFENET else load_encoder(encoder).identity
    generator = read_generator(path, found.name, fmt)
    fmt = detect_format(path) if fmt == "auto" else fmt
    source = {"source": "file", "file": str(path.resolve()), "sha256": file_hash(path), "format": fmt}
    return save_generator(generator, target, source, found.name, identity)


def _source_record(metadata: dict[str, str]) -> dict[str, str]:
    """What a converted generator's metadata says it came from (empty for a file without that record)."""
    try:
        value = json.loads(metadata.get("invertnet.source", "{}"))
    except (ValueError, RecursionError):
        return {}
    return {str(key): str(item) for key, item in value.items()} if isinstance(value, dict) else {}


def recorded_source(path: Path) -> dict[str, str]:
    """What a converted generator file says it came from, read from its metadata alone (empty if unreadable)."""
    try:
        return _source_record(load_checkpoint(path, tensors=False).metadata)
    except InvertnetError:
        return {}


def model_sources(name: str, source: str | None = None) -> list[Source]:
    """The sources of ``deepsim:NAME`` in the order tried; ``source``: that one alone (refused where the model has none)."""
    found = authors_model(name)
    sources = found.sources()
    if source is None:
        return sources
    if source not in SOURCE_NAMES:
        raise InvertnetError(f"unknown --source {source!r}: choose one of {', '.join(SOURCE_NAMES)}")
    chosen = [s for s in sources if s.name == source]
    if not chosen:
        why = ""
        if source == "release":
            why = " (public scripts take pool5, fc6 and fc7 from the release; no source shows other generators in it)"
        raise InvertnetError(f"{DEEPSIM}{found.name} has no {source} source{why}: its sources are {', '.join(s.name for s in sources)}")
    return chosen


def _check_cache_writable(name: str) -> None:
    """Refuse at once, before any download or conversion, a cache that cannot take the converted generator."""
    folder = cache_dir()
    try:
        check_writable(folder, folder=True, flag="the weights cache")
    except InvertnetError as error:
        raise InvertnetError(
            f"{error}, so {DEEPSIM}{name} cannot be kept there: "
            f"set TORCH_HOME to a writable folder, or convert a copy you have with "
            f"`invertnet weights import FILE --as {DEEPSIM}{name} --out PATH` and pass --weights PATH"
        ) from None


def fetch_deepsim(name: str, source: str | None = None) -> Path:
    """The converted authors' generator ``name``: from the cache, else converted from its first usable source (downloaded once).

    ``source`` (``hf``, ``release``) takes it from that source alone, converting it again if the cached
    file came from another.
    """
    found = authors_model(name)
    target, sources = deepsim_path(found.name), model_sources(found.name, source)
    if target.is_file() and (source is None or recorded_source(target).get("source") == source):
        return target
    hint = f"or convert a copy you have: invertnet weights import FILE --as {DEEPSIM}{found.name}"
    _check_cache_writable(found.name)
    read = lambda source, path: read_generator(path, found.name, SOURCE_FORMATS[source.name])  # noqa: E731
    got = first_usable(sources, f"the authors' {found.name} generator", read, hint)
    record = {"source": got.source.name, "url": got.source.url, "sha256": got.sha256, "format": SOURCE_FORMATS[got.source.name]}
    if got.source.name == "release":
        record["member"] = f"{found.release}/generator.caffemodel"
    return save_generator(got.value, target, record, found.name)


@dataclass
class KnownWeights:
    """One row of ``invertnet weights list``: a generator, an encoder, or a source's raw file (docs/outputs.md has each field)."""

    name: str
    kind: str  # "generator" | "encoder" | "source"
    encoder: str | None
    cached: bool
    path: str
    default: bool = False
    """The file a layer's generator is read from without --weights."""
    hash_algorithm: str | None = None  # "sha256" | "sha1"
    hash: str | None = None
    """The full digest: published (the zoo's SHA-1), recorded at first use, or a converted generator's source's."""
    hash_prefix: str | None = None
    """What a name promises where the full digest is not known (torchvision's ``alexnet-owt-7be5be79``)."""
    origin: str | None = None  # "hf" | "release" | "zoo" | "torchvision" | "file" | "trained"
    url: str | None = None
    step: int | None = None
    """A trained generator's step."""
    problem: str | None = None
    """Why a file here cannot be used, or the record of hashes is damaged."""
    size: int | None = None
    """Bytes on disk when cached; for an absent port file, its weights' size (an estimate: ``cached`` is false)."""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def hash_text(self) -> str:
        """The digest as the table shows it: algorithm and a prefix."""
        if self.hash is not None:
            return f"{self.hash_algorithm}:{self.hash[:12]}"
        return f"{self.hash_algorithm}:{self.hash_prefix}..." if self.hash_prefix else ""

    def origin_text(self, url: bool = True) -> str:
        """Where it comes from, as the table shows it (with its URL, or the source's name alone)."""
        if self.problem is not None:
            return self.problem
        if self.origin == "trained":
            return f"trained, step {self.step}"
        return ": ".join(part for part in (self.origin, self.url if url else None) if part)


def _generator_row(name: str, path: Path, default: bool = False) -> KnownWeights:
    encoder = CAFFENET if name.startswith(DEEPSIM) else None
    if not path.is_file():
        return KnownWeights(name, "generator", encoder, False, str(path), default)
    try:
        checkpoint = load_checkpoint(path, tensors=False)  # a listing reads metadata, not hundreds of MB of weights
    except InvertnetError as error:
        return KnownWeights(name, "generator", encoder, True, str(path), default, problem=f"unreadable: {error}", size=path.stat().st_size)
    source = _source_record(checkpoint.metadata)
    digest = source.get("sha256")
    found = KnownWeights(name, "generator", checkpoint.encoder, True, str(path), default, "sha256" if digest else None, digest or None,
                         size=path.stat().st_size)
    if source.get("source") in SOURCE_NAMES or source.get("source") == "file":
        found.origin, found.url = source["source"], source.get("url", source.get("file"))
        if source.get("member"):
            found.url = f"{found.url}#{source['member']}"
    else:
        found.origin, found.step = "trained", checkpoint.step
    return found


def _source_row(source: Source, encoder: str, estimate: int | None, records: dict[str, str] | None) -> KnownWeights:
    path = source.path
    here = path.is_file()
    row = KnownWeights(f"{source.name}:{path.name}", "source", encoder, here, str(path), origin=source.name, url=source.url,
                       size=path.stat().st_size if here else estimate)
    if source.sha1:
        row.hash_algorithm, row.hash = "sha1", source.sha1
    elif records is None:
        row.hash_algorithm, row.problem = "sha256", f"the record of hashes ({SOURCES_FILE}) is damaged"
    elif source.url in records:
        row.hash_algorithm, row.hash = "sha256", records[source.url]
    return row


def known_weights(defaults: dict[str, Path]) -> list[KnownWeights]:
    """Every generator and encoder invertnet knows, every source of the authors' models, and what is on this machine;
    ``defaults``: the file each layer's default generator is (or would be) read from."""
    rows = [_generator_row(layer, path, default=True) for layer, path in defaults.items()]
    rows += [_generator_row(f"{DEEPSIM}{name}", deepsim_path(name)) for name in AUTHORS_MODELS]
    try:
        records: dict[str, str] | None = recorded()
    except InvertnetError:  # listed as damaged; fetch says why and how to reset it
        records = None
    seen: set[str] = set()
    for model in AUTHORS_MODELS.values():
        for source in model.sources():
            if source.filename not in seen:
                seen.add(source.filename)
                estimate = _weights_bytes(model.layer) if source.name == "hf" else None
                rows.append(_source_row(source, CAFFENET, estimate, records))
    rows += [_source_row(source, CAFFENET, _weights_bytes(None), records) for source in caffenet_sources()]
    imagenet = hub_checkpoint_path()
    size = imagenet.stat().st_size if imagenet.is_file() else None
    rows.append(KnownWeights("imagenet", "encoder", "imagenet", size is not None, str(imagenet), hash_algorithm="sha256",
                             hash_prefix=IMAGENET_SHA256_PREFIX, origin="torchvision", url=IMAGENET_WEIGHTS.url, size=size))
    return rows
