"""The words a user types, in one torch-free place: layers, precisions, presets, sources, and the defaults
shown in ``--help``.

The library modules that give each word its meaning import it from here, and so does the command line,
which lists them as choices without importing torch (``invertnet --help`` answers in a fraction of a second).
"""

from __future__ import annotations

from dataclasses import dataclass

LAYERS: tuple[str, ...] = ("norm1", "norm2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8", "prob")
"""Invertible layers, in network order, each with the processing that follows it in Caffe.

The paper "include[s] processing steps following the layer, that is, pooling and
non-linearities" (section 4.1): conv5 is pool5, fc6 and fc7 are rectified (relu6, relu7), fc8
is the logits and ``prob`` their softmax, which by that rule is the paper's FC8 (its abstract
speaks of "the predicted class probabilities"). The authors' released fc8 generator reads the
logits (docs/weights.md has the evidence), so ``fc8`` is the default; ``prob`` is offered for
the comparison. norm1 and norm2 (pool, then local response normalisation) and conv3, conv4
(rectified in place) are taps of CaffeNet alone, for the authors' generators of those layers
(:data:`CAFFENET_ONLY_LAYERS`).
"""
TRAINABLE_LAYERS: tuple[str, ...] = ("conv5", "fc6", "fc7", "fc8", "prob")
"""The layers invertnet trains generators for: the paper's Table 1 architecture covers CONV5 to FC8."""
CAFFENET_ONLY_LAYERS: tuple[str, ...] = ("norm1", "norm2", "conv3", "conv4")
"""CaffeNet's taps below conv5 (torchvision's AlexNet has no LRN, and its conv4 is 256 wide).

The authors' generators for them run; invertnet trains none."""

INVERTER, VAE_KIND, AUTOENCODER = "inverter", "vae", "autoencoder"
MODEL_KINDS = (INVERTER, VAE_KIND, AUTOENCODER)
DEFAULT_LAMBDA_KL = 20.0
"""The KL weight the paper found to work (section 4.2)."""

PRECISIONS = ("auto", "fp32", "bf16")
CROP_NAMES = ("torchvision", "caffe")
SPLITS = ("train", "val")
SYNTHETIC = "synthetic"

LOSS_PRESETS: dict[str, tuple[bool, bool, bool]] = {
    "image": (False, False, True),  # image-space loss alone: with Table 1's generator, Table 2's "Our image loss" row
    "adv+image": (False, True, True),
    "feat+image": (True, False, True),
    "feat+adv": (True, True, False),
    "full": (True, True, True),
}
"""Which of (feature, adversarial, image) terms each preset of Fig. 1 switches on."""
COMPARATORS = ("conv5", "fc6", "random-conv5", "none")
IMAGE_LOSSES = {"l2": 2e-6, "l1": 6e-5, "ms-ssim": 1000.0}
"""The image-space terms and their default weights."""
SCRIPT_GATE, PAPER_GATE = "script", "paper"
GATES = (SCRIPT_GATE, PAPER_GATE)
PAPER_MILESTONES = (300_000, 500_000, 700_000, 900_000, 1_100_000)
PAPER_GAMMA = 0.5
PRESETS = ("default", "paper")
"""``--preset`` of train and eval: the project's defaults, or the authors' settings as far as they are known."""

CAFFENET = "caffenet"
DEEPSIM = "deepsim:"
AUTHORS_NAMES = ("norm1", "norm2", "conv3", "conv4", "conv5", "fc6", "fc6_eucl", "fc7", "fc8", "prob")
"""The authors' models, ``deepsim:NAME`` (what each is: :data:`invertnet.weights.registry.AUTHORS_MODELS`)."""
CURATED_NETWORKS = ("vgg16", "resnet50", "vit_b_16")
"""torchvision's classifiers with curated layer names, the tested ones (:mod:`invertnet.encoders.classifiers`); any other
classifier in torchvision's registry loads by its name too."""
SOURCE_NAMES = ("hf", "release", "zoo")
FORMATS = ("auto", "release", "caffemodel", "upconvgan")
WEIGHTS_ENV = "INVERTNET_WEIGHTS"

SPEC_HELP = (
    "The network whose features are inverted. AlexNet: imagenet (torchvision's weights), a state-dict PATH, random:SEED, "
    "random-torchvision:SEED; CaffeNet (the paper's, 227x227): caffenet, caffenet:PATH, caffenet:random:SEED; torchvision's "
    "vgg16, resnet50, vit_b_16 or any classifier it names, each NAME (ImageNet weights), NAME:PATH or NAME:random:SEED. "
    "invertnet layers SPEC lists its layers."
)
DEVICE_HELP = "auto (CUDA if there is one, else the CPU), cpu, cuda or cuda:N (the N-th GPU)."

MAX_SEED = 2**63 - 1
"""The largest seed torch's generators take."""
MAX_BATCH = 16384
"""The largest --batch-size accepted: beyond it a synthetic batch alone takes minutes to paint and gigabytes to hold."""
MAX_FRAMES = 1000
"""The most images one interpolation, re-encoding or sample grid may hold."""
OPTIMIZE_ITERATIONS = 400
ICNN_ITERATIONS = 200
"""iCNN's iterations (the cookbook's ``n_iter``)."""
"""Mahendran & Vedaldi's schedule in full (:class:`invertnet.evaluation.optimize.OptimizeConfig`)."""

STILL_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
"""The image files a command writes, chosen by the output's suffix (PNG is lossless: the default)."""


@dataclass(frozen=True)
class TrainDefaults:
    """The defaults of a training run, shared by :class:`invertnet.training.config.TrainConfig` and ``train --help``."""

    model: str = INVERTER
    steps: int = 500_000
    batch_size: int = 64
    loss: str = "full"
    image_loss: str = "l2"
    encoder: str = "imagenet"
    device: str = "auto"
    seed: int = 0
    lr: float = 2e-4
    lr_milestones: tuple[int, ...] = PAPER_MILESTONES
    lr_gamma: float = PAPER_GAMMA
    gate: str = SCRIPT_GATE
    d_weight_decay: float = 0.0
    crops: str = "torchvision"
    checkpoint_every: int = 1000
    sample_every: int = 1000
    log_every: int = 10
    precision: str = "auto"
    compile: bool = False


TRAIN_DEFAULTS = TrainDefaults()

FC_WIDTH = 4096
"""The width of the fully connected generators' layers (Table 1) and of the VAE's code (section 4.2)."""

PAPER_ALIASES = {"pool5": "conv5", "relu6": "fc6", "relu7": "fc7"}
"""Caffe's blob names people type for AlexNet's and CaffeNet's layers: invertnet's conv5 is pool5's output, fc6 and fc7
are after their ReLU (relu6, relu7), as the paper and the authors' generators have them."""


def alias_hint(layer: str) -> str:
    """For a Caffe name of one of the paper's layers, the words that point to invertnet's name; else ""."""
    name = PAPER_ALIASES.get(layer)
    return f" ({layer} is {name} here: invertnet names the paper's layers conv5 = pool5, fc6 = relu6, fc7 = relu7; pass {name})" if name else ""

LOGS = ("jsonl", "tensorboard")
"""``train --log``: ``metrics.jsonl`` alone (always written), or TensorBoard event files too."""

CURVE_QUANTITIES = ("loss", "feat", "adv", "img", "kl", "discr", "images_per_s", "lr", "d_update_rate")
"""What ``invertnet plot --quantity`` draws (keys of metrics.jsonl; the terms weighted unless --raw)."""
