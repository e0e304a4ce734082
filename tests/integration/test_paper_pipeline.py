"""The reproduction pipeline on tiny real sweeps: paper presets -> log-spaced curves -> aevb-eval -> figures -> report."""

import json
import re
import subprocess
import sys

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from aevb.callbacks.evaluation_schedule import LogSpacedEvaluation
from aevb.config.hydra_glue import PROJECT_ROOT
from aevb.data.batches import calls_to_reach
from aevb.figures import figure_2, figure_3
from aevb.figures import main as aevb_figures
from aevb.runs.records import find_runs
from aevb.train import train
from aevb.training.sample_counts import SampleCounts
from compose import compose_train
from processes import run_entry_point, scalars

SCRIPTS = PROJECT_ROOT / "scripts"
SPLITS = ("train", "test")
# 3,000 samples, evaluated at 500 and ~1,581 (two points a decade from 500) and at the end;
# no Adagrad warm-up, so that 30 steps move the model.
TINY = [
    "trainer.max_samples=3000",
    "optimizer.warmup_steps=0",
    "callbacks.evaluation_schedule.start_samples=500",
    "callbacks.evaluation_schedule.points_per_decade=2",
    "data.steps_per_call=1",  # each scheduled point exactly (test_schedule_with_several_minibatches_per_call: the presets')
]


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("sweeps")
    common = [f"paths.data_dir={data_dir}", *TINY]
    run_entry_point("aevb-train", "-m", "experiment=figure2_mnist", "model.latent_dim=2,5", "data.val_size=1000",
                    f"hydra.sweep.dir={root / 'mnist'}", *common)  # fmt: skip
    run_entry_point("aevb-train", "-m", "experiment=figure2_frey_face", "model.latent_dim=2", "model=mlp,wake_sleep",
                    f"hydra.sweep.dir={root / 'frey_face'}", *common)  # fmt: skip
    # Figure 3 on 200 training images, scored on 100, with a cut-down Appendix D estimator
    run_entry_point("aevb-train", "-m", "experiment=figure3_mnist", "data.train_limit=200", "data.eval_limit=100",
                    "data.val_size=1000", "model.log_px.posterior_samples=10",
                    "model.log_px.burn_in=10",
                    f"hydra.sweep.dir={root / 'figure3'}", *common)  # fmt: skip
    return root


def test_schedule_points_are_log_spaced_and_include_the_last_step():
    schedule = LogSpacedEvaluation(points_per_decade=10, start_samples=1e4)
    batches, done = [], 0
    while done < 1000:
        done = schedule.next_evaluation_batch(done, SampleCounts(batch_size=100))
        batches.append(done)
    # 10^4 * 10^(k/10) samples, rounded up to whole minibatches of 100; decades land exactly
    assert batches[:4] == [100, 126, 159, 200] and 1000 in batches and len(batches) == 11
    assert schedule.next_evaluation_batch(126, SampleCounts(batch_size=100)) == 159


def test_schedule_with_several_minibatches_per_call_evaluates_at_the_end_of_the_call(tmp_path, data_dir):
    overrides = [
        "experiment=aevb_mnist",
        "step_size_selection=none",
        "model.decoder.hidden_dim=20",
        "data.steps_per_call=10",
        "data.eval_limit=200",
        *TINY[:-1],
    ]
    metrics = train(compose_train(overrides, tmp_path, data_dir))
    # the points 500 and 1,581 fall inside the first and second call of 1,000 samples
    assert [step for step, _ in scalars(tmp_path)["lower_bound/test"]] == [1000, 2000, 3000]
    assert metrics["samples_seen"] == 3000


def test_calls_to_reach_counts_through_short_calls_at_the_end_of_each_epoch():
    frey = [10, 6]  # 16 minibatches an epoch, 10 per call
    assert calls_to_reach(frey, calls_done=0, minibatches_done=0, target=100) == 13  # 6 epochs (96), then 10 more
    assert calls_to_reach(frey, calls_done=1, minibatches_done=10, target=16) == 1
    assert calls_to_reach(frey, calls_done=1, minibatches_done=10, target=17) == 2
    assert calls_to_reach(frey, calls_done=4, minibatches_done=32, target=32) == 0
    assert calls_to_reach([1] * 5, calls_done=3, minibatches_done=3, target=1003) == 1000


@pytest.mark.slow
def test_frey_face_preset_evaluates_once_at_each_scheduled_point(tmp_path, data_dir):
    # 1600 images: 16 minibatches an epoch, trained in calls of 10 and 6 (data.steps_per_call=10 of the preset)
    overrides = ["experiment=aevb_frey_face", "trainer.max_samples=60000", "callbacks.evaluation_schedule.start_samples=1000",
                 "step_size_selection=none"]  # fmt: skip
    train(compose_train(overrides, tmp_path, data_dir))
    steps = [step for step, _ in scalars(tmp_path)["lower_bound/train"]]
    call_ends = [100 * (16 * epoch + within) for epoch in range(40) for within in (10, 16)]
    points = [1000 * 10 ** (k / 10) for k in range(18) if 1000 * 10 ** (k / 10) <= 60000]
    expected = sorted({min(end for end in call_ends if end >= point) for point in points} | {60000})
    assert steps == expected and steps[0] >= 1000  # one evaluation where two points fall in one call


@pytest.mark.slow
def test_paper_runs_log_the_bound_at_the_scheduled_sample_counts(sweeps):
    runs = find_runs(sweeps / "mnist", sweeps / "frey_face")
    assert [(run.dataset, run.latent_dim, run.algorithm) for run in runs] == [
        ("frey_face", 2, "AEVB"),
        ("frey_face", 2, "wake-sleep"),
        ("mnist", 2, "AEVB"),
        ("mnist", 5, "AEVB"),
    ]
    for run in runs:
        for split in ("train", "test"):
            assert [samples for samples, _ in run.curve(f"lower_bound/{split}")] == [500, 1600, 3000]
        assert run.metrics["samples_seen"] == 3000
        assert torch.load(run.checkpoint, weights_only=True)["samples_seen"] == 3000  # last.ckpt is the final model
    assert scalars(runs[2].directory)["lower_bound/train"][-1][1] == pytest.approx(runs[2].metrics["lower_bound"]["train"])


@pytest.mark.slow
def test_figure_3_runs_log_the_appendix_d_log_px_of_every_algorithm(sweeps):
    runs = find_runs(sweeps / "figure3")
    assert sorted(run.algorithm for run in runs) == ["AEVB", "MCEM", "wake-sleep"]
    assert all(len(run.directory.name) < 170 for run in runs)  # the many overrides are cut to a valid file name
    for run in runs:
        assert run.train_size == 200 and not run.evaluates_whole_splits
        # MCEM counts 5 weight updates per minibatch of 100, so its first scheduled point falls at 500 exactly
        expected = [500, 2000, 3000] if run.algorithm == "MCEM" else [500, 1600, 3000]
        for split in ("train", "test"):
            curve = run.curve(f"log_px_hmc/{split}")
            assert [samples for samples, _ in curve] == expected
            assert all(-600 < value < -100 for _, value in curve)
        if run.algorithm != "MCEM":  # log p(x) is above the bound (by a small estimator noise at worst)
            assert run.metrics["log_px_hmc"]["test"] > run.metrics["lower_bound"]["test"] - 1


@pytest.mark.slow
def test_aevb_eval_writes_the_bound_and_importance_sampled_likelihood(sweeps, data_dir):
    run = find_runs(sweeps / "mnist")[0]
    result = run_entry_point(
        "aevb-eval", f"ckpt_path='{run.checkpoint}'",  # quoted: sweep job directories hold '=' and ','
        f"paths.data_dir={data_dir}", "limit=300", "estimator.importance_samples=200",
        "estimator.max_rows=4000", f"hydra.run.dir={sweeps / 'eval'}",
    )  # fmt: skip
    evaluation = json.loads((run.directory / "eval_test_is_k200_limit300.json").read_text())
    assert evaluation["samples_seen"] == 3000 and evaluation["num_datapoints"] == 300 and evaluation["split"] == "test"
    assert evaluation["computed_on"]["device"] == "cpu" and evaluation["computed_on"]["torch"] == torch.__version__
    bound, log_px = evaluation["lower_bound"], evaluation["log_px_is"]
    assert evaluation["estimator"]["settings"]["importance_samples"] == 200 and 0 < log_px["standard_error"] < 5
    # the importance-sampled estimate is the tighter bound, by a margin far above its noise
    assert bound["mean"] + 1 < log_px["mean"] < 0
    assert "log p(x), is_k200" in result.stdout


@pytest.mark.slow
def test_aevb_eval_names_a_missing_checkpoint(tmp_path):
    result = run_entry_point("aevb-eval", f"ckpt_path={tmp_path}/nothing.ckpt", f"hydra.run.dir={tmp_path}", check=False)
    assert result.returncode == 1 and "aevb-eval: ckpt_path=" in result.stderr and "nothing.ckpt does not exist" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_figures_are_drawn_from_the_sweeps_and_logged(sweeps, tmp_path):
    out = tmp_path / "figures"
    aevb_figures([str(sweeps / "mnist"), str(sweeps / "frey_face"), str(sweeps / "figure3"), "--out", str(out)])
    names = ["figure2_mnist", "figure2_frey_face", "figure3_mnist", "figure4_mnist", "figure4_frey_face", "figure5_mnist_2d"]
    names += ["figure5_mnist_5d"]
    for name in names:
        for suffix in ("png", "pdf"):
            assert (out / f"{name}.{suffix}").stat().st_size > 5000, name
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    assert {f"figures/{name}" for name in names} <= set(events.Tags()["images"])


@pytest.mark.slow
def test_figure_2_overlays_wake_sleep_and_the_papers_curves_and_figure_3_draws_every_algorithm(sweeps):
    runs = find_runs(sweeps / "mnist", sweeps / "frey_face", sweeps / "figure3")
    frey = figure_2(runs, "frey_face")
    labels = {line.get_label() for line in frey.axes[0].get_lines()}
    ours = {f"ours {algorithm} ({split})" for algorithm in ("AEVB", "wake-sleep") for split in ("train", "test")}
    assert ours | {"paper AEVB (train)", "paper wake-sleep (train)"} <= labels
    early = [line for line in frey.axes[0].get_lines() if line.get_linestyle() == ":"]  # the paper's interpolated stretch
    assert early and max(max(line.get_xdata()) for line in early) <= 6e5
    mnist = figure_2(runs, "mnist")
    assert [ax.get_title() for ax in mnist.axes] == [f"MNIST, $N_z$ = {n}" for n in (2, 3, 5, 10, 20, 200)]
    assert not any(line.get_label().startswith("ours") for line in mnist.axes[1].get_lines())  # Figure 3's N_z = 3 stays out
    assert any(line.get_label().startswith("paper") for line in mnist.axes[1].get_lines())
    panels = figure_3(runs).axes  # N_train = 200 (ours), and the paper's 1000 and 50,000
    labels = {line.get_label() for line in panels[0].get_lines()}
    assert {f"ours {algorithm} ({split})" for algorithm in ("AEVB", "wake-sleep", "MCEM") for split in SPLITS} <= labels
    paper_ends = [max(line.get_xdata()) for line in panels[2].get_lines() if line.get_label().startswith("paper")]
    assert paper_ends and max(paper_ends) > 60  # drawn to the paper's own length (millions), not ours


@pytest.mark.slow
def test_results_report_is_made_from_the_exported_records_alone(sweeps, tmp_path):
    records, figures = tmp_path / "records", tmp_path / "figures"
    common = ["--records", str(records), "--figures", str(figures), "--notes", str(tmp_path / "none.md")]
    exported = [str(sweeps / "mnist"), str(sweeps / "frey_face"), str(sweeps / "figure3")]
    subprocess.run([sys.executable, str(SCRIPTS / "results_report.py"), "--export", *exported, *common,
                    "--out", str(tmp_path / "a.md")], check=True, capture_output=True)  # fmt: skip
    assert len(list(records.rglob("*.json"))) == 4 + 3  # every run of the sweeps, as JSON; nothing else
    report = (tmp_path / "a.md").read_text()
    assert "## Figure 2, MNIST" in report and "## Figure 2, Frey Face" in report and "## Figure 3" in report
    final_rows = re.findall(r"^\| \d+ \| (?:AEVB|wake-sleep) \| 0 \| [\d.]+ \| 3,000 \|", report, flags=re.MULTILINE)
    assert len(final_rows) == 4  # one final row per Figure 2 run
    assert "AEVB against wake-sleep" in report and "| 2 | 3e+03 |" in report  # the Frey Face pair, N_z = 2
    assert "## Step sizes chosen" in report and report.count("lower_bound/train") >= 4
    assert (figures / "figure2_mnist.png").is_file() and (figures / "figure3_mnist.png").is_file()
    assert (figures / "figure4_frey_face.png").is_file()  # drawn from the checkpoints while exporting
    # again from the records alone (the sweeps' checkpoints and event files not read): the same report
    subprocess.run([sys.executable, str(SCRIPTS / "results_report.py"), *common, "--out", str(tmp_path / "b.md")],
                   check=True, capture_output=True)  # fmt: skip
    assert (tmp_path / "b.md").read_text() == report
