"""A run's curve read between its evaluations: linear in log10 samples for the log-spaced schedule, in samples
otherwise, and nothing outside the evaluated range; and read backwards, where it first reaches a value."""

import math

import pytest

from aevb.runs.curves import first_reaching, interpolate

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


def test_the_samples_at_which_a_curve_first_reaches_a_value_invert_its_reading():
    for x in (1_000, 3_000, math.sqrt(10) * 10_000, 100_000):
        assert first_reaching(CURVE, interpolate(CURVE, x)) == pytest.approx(x)
    assert first_reaching(CURVE, -300.0) == 1_000  # reached from the first evaluation on
    assert first_reaching(CURVE, -100.0) is None  # never reached
    dip = [(1_000, -200.0), (2_000, -140.0), (4_000, -160.0), (8_000, -130.0)]
    assert first_reaching(dip, -150.0) == pytest.approx(1_000 * 2 ** (50 / 60))  # the first crossing, not a later one
    assert first_reaching(CURVE, -135.0, log_x=False) == pytest.approx(55_000)
