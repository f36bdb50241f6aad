"""The activation curves: round ticks, a legend beside the plot (not over it), ten colours, one iteration as a dot."""

from types import SimpleNamespace

import pytest
import torch

from invertnet.synthesis.pictures import COLOURS, CURVE_SIZE, MARGIN, curves, ticks


@pytest.mark.parametrize(
    "low, high, expected",
    [(-9.86, 15.2, [-5, 0, 5, 10, 15]), (1, 200, [50, 100, 150, 200]), (-1, 1, [-1, -0.5, 0, 0.5, 1]),
     (0.001, 0.0013, [0.001, 0.0011, 0.0012, 0.0013]), (1, 1, [1])],
)
def test_ticks_are_round_numbers_inside_the_range(low, high, expected):
    assert ticks(low, high) == pytest.approx(expected)


def _result(unit, best):
    return SimpleNamespace(unit=unit, search=SimpleNamespace(best=best, mean=[v - 1 for v in best]))


def _colours(picture: torch.Tensor) -> set[tuple[int, ...]]:
    return {tuple(c) for c in (picture * 255).round().to(torch.uint8).permute(1, 2, 0).reshape(-1, 3).tolist()}


def test_each_unit_has_its_own_colour_and_the_legend_stays_outside_the_plot():
    results = [_result(unit, [float(unit), float(unit) + 1, float(unit) + 2]) for unit in range(10)]
    picture = curves(results, "cma")
    width, height = CURVE_SIZE
    left, top, right, bottom = MARGIN
    assert picture.shape == (3, height, width) and len(set(COLOURS)) == 10
    assert set(COLOURS) <= _colours(picture[:, top + 2 : height - bottom - 2, left + 2 : width - right - 2])  # every unit's lines
    assert set(COLOURS) <= _colours(picture[:, top : height - bottom, width - right + 4 :])  # and its legend entry, beside the plot


def test_a_single_iteration_is_drawn_as_a_dot():
    picture = curves([_result(3, [1.0])], "gradient")
    left, top, right, bottom = MARGIN
    plot = picture[:, top + 2 : CURVE_SIZE[1] - bottom - 2, left + 2 : CURVE_SIZE[0] - right - 2]
    assert (plot < 0.99).any()  # something is drawn inside the axes
