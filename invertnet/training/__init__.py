"""Training a generator (DeePSiM, a VAE or an autoencoder): the run's settings (``config``), what one update
computes (``step``), the run's files (``run_folder``) and the loop that drives them (``loop``: the ``Trainer``);
the losses of eq. 1-5 and 8 (``losses``), the discriminator's gate (``gate``), the learning-rate schedule
(``schedule``), the sample grids (``samples``), CUDA graphs (``graphs``), several processes (``distributed``), the
run folder's lock (``runlock``) and the calibration of the loss terms (``calibrate``)."""

from .config import TrainConfig
from .loop import Trainer

__all__ = ["TrainConfig", "Trainer"]
