"""The data pipeline: image files and folders (ILSVRC, plain folders, the synthetic dead-leaves set), their
order and crops (``datasets``), reading and writing pictures (``imageio``), JPEG decoding on the GPU (``jpeg``), and
the training batches built from them (``batches``). Data flows one way: image -> features -> generator -> image."""

from .datasets import SYNTHETIC, DeadLeaves, FolderImages, eval_crop, open_source, train_crop
from .imageio import load_image, save_image

__all__ = ["SYNTHETIC", "DeadLeaves", "FolderImages", "eval_crop", "load_image", "open_source", "save_image", "train_crop"]
