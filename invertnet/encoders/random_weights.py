"""Deterministic random networks, built once per process: the next request for the same one is a copy.

AlexNet's ``random:SEED`` and ``random-torchvision:SEED`` and ``caffenet:random:SEED`` (the proxies of the
real networks, and most of the test suite) are drawn from a seed inside a forked RNG, construction
included, so the same spec is always the same weights and drawing them leaves the global RNG as it
was. Drawing them costs ten times copying them (0.5 s against 0.05 s for 61 million weights on one
core), and a process asks for its encoder several times (the demo: training, inverting, evaluating;
the test suite: 250 times). The last :data:`KEPT` state dicts are kept; a copy is built without
torch's default initialisation (:func:`invertnet.initialisation.no_default_init`, which draws nothing
either), the state dict setting every parameter.

Only networks drawn entirely inside a forked RNG may come from here: a draw that also took from the
global RNG would leave it elsewhere than a copy does, and a seeded run's next draws (its generator)
would depend on whether the network was drawn or copied.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

import torch
from torch import nn

from ..initialisation import no_default_init

KEPT = 3
"""How many random networks' weights a process keeps (AlexNet's and CaffeNet's are 244 MB each)."""
_STATES: OrderedDict[str, dict[str, torch.Tensor]] = OrderedDict()
Net = TypeVar("Net", bound=nn.Module)


def random_network(key: str, build: Callable[[], Net], empty: Callable[[], Net]) -> Net:
    """The network ``build()`` draws for ``key`` (a spec that fixes its weights), or a copy of the one drawn before in this process.

    ``empty()`` builds the same architecture, its parameters to be overwritten by the kept state dict.
    """
    state = _STATES.get(key)
    if state is None:
        net = build()
        _STATES[key] = {name: value.detach().clone() for name, value in net.state_dict().items()}
        while len(_STATES) > KEPT:
            _STATES.popitem(last=False)
        return net
    _STATES.move_to_end(key)
    with no_default_init():
        net = empty()
    net.load_state_dict(state)
    return net
