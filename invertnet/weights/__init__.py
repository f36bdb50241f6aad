"""Trained networks as files: invertnet's checkpoints and generator files (``checkpoint``), the authors'
released generators and where they come from (``registry``: ``deepsim:NAME``, ``weights fetch``/``import``/``list``),
and the conversion of the upconvGAN port's and Caffe's layouts to invertnet's generators (``upconvgan``)."""

from .registry import fetch_deepsim, import_weights

__all__ = ["fetch_deepsim", "import_weights"]
