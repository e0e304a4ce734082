"""Figures 2 and 3 and the results table drawn from the committed run records alone (docs/runs/), as the report is."""

import json

import matplotlib
import pytest

from aevb.figures import BAND_ALPHA, COLOURS, ENVELOPE_ALPHA, figure_2, figure_3
from aevb.runs.records import RunRecord, find_records
from committed_records import RECORDS, figure_2_records, picks

matplotlib.use("Agg")


def test_figure_2_of_frey_face_overlays_both_algorithms_and_the_papers_curves():
    runs = [run for run in picks(figure_2_records("frey_face")) if run.seed == 0]
    figure = figure_2(runs, "frey_face")
    panels = [ax for ax in figure.axes if ax.lines]
    assert len(panels) == 4  # N_z = 2, 5, 10, 20
    colours = {line.get_color() for ax in panels for line in ax.lines}
    assert {COLOURS["AEVB"], COLOURS["wake-sleep"]} <= colours
    labels = {text.get_text() for legend in figure.legends for text in legend.get_texts()}
    assert any(label.startswith("paper AEVB") for label in labels) and any(label.startswith("ours AEVB") for label in labels)


def test_figure_3_draws_each_algorithm_at_both_training_set_sizes():
    figure = figure_3(find_records(RECORDS / "figure3_mnist"))
    panels = [ax for ax in figure.axes if ax.lines]
    assert len(panels) == 2  # N_train = 1000 and 50,000
    for ax in panels:
        ours = [line for line in ax.lines if line.get_color() in (COLOURS["AEVB"], COLOURS["wake-sleep"])]
        assert ours and all(len(line.get_xdata()) > 3 for line in ours)


def frey_face_seeds_at_10() -> list:
    runs = picks(figure_2_records("frey_face", latent_dim=10, algorithm="AEVB"))
    assert sorted(run.seed for run in runs) == [0, 1, 2]
    return runs


def panel(figure, latent_dim: int):
    (ax,) = [ax for ax in figure.axes if ax.get_title().endswith(f"= {latent_dim}")]
    return ax


def test_runs_that_differ_only_in_their_seeds_are_their_mean_in_a_band_of_their_range():
    runs = frey_face_seeds_at_10()
    figure = figure_2(runs, "frey_face")
    labels = {text.get_text() for legend in figure.legends for text in legend.get_texts()}
    assert "ours AEVB" in labels  # one entry for the three seeds
    ax = panel(figure, 10)
    (train,) = [line for line in ax.lines if line.get_label() == "ours AEVB (train)"]
    curves = [dict(run.curve("lower_bound/train")) for run in runs]
    samples = sorted(set.intersection(*(set(curve) for curve in curves)))
    assert list(train.get_xdata()) == samples and train.get_color() == COLOURS["AEVB"]
    assert list(train.get_ydata()) == pytest.approx([sum(curve[n] for curve in curves) / 3 for n in samples])
    bands = [band for band in ax.collections if band.get_alpha() == BAND_ALPHA]
    assert len(bands) == 2  # train and test
    low, high = bands[0].get_paths()[0].vertices[:, 1].min(), bands[0].get_paths()[0].vertices[:, 1].max()
    values = [value for curve in curves for n, value in curve.items() if n in samples]
    assert (low, high) == pytest.approx((min(values), max(values)))


def test_runs_that_differ_in_a_step_size_are_labelled_by_it_coloured_apart_and_enveloped(tmp_path):
    (seed_0,) = [run for run in frey_face_seeds_at_10() if run.seed == 0]
    values = json.loads(seed_0.path.read_text())
    values["name"] = "variant/lr=0.02"
    values["config"]["optimizer"]["lr"] = 0.02
    values["step_size_selection"] = None  # a fixed step size, beside the probe's pick
    values["curves"] = {tag: [[n, value - 50] for n, value in points] for tag, points in values["curves"].items()}
    (tmp_path / "variant.json").write_text(json.dumps(values))
    figure = figure_2([RunRecord(tmp_path / "variant.json"), seed_0], "frey_face")
    labels = {text.get_text() for legend in figure.legends for text in legend.get_texts()}
    assert {"ours AEVB", "ours AEVB (lr=0.02)"} <= labels  # the fixed step size named by how it differs
    ax = panel(figure, 10)
    ours = {line.get_label(): line.get_color() for line in ax.lines if line.get_alpha() is None}
    assert len(set(ours.values())) == 2
    assert ours["ours AEVB (train)"] == COLOURS["AEVB"]  # the probe's pick in the algorithm's colour
    envelopes = [band for band in ax.collections if band.get_alpha() == ENVELOPE_ALPHA]
    assert len(envelopes) == 2  # train and test
    train = [value for _, value in seed_0.curve("lower_bound/train")]
    edges = envelopes[0].get_paths()[0].vertices[:, 1]
    assert (edges.min(), edges.max()) == pytest.approx((min(train) - 50, max(train)))


def test_a_legend_entry_has_one_colour_in_every_panel_and_no_two_entries_share_one():
    figure = figure_2(figure_2_records("mnist"), "mnist")  # every MNIST record: seeds, step sizes, both algorithms
    colours: dict[str, set] = {}
    for ax in figure.axes:
        for line in ax.lines:
            if line.get_label().startswith("ours"):
                colours.setdefault(line.get_label().rsplit(" (", 1)[0], set()).add(line.get_color())
    assert len(colours) > 4 and all(len(each) == 1 for each in colours.values())
    assert len({colour for each in colours.values() for colour in each}) == len(colours)
    legend = {text.get_text() for legend in figure.legends for text in legend.get_texts()}
    assert set(colours) <= legend and not any(label.endswith(("(train)", "(test)")) for label in legend)
