"""The reproduction pipeline on tiny real sweeps: paper presets -> log-spaced curves -> aevb-eval -> figures -> report."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from aevb.callbacks.evaluation_schedule import LogSpacedEvaluation
from aevb.figures import main as aevb_figures
from aevb.figures import manifold_latents
from aevb.runs import find_runs
from processes import run_entry_point, scalars

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
# 3,000 samples, evaluated at 500 and ~1,581 (two points a decade from 500) and at the end;
# no Adagrad warm-up, so that 30 steps move the model.
TINY = [
    "trainer.max_samples=3000",
    "optimizer.warmup_steps=0",
    "callbacks.evaluation_schedule.start_samples=500",
    "callbacks.evaluation_schedule.points_per_decade=2",
]


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("sweeps")
    common = [f"paths.data_dir={data_dir}", *TINY]
    run_entry_point("aevb-train", "-m", "experiment=figure2_mnist", "model.latent_dim=2,5", "data.val_size=1000",
                    f"hydra.sweep.dir={root / 'mnist'}", *common)  # fmt: skip
    run_entry_point("aevb-train", "-m", "experiment=figure2_frey_face", "model.latent_dim=2",
                    f"hydra.sweep.dir={root / 'frey_face'}", *common)  # fmt: skip
    return root


def test_schedule_points_are_log_spaced_and_include_the_last_step():
    schedule = LogSpacedEvaluation(points_per_decade=10, start_samples=1e4)
    batches, done = [], 0
    while done < 1000:
        done = schedule.next_evaluation_batch(done, batch_size=100)
        batches.append(done)
    # 10^4 * 10^(k/10) samples, rounded up to whole minibatches of 100; decades land exactly
    assert batches[:4] == [100, 126, 159, 200] and 1000 in batches and len(batches) == 11
    assert schedule.next_evaluation_batch(126, batch_size=100) == 159


def test_paper_runs_log_the_bound_at_the_scheduled_sample_counts(sweeps):
    runs = find_runs(sweeps / "mnist", sweeps / "frey_face")
    assert [(run.dataset, run.latent_dim) for run in runs] == [("frey_face", 2), ("mnist", 2), ("mnist", 5)]
    for run in runs:
        for split in ("train", "test"):
            assert [samples for samples, _ in run.curve(f"lower_bound/{split}")] == [500, 1600, 3000]
        assert run.metrics["samples_seen"] == 3000
        assert torch.load(run.checkpoint, weights_only=True)["samples_seen"] == 3000  # last.ckpt is the final model
    assert scalars(runs[1].directory)["lower_bound/train"][-1][1] == pytest.approx(runs[1].metrics["lower_bound"]["train"])


def test_aevb_eval_writes_the_bound_and_importance_sampled_likelihood(sweeps, data_dir):
    run = find_runs(sweeps / "mnist")[0]
    result = run_entry_point(
        "aevb-eval", f"ckpt_path='{run.checkpoint}'",  # quoted: sweep job directories hold '=' and ','
        f"paths.data_dir={data_dir}", "limit=300", "num_samples=200",
        "max_rows=4000", f"hydra.run.dir={sweeps / 'eval'}",
    )  # fmt: skip
    evaluation = json.loads((run.directory / "eval.json").read_text())
    assert evaluation["samples_seen"] == 3000 and evaluation["num_datapoints"] == 300 and evaluation["split"] == "test"
    bound, log_px = evaluation["lower_bound"], evaluation["log_likelihood"]
    assert log_px["num_importance_samples"] == 200 and 0 < log_px["standard_error"] < 5
    # the importance-sampled estimate is the tighter bound, by a margin far above its noise
    assert bound["mean"] + 1 < log_px["mean"] < 0
    assert "log p(x), k=200" in result.stdout


def test_aevb_eval_names_a_missing_checkpoint(tmp_path):
    result = run_entry_point("aevb-eval", f"ckpt_path={tmp_path}/nothing.ckpt", f"hydra.run.dir={tmp_path}", check=False)
    assert result.returncode != 0 and "nothing.ckpt does not exist" in result.stderr


def test_figures_are_drawn_from_the_sweeps_and_logged(sweeps, tmp_path):
    out = tmp_path / "figures"
    aevb_figures([str(sweeps / "mnist"), str(sweeps / "frey_face"), "--out", str(out)])
    names = ["figure2_mnist", "figure2_frey_face", "figure4_mnist", "figure4_frey_face", "figure5_mnist_2d", "figure5_mnist_5d"]
    for name in names:
        for suffix in ("png", "pdf"):
            assert (out / f"{name}.{suffix}").stat().st_size > 5000, name
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    assert {f"figures/{name}" for name in names} <= set(events.Tags()["images"])


def test_manifold_grid_is_the_inverse_gaussian_cdf_of_an_even_grid():
    z = manifold_latents(4)
    quantiles = torch.tensor([0.125, 0.375, 0.625, 0.875])
    values = torch.distributions.Normal(0.0, 1.0).icdf(quantiles)
    assert z.shape == (16, 2)
    torch.testing.assert_close(z[:4, 0], values)  # first row: z_1 left to right at the top value of z_2
    torch.testing.assert_close(z[::4, 1], values.flip(0))


def test_results_report_lists_every_run(sweeps, tmp_path):
    report = subprocess.run(
        [sys.executable, str(SCRIPTS / "results_report.py"), str(sweeps / "mnist"), str(sweeps / "frey_face"),
         "--figures", str(tmp_path / "figures")],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "## MNIST" in report and "## Frey Face" in report
    assert report.count("| 3,000 |") == 3  # one final row per run
    assert (tmp_path / "figures" / "figure2_mnist.png").is_file()
