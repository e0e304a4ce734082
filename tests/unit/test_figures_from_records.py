"""Figures 2 and 3 and the results table drawn from the committed run records alone (docs/runs/), as the report is."""

import matplotlib

from aevb.config.hydra_glue import PROJECT_ROOT
from aevb.figures import COLOURS, figure_2, figure_3
from aevb.runs.records import find_records

matplotlib.use("Agg")
RECORDS = PROJECT_ROOT / "docs" / "runs"


def test_figure_2_of_frey_face_overlays_both_algorithms_and_the_papers_curves():
    runs = find_records(RECORDS / "figure2_frey_face")
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


def test_runs_that_differ_in_a_setting_are_labelled_by_it_and_coloured_apart():
    runs = [run for run in find_records(RECORDS / "figure2_frey_face") + find_records(RECORDS / "figure2_frey_face_seeds")
            if run.latent_dim == 10 and run.algorithm == "AEVB"]  # fmt: skip
    assert len(runs) == 3  # seeds 0, 1 and 2
    figure = figure_2(runs, "frey_face")
    labels = {text.get_text() for legend in figure.legends for text in legend.get_texts()}
    assert {f"ours AEVB (seed={seed}) (train)" for seed in (0, 1, 2)} <= labels
    (panel,) = [ax for ax in figure.axes if ax.get_title().endswith("= 10")]
    ours = {line.get_color() for line in panel.lines if line.get_alpha() is None}
    assert len(ours) == 3 and COLOURS["AEVB"] in ours
