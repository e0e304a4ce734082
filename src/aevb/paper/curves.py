"""Kingma & Welling (2013), Figures 2 and 3, as digitised curves (data/paper_curves.csv).

Source: the raster copies of the paper's Figures 2 and 3 in ../shared/notes/paper-figures (see its README), read by
scripts/digitise_paper_figures.py: pixels are classified by colour (AEVB red, wake-sleep green, MCEM blue), each
colour's solid (train) and dashed (test) curve is followed along pixel columns (and rows where it is steep), and
pixels are converted to (samples, nats) with the axes calibrated on the tick marks (docs/paper_digitisation.md).
Uncertainty (UNCERTAINTY, nats): about 1 for the MNIST panels of Figure 2, 15 for Frey Face, 0.5 for Figure 3, more
where a curve is steep (one pixel of x then moves the value by the slope). The Frey Face points below 5e5 samples
are flagged interpolated: the paper draws one straight segment there, between sparse evaluations.
"""

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

UNCERTAINTY = {"mnist": 1.0, "frey_face": 15.0, "figure3": 0.5}


@dataclass(frozen=True)
class PaperCurve:
    """One digitised curve: a panel (figure, dataset, n_train, latent_dim), an algorithm and a split, in samples order."""

    figure: int
    dataset: str
    n_train: int
    latent_dim: int
    algorithm: str
    split: str
    samples: tuple[float, ...]
    values: tuple[float, ...]
    interpolated: tuple[bool, ...]


def paper_curves() -> list[PaperCurve]:
    """All digitised curves of Figures 2 and 3, read once from the package's CSV file."""
    return list(_read_curves())


@cache
def _read_curves() -> tuple[PaperCurve, ...]:
    """The curves in data/paper_curves.csv, grouped by panel, algorithm and split."""
    points: dict[tuple, list[tuple[float, float, bool]]] = {}
    with resources.files("aevb.paper").joinpath("data/paper_curves.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            key = (
                int(row["figure"]),
                row["dataset"],
                int(row["n_train"]),
                int(row["latent_dim"]),
                row["algorithm"],
                row["split"],
            )
            points.setdefault(key, []).append((float(row["samples"]), float(row["value"]), row["note"] == "interpolated"))
    return tuple(PaperCurve(*key, *(tuple(column) for column in zip(*sorted(rows), strict=True))) for key, rows in points.items())


def paper_curve(
    figure: int, dataset: str, algorithm: str, split: str, latent_dim: int | None = None, n_train: int | None = None
) -> PaperCurve | None:
    """The curve of one panel, algorithm and split (latent_dim and n_train pick the panel), or None if there is none."""
    for curve in paper_curves():
        if (curve.figure, curve.dataset, curve.algorithm, curve.split) == (figure, dataset, algorithm, split) and (
            latent_dim in (None, curve.latent_dim) and n_train in (None, curve.n_train)
        ):
            return curve
    return None
