"""A network's weights as read from a file, checked before the network takes them.

A weights file is hostile input. ``load_state_dict`` copies whatever it is given into the
network's float32 parameters: an int8 or bool tensor is cast without a word, a NaN or an
infinity loads as well as any number, and a float64 value of 1e300 *becomes* infinite in the
cast. Each gives a network whose every picture is black and every score NaN, found (if at all)
long after the file was read. :func:`load_checked` is the one door for every encoder read from
a file (AlexNet, CaffeNet, torchvision's classifiers, and through them the comparator and
LPIPS's backbone): names, shapes and kinds as the network's, and finite values *after* the
cast, i.e. what the network will hold.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from ..errors import InvertnetError


def _listed(names: list[str]) -> str:
    return f"{', '.join(names[:3])}{', ...' if len(names) > 3 else ''}"


def checked_state(
    state: Mapping[str, object], expected: Mapping[str, torch.Tensor], what: str, network: str = "the network",
) -> dict[str, torch.Tensor]:
    """``state`` cast to ``expected``'s dtypes, or one error naming the first key that does not fit.

    A floating tensor must be given as a floating tensor (not an integer or bool one), an integer
    buffer (BatchNorm's counter) as an integer; shapes must match exactly; floating values must be
    finite once cast. ``what`` names the file in the error ("the AlexNet weights in PATH"),
    ``network`` what they must fit ("torchvision's AlexNet").
    """
    missing = sorted(expected.keys() - state.keys())
    unexpected = sorted(str(key) for key in state.keys() - expected.keys())
    if missing or unexpected:
        parts = [f"{len(names)} {kind} ({_listed(names)})" for kind, names in (("missing", missing), ("unexpected", unexpected)) if names]
        raise InvertnetError(f"{what} do not fit {network}: names {' and '.join(parts)}")
    checked: dict[str, torch.Tensor] = {}
    for key, reference in expected.items():
        value = state[key]
        if not isinstance(value, torch.Tensor):
            raise InvertnetError(f"{what}: {key} is a {type(value).__name__}, not a tensor")
        if value.shape != reference.shape:
            raise InvertnetError(f"{what} do not fit {network}: {key} is {tuple(value.shape)}, not {tuple(reference.shape)}")
        floating = reference.is_floating_point()
        if value.is_complex() or value.is_floating_point() != floating or value.dtype == torch.bool:
            kind = "a floating-point" if floating else "an integer"
            raise InvertnetError(f"{what}: {key} is {str(value.dtype).removeprefix('torch.')}, not {kind} tensor")
        value = value.to(reference.dtype)
        if floating and not torch.isfinite(value).all():
            raise InvertnetError(
                f"{what}: {key} holds NaN or infinite values (as {str(reference.dtype).removeprefix('torch.')}): "
                "not a usable network; its every output would be NaN or blank"
            )
        checked[key] = value
    return checked


def load_checked(net: nn.Module, state: Mapping[str, object], what: str, network: str | None = None) -> None:
    """Load ``state`` into ``net`` through :func:`checked_state` (``network`` defaults to its class name)."""
    net.load_state_dict(checked_state(state, net.state_dict(), what, network or type(net).__name__))
