"""The benchmark's confidence interval for a median, and the table that reports both ways of measuring."""

from __future__ import annotations

import random

import pytest

from benchmarks._load import LoadResult
from benchmarks._phases import Delivery, Pair, RouteResult, TurnsPair
from benchmarks._report import _two_ways_table
from benchmarks._routes import ROUTES
from benchmarks._stats import median_interval


def test_interval_of_24_rounds_is_the_7th_and_18th_values() -> None:
    # Binomial(24, 1/2): P(X <= 6) = 0.0113 fits in the 2.5 % tail, P(X <= 7) = 0.032 does not.
    values = [float(v) for v in range(24, 0, -1)]  # the order of the rounds does not matter
    assert median_interval(values) == (7.0, 18.0)


def test_interval_of_12_rounds_is_the_3rd_and_10th_values() -> None:
    assert median_interval([float(v) for v in range(1, 13)]) == (3.0, 10.0)


@pytest.mark.parametrize("count", [1, 2, 5])
def test_too_few_rounds_give_the_extremes(count: int) -> None:
    values = [float(v) for v in range(count)]
    assert median_interval(values) == (min(values), max(values))


def test_no_rounds_is_an_error() -> None:
    with pytest.raises(ValueError, match="no values"):
        median_interval([])


def test_interval_covers_the_true_median_at_least_as_often_as_promised() -> None:
    # Two levels, as this machine's speed: 60 % of rounds from [0.5, 0.7], 40 % from [0.9, 1.1]. Far from
    # normal; the median is 5/6 of the way up the lower level, 0.5 + 0.2 * 5 / 6.
    true_median = 0.5 + 0.2 * 5 / 6
    rng = random.Random(7)  # noqa: S311  (a seeded simulation, not a secret)
    trials, covered = 2000, 0
    for _ in range(trials):
        rounds = [rng.uniform(0.5, 0.7) if rng.random() < 0.6 else rng.uniform(0.9, 1.1) for _ in range(24)]
        low, high = median_interval(rounds)
        covered += low <= true_median <= high
    assert covered / trials >= 0.95


def _load(rate: float) -> LoadResult:
    return LoadResult(int(rate * 4), 4.0, 0, 0, 50.0, 60.0, 90.0, 52.0)


def _route_result(alternating: list[float], turns: list[tuple[float, float]]) -> RouteResult:
    delivery = Delivery(1, 1, 1, 1, 0)
    pairs = [Pair(_load(100.0), _load(100.0 * ratio), 3000.0, 3600.0) for ratio in alternating]
    in_turns = [TurnsPair(_load(50.0), _load(50.0 * ratio), 2.0, 2.0 * share) for ratio, share in turns]
    return RouteResult(ROUTES["read"], pairs, {"bare": 100, "instrumented": 110}, delivery, in_turns)


def test_two_ways_table_marks_each_way_against_the_target() -> None:
    result = _route_result([0.70, 0.90, 0.95], [(0.86, 1.0), (0.87, 1.0), (0.88, 1.0)])
    (row,) = _two_ways_table([result])[2:]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[0] == "read"
    assert cells[1] == "≥ 0.85"
    assert cells[2] == "0.90 [0.70, 0.95]"  # three rounds: too few for 95 %, so the extremes
    assert cells[3] == "yes"
    assert cells[4] == "0.87 [0.86, 0.88]"
    assert cells[5] == "yes"
    assert cells[6] == "0.50"


def test_two_ways_table_says_when_no_rounds_in_turns_were_measured() -> None:
    result = _route_result([0.80, 0.81, 0.82], [])
    (row,) = _two_ways_table([result])[2:]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[3] == "**no**"
    assert cells[4] == "not measured"
