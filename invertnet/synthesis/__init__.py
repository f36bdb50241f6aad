"""Preferred images of units through a generator prior: DGN-AM's gradient ascent, XDream's CMA-ES and its genetic
algorithm over the generator's code (:mod:`.search`), scores from outside the process (:mod:`.external`), targets
``ENCODER:LAYER:UNIT`` (:mod:`.targets`), natural-image references and code bounds (:mod:`.reference`), the per-unit
runs (:mod:`.units`) and their pictures (:mod:`.pictures`).

From Python, any callable ``score(images) -> (N,)`` is a target::

    from invertnet import Inverter
    from invertnet.synthesis import SearchConfig, decoder_of, start_code, synthesize
    prior = Inverter.load("fc6", "deepsim:fc6")
    result = synthesize(decoder_of(prior, 227), my_neuron_model, start_code((4096,), 0, None, None), SearchConfig(method="cma"))
"""

from .cmaes import CholeskyCMAES
from .external import CommandScore, FolderScore
from .genetic import GeneticAlgorithm, GeneticSettings
from .search import METHODS, SearchConfig, SearchResult, SearchStopped, start_code, synthesize
from .targets import OutsideTarget, Target
from .units import UnitResult, decoder_of, synthesize_outside, synthesize_units

__all__ = [
    "METHODS", "CholeskyCMAES", "CommandScore", "FolderScore", "GeneticAlgorithm", "GeneticSettings", "OutsideTarget", "SearchConfig",
    "SearchResult", "SearchStopped", "Target", "UnitResult", "decoder_of", "start_code", "synthesize", "synthesize_outside", "synthesize_units",
]
