"""A run's curves: the splits they are logged on, reading them from a CSV logger's file, and reading them between points."""

import csv
from pathlib import Path

import numpy

EVALUATED_SPLITS = ("train", "val", "test")  # a record keeps the curves of evaluations, "<term>/<split>"


def interpolate(points, x: float, log_x: bool = True) -> float | None:
    """Linear interpolation of sorted (x, y) points at x (in log10 x if log_x); None outside their range."""
    points = list(points)
    if not points or not points[0][0] <= x <= points[-1][0]:
        return None
    xs, ys = zip(*points, strict=True)
    scale = numpy.log10 if log_x else numpy.asarray
    return float(numpy.interp(scale(x), scale(xs), ys))


def first_reaching(points, value: float, log_x: bool = True) -> float | None:
    """The first x at which sorted (x, y) points reach y >= value, interpolated between the points on either side (in
    log10 x if log_x); None if they never do."""
    points = list(points)
    if points and points[0][1] >= value:
        return float(points[0][0])
    scale, unscale = (numpy.log10, lambda u: 10**u) if log_x else (float, float)
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        if y0 < value <= y1:
            fraction = (value - y0) / (y1 - y0)
            return float(unscale(scale(x0) + fraction * (scale(x1) - scale(x0))))
    return None


def csv_curves(path: Path) -> dict[str, list[tuple[int, float]]]:
    """The curves of a CSV logger's metrics.csv: a column per metric, a row per logging step (empty where a metric
    was not logged at that step)."""
    curves: dict[str, dict[int, float]] = {}
    with path.open(newline="") as file:
        for row in csv.DictReader(file):
            step = int(float(row.pop("step")))
            for tag, value in row.items():
                if value not in ("", None):
                    curves.setdefault(tag, {})[step] = float(value)
    return {tag: sorted(points.items()) for tag, points in curves.items()}
