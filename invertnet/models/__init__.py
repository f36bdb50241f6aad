"""The networks DeePSiM trains: one generator per AlexNet layer and a conditional discriminator."""

from .discriminator import Discriminator
from .generator import Generator, build_generator

__all__ = ["Discriminator", "Generator", "build_generator"]
