"""The networks DeePSiM trains: generators, the VAE, the autoencoder, and the discriminator."""

from .autoencoder import Autoencoder
from .discriminator import Discriminator
from .early_generator import EarlyLayerGenerator
from .generator import Generator, build_generator
from .kinds import MODEL_KINDS, build_discriminator, build_model
from .vae import VAE

__all__ = [
    "MODEL_KINDS", "Autoencoder", "Discriminator", "EarlyLayerGenerator", "Generator", "VAE", "build_discriminator", "build_generator", "build_model",
]
