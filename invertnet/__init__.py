"""invertnet: reconstruct images from a network's features (AlexNet and CaffeNet as in the paper, torchvision's
classifiers, any module) with DeePSiM generators.

Dosovitskiy & Brox, "Generating Images with Perceptual Similarity Metrics based on Deep
Networks", NIPS 2016. The library behind the ``invertnet`` command::

    from invertnet import Inverter, load_image, eval_crop
    inverter = Inverter.load("fc6", "runs/fc6")  # or "deepsim:fc6", the authors' generator (with CaffeNet)
    reconstruction = inverter.invert(eval_crop(load_image("photo.jpg"), inverter.input_size).unsqueeze(0))
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from .version import __version__

_WHERE = {
    "AlexNet": ".encoders.alexnet",
    "CaffeNet": ".encoders.caffenet",
    "DeadLeaves": ".data.datasets",
    "Discriminator": ".models",
    "Encoder": ".encoders",
    "EvalResult": ".evaluation.protocol",
    "FEATURE_SHAPES": ".encoders.alexnet",
    "FolderImages": ".data.datasets",
    "Gate": ".training.gate",
    "Generator": ".models",
    "Inverter": ".inversion",
    "InvertnetError": ".errors",
    "LAYERS": ".encoders.alexnet",
    "LossConfig": ".training.losses",
    "ModuleEncoder": ".encoders",
    "TorchvisionEncoder": ".encoders",
    "encode": ".inversion",
    "layer_shapes": ".encoders",
    "read_features": ".files.features",
    "open_tree": ".files.feature_tree",
    "icnn": ".decoded.icnn",
    "pattern_correlation": ".decoded.scores",
    "pairwise_identification": ".decoded.scores",
    "write_features": ".files.features",
    "PAPER_TABLE2": ".evaluation.protocol",
    "PRESETS": ".training.losses",
    "TrainConfig": ".training",
    "Trainer": ".training",
    "eval_crop": ".data.datasets",
    "evaluate": ".evaluation.protocol",
    "fetch_deepsim": ".weights.registry",
    "import_weights": ".weights.registry",
    "load_alexnet": ".encoders.alexnet",
    "load_encoder": ".encoders",
    "load_image": ".data.imageio",
    "normalized_error": ".evaluation.metrics",
    "open_source": ".data.datasets",
    "pairwise_mean_distance": ".evaluation.metrics",
    "save_image": ".data.imageio",
    "train_crop": ".data.datasets",
}
"""Each public name and the module that holds it: imported on first use, so ``invertnet --help`` never loads torch."""

if TYPE_CHECKING:
    from .data.datasets import DeadLeaves, FolderImages, eval_crop, open_source, train_crop
    from .data.imageio import load_image, save_image
    from .encoders import Encoder, ModuleEncoder, TorchvisionEncoder, layer_shapes, load_encoder
    from .encoders.alexnet import FEATURE_SHAPES, LAYERS, AlexNet, load_alexnet
    from .encoders.caffenet import CaffeNet
    from .errors import InvertnetError
    from .evaluation.metrics import normalized_error, pairwise_mean_distance
    from .evaluation.protocol import PAPER_TABLE2, EvalResult, evaluate
    from .decoded.icnn import icnn
    from .decoded.scores import pairwise_identification, pattern_correlation
    from .files.feature_tree import open_tree
    from .files.features import read_features, write_features
    from .inversion import Inverter, encode
    from .models import Discriminator, Generator
    from .training import TrainConfig, Trainer
    from .training.gate import Gate
    from .training.losses import PRESETS, LossConfig
    from .weights.registry import fetch_deepsim, import_weights


def __getattr__(name: str) -> object:
    """Import a public name's module when the name is first used (PEP 562)."""
    if name not in _WHERE:
        raise AttributeError(f"module 'invertnet' has no attribute {name!r}")
    value = getattr(import_module(_WHERE[name], __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "FEATURE_SHAPES", "LAYERS", "PAPER_TABLE2", "PRESETS",
    "AlexNet", "CaffeNet", "DeadLeaves", "Discriminator", "Gate", "Encoder", "EvalResult", "FolderImages",
    "Generator", "Inverter", "InvertnetError", "LossConfig", "ModuleEncoder", "TorchvisionEncoder", "TrainConfig", "Trainer",
    "encode", "eval_crop", "evaluate", "fetch_deepsim", "icnn", "import_weights", "layer_shapes", "load_alexnet", "load_encoder", "load_image",
    "normalized_error", "open_source", "open_tree", "pairwise_identification", "pairwise_mean_distance", "pattern_correlation", "read_features", "save_image", "train_crop", "write_features", "__version__",
]
