"""A run's curve read between its evaluations: linear in log10 samples for the log-spaced schedule, in samples
otherwise, and nothing outside the evaluated range."""

import math

import pytest

from aevb.runs.curves import interpolate

CURVE = [(1_000, -200.0), (10_000, -150.0), (100_000, -120.0)]


def test_an_evaluated_point_reads_back_exactly():
    assert [interpolate(CURVE, x) for x, _ in CURVE] == [y for _, y in CURVE]


def test_between_evaluations_the_curve_is_linear_in_log_samples():
    # halfway in log10 between 1e4 and 1e5 is sqrt(10) * 1e4
    assert interpolate(CURVE, math.sqrt(10) * 10_000) == pytest.approx(-135.0)


def test_without_log_x_the_curve_is_linear_in_samples():
    assert interpolate(CURVE, 55_000, log_x=False) == pytest.approx(-135.0)


@pytest.mark.parametrize("samples", [999, 100_001])
def test_outside_the_evaluations_there_is_no_value(samples):
    assert interpolate(CURVE, samples) is None
    assert interpolate([], samples) is None
