"""invertnet: reconstruct images from AlexNet (torchvision) or CaffeNet features with DeePSiM generators.

Dosovitskiy & Brox, "Generating Images with Perceptual Similarity Metrics based on Deep
Networks", NIPS 2016. The library behind the ``invertnet`` command::

    from invertnet import Inverter, load_image, eval_crop
    inverter = Inverter.load("fc6", "runs/fc6")  # or "deepsim:fc6", the authors' generator (with CaffeNet)
    reconstruction = inverter.invert(eval_crop(load_image("photo.jpg"), inverter.input_size).unsqueeze(0))
"""

__version__ = "0.1.0"

from .alexnet import FEATURE_SHAPES, LAYERS, AlexNet, load_alexnet  # noqa: E402
from .caffenet import CaffeNet  # noqa: E402
from .data import DeadLeaves, FolderImages, eval_crop, open_source, train_crop  # noqa: E402
from .encoders import Encoder, load_encoder  # noqa: E402
from .errors import InvertnetError  # noqa: E402
from .evaluation import PAPER_TABLE2, EvalResult, evaluate  # noqa: E402
from .imageio import load_image, save_image  # noqa: E402
from .inversion import Inverter  # noqa: E402
from .gate import Gate  # noqa: E402
from .losses import PRESETS, LossConfig  # noqa: E402
from .metrics import normalized_error, pairwise_mean_distance  # noqa: E402
from .models import Discriminator, Generator  # noqa: E402
from .train import TrainConfig, Trainer  # noqa: E402
from .weights import fetch_deepsim, import_weights  # noqa: E402

__all__ = [
    "FEATURE_SHAPES", "LAYERS", "PAPER_TABLE2", "PRESETS",
    "AlexNet", "CaffeNet", "DeadLeaves", "Discriminator", "Gate", "Encoder", "EvalResult", "FolderImages",
    "Generator", "Inverter", "InvertnetError", "LossConfig", "TrainConfig", "Trainer",
    "eval_crop", "evaluate", "fetch_deepsim", "import_weights", "load_alexnet", "load_encoder", "load_image", "normalized_error", "open_source",
    "pairwise_mean_distance", "save_image", "train_crop",
]
