"""Digitise the curves of Kingma & Welling (2013) Figures 2 and 3 from their rasters into a CSV file.

Usage: uv run python scripts/digitise_paper_figures.py [FIGURE_DIR] [--output CSV] [--check-images DIR]

Method (docs/paper_digitisation.md): classify the pixels of each plot panel by colour; along every pixel column
(and, for the steep parts, every pixel row) find the runs of each colour and their centres; follow the two curves
of a colour through the scan lines, merging them where they run together and telling the dashed (test) curve from
the solid (train) one by its unexplained gaps; convert pixels to (samples, nats) with the tick calibration below;
resample.
"""

from __future__ import annotations

import argparse
import bisect
import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
DEFAULT_FIGURES = REPO.parent / "shared" / "notes" / "paper-figures"
DEFAULT_OUTPUT = REPO / "src" / "aevb" / "paper" / "data" / "paper_curves.csv"
HEADER = ("figure", "dataset", "n_train", "latent_dim", "algorithm", "split", "samples", "value", "note")

ALGORITHMS = {"red": "AEVB", "green": "wake-sleep", "blue": "MCEM"}
# A pixel belongs to a colour when that channel exceeds both others by this much (the line cores
# reach about 240 for red and blue, about 125 for the darker green; anti-aliased fringes stay below).
THRESHOLD = {"red": 90, "green": 50, "blue": 90}
MAX_GAP = 16  # scan lines: longest dash gap or crossing that a two-curve stretch is joined across
MAX_SCAN_SLOPE = 1.5  # px per scan line: steeper curve parts are tracked by the other scan (points keep <= 1)
ROW_REACH = 4  # rows: see scan_clusters (flat lines and dashes are at most 8 rows tall, steep dashes about 11)
SPLIT_EXCESS = 3  # px: a run this much thicker than one line holds two touching curves
FOLLOW_FIT = 5  # nearest points of a curve whose straight fit it is extrapolated along
MERGE_SEPARATION = 3  # px: curves this close are one line (lines are 5-6 px thick)
LINE_OVERLAP = 5  # px: curves closer than this overlap (about one line width in both figures)
MIN_TWO = 3  # scan lines with two clusters that make a two-curve stretch (fewer are specks or false splits)
MARGIN = 2.5  # px inside the frame-line centres, clear of the 3-px frame lines
BRIDGE = {2: 10, 3: 16}  # px: resampling interpolates between points at most this far apart (past Figure 3's dash gaps)
GAP = BRIDGE[2]  # px: a longer gap in a curve is a gap in the data, not between dashes
FREY_INTERPOLATED_BELOW = 5e5  # samples: the paper's early Frey curves are one straight segment
FIGURE_2_STEP = 1 / 16  # decades between resampled points
FIGURE_3_STEP = 1.0  # millions of samples between resampled points


@dataclass(frozen=True)
class Axis:
    """Linear map from pixel to axis unit (log10 samples, millions of samples, or nats), from two calibration points."""

    pixel_a: float
    value_a: float
    pixel_b: float
    value_b: float

    def value(self, pixel: float | np.ndarray) -> float | np.ndarray:
        """Axis value at a pixel coordinate."""
        return self.value_a + (pixel - self.pixel_a) * (self.value_b - self.value_a) / (self.pixel_b - self.pixel_a)

    def pixel(self, value: float | np.ndarray) -> float | np.ndarray:
        """Pixel coordinate of an axis value."""
        return self.pixel_a + (value - self.value_a) * (self.pixel_b - self.pixel_a) / (self.value_b - self.value_a)


@dataclass(frozen=True)
class Panel:
    """One plot panel: what it shows, its frame-line centres (left, right, top, bottom, px) and its axes."""

    image: str
    figure: int
    dataset: str
    n_train: int
    latent_dim: int
    frame: tuple[float, float, float, float]
    x: Axis
    y: Axis
    colours: tuple[str, ...]

    def samples(self, column: float | np.ndarray) -> float | np.ndarray:
        """Training samples at a pixel column (Figure 2: log axis in decades; Figure 3: linear in millions)."""
        value = self.x.value(column)
        return 10.0**value if self.figure == 2 else value * 1e6


# Calibration, measured on the rasters with /tmp scans (see docs/paper_digitisation.md): every tick
# and frame line is the darkness-weighted centre of a dark run along a strip just inside the frame;
# each Axis is the least-squares line through all major ticks of that axis (residuals <= 0.45 px).
# Figure 2, MNIST row: y ticks -95 (top frame) .. -150 (bottom frame) every 10 nats, 3.841 px/nat,
# the same in all five panels; frame rows 56.89 and 268.12.
MNIST_Y = Axis(56.81, -95.0, 268.08, -150.0)
# x: ticks 1e5 (left frame), 1e6, 1e7, 1e8, 68.86-68.93 px per decade; axis values are log10(samples).
MNIST_X = {
    3: ((93.91, 327.92), Axis(93.85, 5.0, 300.44, 8.0)),
    5: ((386.50, 620.48), Axis(386.47, 5.0, 593.11, 8.0)),
    10: ((679.04, 913.11), Axis(679.06, 5.0, 885.85, 8.0)),
    20: ((971.77, 1205.88), Axis(971.74, 5.0, 1178.38, 8.0)),
    200: ((1264.16, 1498.44), Axis(1264.30, 5.0, 1470.95, 8.0)),
}
# Figure 2, Frey Face row: y ticks 0 (bottom frame) .. 1600 (top frame) every 200, 26.42 px per 200 nats;
# frame rows 363.23 and 574.65.
FREY_Y = Axis(363.23, 1600.0, 574.59, 0.0)
# x: ticks 1e5 (left frame) .. 1e8 (right frame), 78.01-78.11 px per decade.
FREY_X = {
    2: ((386.50, 620.49), Axis(386.52, 5.0, 620.55, 8.0)),
    5: ((679.05, 913.12), Axis(679.15, 5.0, 913.28, 8.0)),
    10: ((971.76, 1205.88), Axis(971.66, 5.0, 1205.84, 8.0)),
    20: ((1264.16, 1498.44), Axis(1264.19, 5.0, 1498.51, 8.0)),
}
# Figure 3: x ticks 0..60 million every 10 (both panels; the 50000 panel's frame ends at 68.0 million);
# y ticks every 10 nats (-100..-160, N_train = 1000) and every 5 nats (-125..-160, N_train = 50000).
FIGURE_3 = {
    1000: ((150.04, 649.83, 81.36, 592.65), Axis(150.07, 0.0, 649.92, 60.0), Axis(81.32, -100.0, 592.75, -160.0)),
    50000: ((749.90, 1249.69, 81.36, 592.64), Axis(749.74, 0.0, 1191.01, 60.0), Axis(81.36, -125.0, 592.65, -160.0)),
}


def panels() -> list[Panel]:
    """All panels of Figures 2 and 3 with their calibration."""
    figure_2 = [
        Panel("figure2.png", 2, "mnist", 50000, nz, (*xs, 56.89, 268.12), x, MNIST_Y, ("red", "green"))
        for nz, (xs, x) in MNIST_X.items()
    ]
    figure_2 += [
        Panel("figure2.png", 2, "frey_face", 1600, nz, (*xs, 363.23, 574.65), x, FREY_Y, ("red", "green"))
        for nz, (xs, x) in FREY_X.items()
    ]
    figure_3 = [
        Panel("figure3.png", 3, "mnist", n, 3, frame, x, y, ("red", "green", "blue")) for n, (frame, x, y) in FIGURE_3.items()
    ]
    return figure_2 + figure_3


@dataclass(frozen=True)
class Run:
    """Rows start..stop-1 of one colour in one pixel column, and whether each end touches another line or a tick."""

    start: int
    stop: int
    free_top: bool
    free_bottom: bool

    @property
    def middle(self) -> float:
        """Middle row of the run."""
        return (self.start + self.stop - 1) / 2


@dataclass(frozen=True)
class Cluster:
    """One curve's crossing of a pixel column: centre row (px) and peak colour strength."""

    centre: float
    peak: float


Curve = dict[int, Cluster]  # scan line -> the curve's crossing of it
CurvePair = tuple[Curve, Curve]


def colour_strengths(rgb: np.ndarray) -> dict[str, np.ndarray]:
    """How much each pixel's red, green or blue channel exceeds the other two."""
    r, g, b = (rgb[..., i].astype(int) for i in range(3))
    return {"red": np.minimum(r - g, r - b), "green": np.minimum(g - r, g - b), "blue": np.minimum(b - r, b - g)}


def true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) index pairs of the True runs of a 1-D mask."""
    edges = np.diff(np.concatenate([[0], mask.astype(int), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def line_runs(own: np.ndarray, blocked: np.ndarray) -> list[Run]:
    """Runs of a colour along one scan line, without specks (< 2 px) and without runs clipped by the frame."""
    return [
        Run(start, stop, not blocked[max(start - 2, 0) : start].any(), not blocked[stop : stop + 2].any())
        for start, stop in true_runs(own)
        if stop - start >= 2 and start > 0 and stop < len(own)
    ]


def line_width(runs: list[list[Run]]) -> int:
    """Most common length of the runs with both ends free: the line thickness (px) where the curves are flat."""
    lengths = [r.stop - r.start for rs in runs for r in rs if r.free_top and r.free_bottom]
    return int(np.bincount(lengths).argmax())


def neighbour_runs(runs: list[list[Run]], i: int, run: Run, reach: int) -> list[Run]:
    """The runs `reach` lines before and after line i that overlap a run (the same curve), where there are such."""
    sides = []
    for j in (i - reach, i + reach):
        touching = [r for r in runs[j] if r.start < run.stop and r.stop > run.start] if 0 <= j < len(runs) else []
        sides += touching[:1]
    return sides


def run_clusters(run: Run, strength: np.ndarray, sides: list[Run], reach: int, width: int) -> list[Cluster]:
    """The curve crossings in one run: one, or two where the run and its neighbours are thicker than one line (touching curves).

    The slope comes from the neighbouring runs; runs of a curve steeper than MAX_SCAN_SLOPE are left to the other
    scan. A run hidden at one end by another line is centred half a line width from its free end.
    """
    slope = (sides[1].middle - sides[0].middle) / (2 * reach) if len(sides) == 2 else 0.0
    if abs(slope) > MAX_SCAN_SLOPE:
        return []
    height = width * np.hypot(1.0, slope) + abs(slope)  # rows one line covers in a column at this slope
    if not (run.free_top and run.free_bottom):
        if not (run.free_top or run.free_bottom):
            return []
        centre = run.start + (width - 1) / 2 if run.free_top else run.stop - 1 - (width - 1) / 2
        return [Cluster(centre, float(strength[run.start : run.stop].max()))]
    thick = [r.stop - r.start >= height + SPLIT_EXCESS for r in (run, *sides)]
    if len(sides) < 2 or not all(thick):
        return [Cluster(run.middle, float(strength[run.start : run.stop].max()))]
    inner = int(round(height))  # the rows only the upper (lower) curve covers are stop-inner.. (..start+inner)
    return [
        Cluster(run.start + (height - 1) / 2, float(strength[run.start : run.stop - inner].max())),
        Cluster(run.stop - 1 - (height - 1) / 2, float(strength[run.start + inner : run.stop].max())),
    ]


def merge_duplicates(clusters: list[Cluster], width: int) -> list[Cluster]:
    """Merge clusters closer than half a line width: the two halves of a line cut by a crossing line."""
    merged: list[Cluster] = []
    for cluster in sorted(clusters, key=lambda c: c.centre):
        if merged and cluster.centre - merged[-1].centre < width / 2:
            last = merged.pop()
            cluster = Cluster((last.centre + cluster.centre) / 2, max(last.peak, cluster.peak))
        merged.append(cluster)
    return merged


def scan_clusters(
    own: np.ndarray, blocked: np.ndarray, strength: np.ndarray, width: int, rows_scanned: bool
) -> list[list[Cluster]]:
    """The curve crossings of one colour along each scan line (the arrays' columns), as positions along the line.

    The row scan only serves the steep curve parts, which span many rows: it keeps a run only where the same curve
    crosses the rows ROW_REACH above and below, so the cross-sections of flat lines and dashes (a line width tall)
    drop out.
    """
    runs = [line_runs(own[:, i], blocked[:, i]) for i in range(own.shape[1])]
    reach = ROW_REACH if rows_scanned else 2
    clusters = []
    for i, line_strength in enumerate(strength.T):
        found = []
        for run in runs[i]:
            sides = neighbour_runs(runs, i, run, reach)
            if len(sides) == 2 or not rows_scanned:
                found += run_clusters(run, line_strength, sides, reach, width)
        clusters.append(merge_duplicates(found, width))
    return clusters


def two_curve_segments(clusters: list[list[Cluster]]) -> list[tuple[int, int]]:
    """Stretches of scan lines with two clusters, joined across gaps of at most MAX_GAP lines with one or none."""
    segments: list[list[int]] = []
    counts: list[int] = []
    for i in (i for i, cs in enumerate(clusters) if len(cs) == 2):
        previous = segments[-1][1] if segments else -MAX_GAP - 2
        if i - previous <= MAX_GAP + 1 and all(len(clusters[j]) < 2 for j in range(previous + 1, i)):
            segments[-1][1] = i
            counts[-1] += 1
        else:
            segments.append([i, i])
            counts.append(1)
    return [(a, b) for (a, b), n in zip(segments, counts, strict=True) if n >= MIN_TWO]


def split_segment(clusters: list[list[Cluster]], a: int, b: int, merged: set[int]) -> CurvePair:
    """The two curves of a two-curve stretch, each cluster going to the curve it continues (so crossings are followed);
    after a merge, each curve is extrapolated from its own points."""
    first: Curve = {a: clusters[a][0]}
    second: Curve = {a: clusters[a][1]}
    for i in range(a + 1, b + 1):
        if len(clusters[i]) == 2:
            upper, lower = clusters[i]
            near_first, near_second = expected(first, i, merged), expected(second, i, merged)
            keep = abs(upper.centre - near_first) + abs(lower.centre - near_second)
            swap = abs(lower.centre - near_first) + abs(upper.centre - near_second)
            first[i], second[i] = (upper, lower) if keep <= swap else (lower, upper)
        elif len(clusters[i]) == 1:
            extend((first, second), merged, i, clusters[i][0], inside=True)
    return first, second


def extend(curves: CurvePair, merged: set[int], line: int, lone: Cluster, inside: bool) -> None:
    """Give a lone cluster to the curves it continues: both (a merge), one, or, inside a two-curve stretch, the nearer.

    Inside a stretch the extrapolation may miss by half a pixel per line since the curve was seen (a dash gap); outside,
    where the curves may bend before they are seen again, by one pixel per line.
    """
    continued = [curve for curve in curves if continues(curve, line, lone.centre, 0.5 if inside else 1.0)]
    if len(continued) < 2 and not inside and between(curves, line, lone.centre):
        continued = list(curves)
    if not continued and inside:
        continued = [min(curves, key=lambda curve: abs(lone.centre - expected(curve, line)))]
    for curve in continued:
        curve[line] = lone
    if len(continued) == 2:
        merged.add(line)


def between(curves: CurvePair, line: int, centre: float) -> bool:
    """Whether a cluster is where two recently seen curves merge: on either if they are at most MERGE_SEPARATION apart,
    else in the middle half between them."""
    nearest = [min(curve, key=lambda j: abs(j - line)) for curve in curves]
    if any(abs(j - line) > MAX_GAP for j in nearest):
        return False
    low, high = sorted(curve[j].centre for curve, j in zip(curves, nearest, strict=True))
    margin = 1.5 if high - low <= MERGE_SEPARATION else -(high - low) / 4
    return low - margin <= centre <= high + margin


def expected(curve: Curve, line: int, merged: frozenset[int] | set[int] = frozenset()) -> float:
    """Position of a curve at a line, extrapolated along the straight fit of its FOLLOW_FIT points nearest to the line
    (leaving out the lines where it merged with the other curve, if it has other points)."""
    own = [j for j in curve if j not in merged] or list(curve)
    near = sorted(own, key=lambda j: abs(j - line))[:FOLLOW_FIT]
    if len(near) == 1:
        return curve[near[0]].centre
    return float(np.polyval(np.polyfit(near, [curve[j].centre for j in near], 1), line))


def follow(curves: CurvePair, merged: set[int], lone: Curve, lines: range) -> None:
    """Extend both curves of a stretch over the lone clusters they continue (see extend), walking away from the stretch;
    a cluster neither continues is left out."""
    for i in (i for i in lines if i in lone):
        extend(curves, merged, i, lone[i], inside=False)


def continues(curve: Curve, line: int, centre: float, per_line: float) -> bool:
    """Whether a cluster at a line continues a curve: within 2 px of its nearest point, or within 2 px plus per_line px
    per line from that point of its straight extrapolation, and at most MAX_GAP lines from it."""
    nearest = min(curve, key=lambda j: abs(j - line))
    if abs(nearest - line) > MAX_GAP:
        return False
    return abs(centre - curve[nearest].centre) <= 2 or abs(centre - expected(curve, line)) <= 2 + per_line * abs(nearest - line)


def dash_score(curve: Curve, hidden: np.ndarray, width: int) -> tuple[float, float]:
    """How dashed a curve looks: the share of lines in its extent where it is missing though nothing hides it, then weakness."""
    present = sorted(curve)
    centres = [curve[i].centre for i in present]
    lines = range(present[0], present[-1] + 1)
    gaps = [i for i in lines if i not in curve and not hidden_at(hidden, i, float(np.interp(i, present, centres)), width)]
    return len(gaps) / len(lines), -float(np.mean([curve[i].peak for i in present]))


def hidden_at(hidden: np.ndarray, line: int, position: float, width: int) -> bool:
    """Whether another line or a tick lies within a line width of a position on a scan line (and may cover the curve)."""
    centre = int(round(position))
    return bool(hidden[max(centre - width, 0) : centre + width + 1, line].any())


@dataclass
class Tracks:
    """Per scan line: the train and test curve's position (px), the lines where the two could not be told apart, and the
    positions of a single curve whose identity this scan cannot tell."""

    train: dict[int, float]
    test: dict[int, float]
    overlap: set[int]
    unknown: dict[int, float]


def assign_tracks(clusters: list[list[Cluster]], hidden: np.ndarray, width: int) -> Tracks:
    """Split the clusters of one colour along the scan lines into the solid (train) and the dashed (test) curve.

    Each two-curve stretch is followed into the lone clusters on either side (up to halfway to the next stretch);
    the lone clusters of a region between stretches that this reaches nowhere are left unknown.
    """
    segments = two_curve_segments(clusters)
    lone = {i: cs[0] for i, cs in enumerate(clusters) if len(cs) == 1}
    regions = list(zip([0] + [b + 1 for _, b in segments], [a for a, _ in segments] + [len(clusters)], strict=True))
    tracks = Tracks({}, {}, set(), {})
    for k, (a, b) in enumerate(segments):
        merged: set[int] = set()
        curves = split_segment(clusters, a, b, merged)
        first = sum(regions[k]) // 2 if k else 0
        last = sum(regions[k + 1]) // 2 if k < len(segments) - 1 else len(clusters)
        follow(curves, merged, lone, range(a - 1, first - 1, -1))
        follow(curves, merged, lone, range(b + 1, last))
        solid, dashed = sorted(curves, key=lambda curve: dash_score(curve, hidden, width))
        tracks.train.update({i: c.centre for i, c in solid.items()})
        tracks.test.update({i: c.centre for i, c in dashed.items()})
        tracks.overlap.update(merged)
    for start, stop in regions:
        region = [i for i in range(start, stop) if i in lone]
        if not any(i in tracks.train or i in tracks.test for i in region):
            tracks.unknown.update({i: lone[i].centre for i in region})
    return tracks


def slope_at(curve: dict[int, float], i: int) -> float | None:
    """Change of position per scan line around line i, from up to two lines to each side; None for an isolated point."""
    near = [j for j in range(i - 2, i + 3) if j in curve]
    return (curve[near[-1]] - curve[near[0]]) / (near[-1] - near[0]) if len(near) > 1 else None


@dataclass(frozen=True)
class Point:
    """A digitised point of one curve in image pixels, and whether train and test merge there."""

    x: float
    y: float
    overlap: bool


def flat_points(curve: dict[int, float], overlap: set[int], rows_scanned: bool, origin: tuple[int, int]) -> list[Point]:
    """Image points of a curve where it runs within 45 degrees of the scan direction (steeper parts come from the other scan)."""
    points = []
    for line, position in curve.items():
        slope = slope_at(curve, line)
        if slope is None or abs(slope) > 1:
            continue
        x, y = (position, line) if rows_scanned else (line, position)
        points.append(Point(x + origin[0], y + origin[1], line in overlap))
    return sorted(points, key=lambda p: p.x)


def panel_points(panel: Panel, image: np.ndarray) -> dict[tuple[str, str], list[Point]]:
    """Points of every curve of a panel, keyed by (colour, split): the flat parts from a column scan, the steep parts from
    a row scan."""
    left, right, top, bottom = panel.frame
    rows = slice(int(np.ceil(top + MARGIN)), int(np.floor(bottom - MARGIN)) + 1)
    columns = slice(int(np.ceil(left + MARGIN)), int(np.floor(right - MARGIN)) + 1)
    strengths = {name: s[rows, columns] for name, s in colour_strengths(image).items()}
    patch = image[rows, columns].astype(int)
    dark = (patch.max(axis=2) < 140) & (np.ptp(patch, axis=2) < 60)
    owns = {c: strengths[c] > THRESHOLD[c] for c in panel.colours}
    blocked = {c: dark | np.any([o for other, o in owns.items() if other != c], axis=0) for c in panel.colours}
    width = line_width([line_runs(owns[c][:, i], blocked[c][:, i]) for c in panel.colours for i in range(patch.shape[1])])
    points: dict[tuple[str, str], list[Point]] = {}
    for colour in panel.colours:
        found: dict[str, list[Point]] = {"train": [], "test": [], "unknown": []}
        for rows_scanned in (False, True):
            own, hidden, strength = (a.T if rows_scanned else a for a in (owns[colour], blocked[colour], strengths[colour]))
            tracks = assign_tracks(scan_clusters(own, hidden, strength, width, rows_scanned), hidden, width)
            for name, curve in found.items():
                curve += flat_points(getattr(tracks, name), tracks.overlap, rows_scanned, (columns.start, rows.start))
        train, test = (sorted(found[split], key=lambda p: p.x) for split in ("train", "test"))
        train, test = identify(train, test, sorted(found["unknown"], key=lambda p: p.x))
        train, test = fill_overlaps(train, test)
        points[colour, "train"], points[colour, "test"] = consistent(train), consistent(test)
    return points


def consistent(curve: list[Point]) -> list[Point]:
    """A curve without the overlap points that lie off it: more than LINE_OVERLAP from all of its own (not overlap)
    points within GAP px in x, where it has such points on both sides (an overlap taken where the curves run apart;
    near a crossing, where the curve's own points are on one side only, the overlap is kept)."""
    own = np.array([(p.x, p.y) for p in curve if not p.overlap]).reshape(-1, 2)
    kept = []
    for point in curve:
        near = own[np.abs(own[:, 0] - point.x) <= GAP]
        sandwiched = len(near) > 0 and near[:, 0].min() < point.x < near[:, 0].max()
        if not point.overlap or not sandwiched or np.hypot(*(near - (point.x, point.y)).T).min() <= LINE_OVERLAP:
            kept.append(point)
    return kept


def identify(train: list[Point], test: list[Point], unknown: list[Point]) -> tuple[list[Point], list[Point]]:
    """Add each stretch of unknown points to the curve(s) it continues; one that no identified point comes near is both.

    A stretch continued by neither curve, though one comes near it, is left out.
    """
    train, test = list(train), list(test)
    for stretch in x_stretches(unknown):
        verdicts = [continues_stretch(stretch, curve) for curve in (train, test)]
        targets = [train, test] if verdicts == [None, None] else [c for c, v in zip((train, test), verdicts, strict=True) if v]
        for curve in targets:
            curve += [Point(p.x, p.y, p.overlap or len(targets) == 2) for p in stretch]
    return sorted(train, key=lambda p: p.x), sorted(test, key=lambda p: p.x)


def x_stretches(points: list[Point]) -> list[list[Point]]:
    """Split points (in x order) where consecutive ones are more than GAP px apart."""
    stretches: list[list[Point]] = []
    for point in points:
        if stretches and point.x - stretches[-1][-1].x <= GAP:
            stretches[-1].append(point)
        else:
            stretches.append([point])
    return stretches


def continues_stretch(stretch: list[Point], curve: list[Point]) -> bool | None:
    """Whether a curve continues a stretch at either end (its point nearest to the end lies within LINE_OVERLAP of the
    stretch, or of its straight extension past the end), or None when the curve has no point within MAX_GAP px in x of
    its ends. Points where the curves overlap are no evidence for either."""
    xs, ys = np.array([p.x for p in stretch]), np.array([p.y for p in stretch])
    verdict = None
    for end, tail in ((stretch[0], slice(0, 5)), (stretch[-1], slice(-5, None))):
        near = [p for p in curve if abs(p.x - end.x) <= MAX_GAP and not p.overlap]
        if not near:
            continue
        point = min(near, key=lambda p: abs(p.x - end.x))
        slope = float(np.polyfit(xs[tail], ys[tail], 1)[0]) if np.ptp(xs[tail]) > 0 else 0.0
        if xs[0] <= point.x <= xs[-1]:  # beside the stretch: its distance from the stretch's nearest point
            miss = float(np.min(np.hypot(xs - point.x, ys - point.y)))
        else:
            miss = abs(point.y - end.y - slope * (point.x - end.x))
        verdict = bool(verdict) or miss <= LINE_OVERLAP
    return verdict


def fill_overlaps(train: list[Point], test: list[Point]) -> tuple[list[Point], list[Point]]:
    """Let each curve run along the other (flagged overlap) where it vanishes into it for more than GAP px, or everywhere
    if it was never seen apart from it."""
    if not train or not test:
        both = [Point(p.x, p.y, True) for p in train + test]
        return both, list(both)
    return sorted(train + merged_gaps(train, test), key=lambda p: p.x), sorted(test + merged_gaps(test, train), key=lambda p: p.x)


def merged_gaps(curve: list[Point], other: list[Point]) -> list[Point]:
    """The other curve's points in the gaps of a curve (longer than GAP px) whose ends lie within LINE_OVERLAP of it.

    A gap end is the curve's last point before or first point after the gap (one only, at a panel edge); a curve
    that vanishes there into the other is taken to run along it.
    """
    xs = [p.x for p in curve]
    gaps: dict[int, list[Point]] = {}
    for point in other:
        k = bisect.bisect(xs, point.x)
        ends = curve[max(k - 1, 0) : k + 1]
        if ends and all(abs(end.x - point.x) > GAP / 2 for end in ends):
            gaps.setdefault(k, []).append(point)
    return [
        Point(p.x, p.y, True)
        for k, gap in gaps.items()
        if all(abs(end.y - nearest(gap, end.x).y) <= LINE_OVERLAP for end in curve[max(k - 1, 0) : k + 1])
        for p in gap
    ]


def nearest(points: list[Point], x: float) -> Point:
    """The point nearest to a column."""
    return min(points, key=lambda p: abs(p.x - x))


def smooth(points: list[Point]) -> list[Point]:
    """Each point with the median row of the points within 2 px in x, in x order."""
    ordered = sorted(points, key=lambda p: p.x)
    xs, ys = np.array([p.x for p in ordered]), np.array([p.y for p in ordered])
    return [Point(p.x, float(np.median(ys[np.abs(xs - p.x) <= 2])), p.overlap) for p in ordered]


def resample(points: list[Point], targets: np.ndarray, bridge: float) -> list[Point]:
    """Points at the target columns lying between two digitised points at most `bridge` px apart, plus the last point."""
    if not points:
        return []
    xs = np.array([p.x for p in points])
    resampled = []
    for target in targets[(targets >= xs[0]) & (targets < xs[-1])]:
        k = int(np.searchsorted(xs, target, side="right"))
        before, after = points[k - 1], points[k]
        if after.x - before.x <= bridge:
            weight = (target - before.x) / (after.x - before.x) if after.x > before.x else 0.0
            resampled.append(Point(float(target), before.y + weight * (after.y - before.y), before.overlap or after.overlap))
    return resampled + [points[-1]]


def target_columns(panel: Panel) -> np.ndarray:
    """Pixel columns of the resampling grid: every FIGURE_2_STEP decade or every FIGURE_3_STEP million samples."""
    step = FIGURE_2_STEP if panel.figure == 2 else FIGURE_3_STEP
    low, high = panel.x.value(panel.frame[0]), panel.x.value(panel.frame[1])
    return panel.x.pixel(np.arange(np.ceil(low / step - 1e-9) * step, high, step))


def note(panel: Panel, samples: float, overlap: bool) -> str:
    """The CSV note of a point: Frey points below FREY_INTERPOLATED_BELOW are interpolated in the paper."""
    if panel.dataset == "frey_face" and samples < FREY_INTERPOLATED_BELOW:
        return "interpolated"
    return "overlap" if overlap else ""


def digitise_panel(panel: Panel, image: np.ndarray) -> list[tuple]:
    """CSV rows of every curve in one panel."""
    rows = []
    for (colour, split), points in panel_points(panel, image).items():
        for point in resample(smooth(points), target_columns(panel), BRIDGE[panel.figure]):
            samples = float(panel.samples(point.x))
            rows.append(
                (
                    panel.figure,
                    panel.dataset,
                    panel.n_train,
                    panel.latent_dim,
                    ALGORITHMS[colour],
                    split,
                    f"{samples:.4g}",
                    f"{float(panel.y.value(point.y)):.2f}",
                    note(panel, samples, point.overlap),
                )
            )
    return rows


def digitise(figures: Path) -> list[tuple]:
    """CSV rows of every panel of Figures 2 and 3."""
    images = {name: np.asarray(Image.open(figures / name).convert("RGB")) for name in ("figure2.png", "figure3.png")}
    return [row for panel in panels() for row in digitise_panel(panel, images[panel.image])]


def draw_check_images(figures: Path, rows: list[tuple], folder: Path) -> None:
    """Draw the digitised points over each figure, 3x enlarged: train yellow discs, test magenta crosses; overlap points
    orange, interpolated ones blue."""
    scale = 3
    panels_by_key = {(p.figure, p.dataset, p.n_train, p.latent_dim): p for p in panels()}
    for name, figure in (("figure2.png", 2), ("figure3.png", 3)):
        image = Image.open(figures / name).convert("RGB")
        image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
        draw = ImageDraw.Draw(image)
        for row in (r for r in rows if r[0] == figure):
            panel = panels_by_key[row[:4]]
            samples = float(row[6])
            x = scale * panel.x.pixel(np.log10(samples) if figure == 2 else samples / 1e6)
            y = scale * panel.y.pixel(float(row[7]))
            colour = {"overlap": (255, 150, 0), "interpolated": (0, 150, 255)}.get(row[8], (255, 0, 255))
            if row[5] == "train":
                draw.ellipse(
                    (x - 3, y - 3, x + 3, y + 3), fill=(255, 255, 0) if colour == (255, 0, 255) else colour, outline=(0, 0, 0)
                )
            else:
                draw.line((x - 4, y - 4, x + 4, y + 4), fill=colour, width=2)
                draw.line((x - 4, y + 4, x + 4, y - 4), fill=colour, width=2)
        image.save(folder / name.replace(".png", "_check.png"))


def main() -> None:
    """Digitise the figures in FIGURE_DIR and write the CSV (and, if asked, the check images)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("figures", nargs="?", type=Path, default=DEFAULT_FIGURES, help="folder with figure2.png and figure3.png")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--check-images", type=Path, help="folder for figure2_check.png and figure3_check.png")
    args = parser.parse_args()
    rows = digitise(args.figures)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with args.output.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(rows)
    print(f"wrote {len(rows)} points to {args.output}")
    if args.check_images:
        args.check_images.mkdir(parents=True, exist_ok=True)
        draw_check_images(args.figures, rows, args.check_images)


if __name__ == "__main__":
    main()
