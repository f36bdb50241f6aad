"""invertnet: reconstruct images from AlexNet (torchvision) or CaffeNet features with DeePSiM generators.

Dosovitskiy & Brox, "Generating Images with Perceptual Similarity Metrics based on Deep
Networks", NIPS 2016. The library behind the ``invertnet`` command::

    from invertnet import Inverter, load_image, eval_crop
    inverter = Inverter.load("fc6", "runs/fc6")  # or "deepsim:fc6", the authors' generator (with CaffeNet)
    reconstruction = inverter.invert(eval_crop(load_image("photo.jpg"), inverter.input_size).unsqueeze(0))
"""

from .data.datasets import DeadLeaves, FolderImages, eval_crop, open_source, train_crop
from .data.imageio import load_image, save_image
from .encoders import Encoder, load_encoder
from .encoders.alexnet import FEATURE_SHAPES, LAYERS, AlexNet, load_alexnet
from .encoders.caffenet import CaffeNet
from .errors import InvertnetError
from .evaluation.metrics import normalized_error, pairwise_mean_distance
from .evaluation.protocol import PAPER_TABLE2, EvalResult, evaluate
from .inversion import Inverter
from .models import Discriminator, Generator
from .training import TrainConfig, Trainer
from .training.gate import Gate
from .training.losses import PRESETS, LossConfig
from .version import __version__
from .weights.registry import fetch_deepsim, import_weights

__all__ = [
    "FEATURE_SHAPES", "LAYERS", "PAPER_TABLE2", "PRESETS",
    "AlexNet", "CaffeNet", "DeadLeaves", "Discriminator", "Gate", "Encoder", "EvalResult", "FolderImages",
    "Generator", "Inverter", "InvertnetError", "LossConfig", "TrainConfig", "Trainer",
    "eval_crop", "evaluate", "fetch_deepsim", "import_weights", "load_alexnet", "load_encoder", "load_image", "normalized_error", "open_source",
    "pairwise_mean_distance", "save_image", "train_crop", "__version__",
]
