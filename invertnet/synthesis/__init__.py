"""Preferred images of units through a generator prior: DGN-AM's gradient ascent and XDream's CMA-ES over the
generator's code (:mod:`.search`), targets ``ENCODER:LAYER:UNIT`` (:mod:`.targets`), natural-image references and
code bounds (:mod:`.reference`), the per-unit runs (:mod:`.units`) and their pictures (:mod:`.pictures`).

From Python, any callable ``score(images) -> (N,)`` is a target::

    from invertnet import Inverter
    from invertnet.synthesis import SearchConfig, decoder_of, start_code, synthesize
    prior = Inverter.load("fc6", "deepsim:fc6")
    result = synthesize(decoder_of(prior, 227), my_neuron_model, start_code((4096,), 0, None, None), SearchConfig(method="cma"))
"""

from .cmaes import CholeskyCMAES
from .search import METHODS, SearchConfig, SearchResult, start_code, synthesize
from .targets import Target
from .units import UnitResult, decoder_of, synthesize_units

__all__ = [
    "METHODS", "CholeskyCMAES", "SearchConfig", "SearchResult", "Target", "UnitResult", "decoder_of", "start_code", "synthesize",
    "synthesize_units",
]
