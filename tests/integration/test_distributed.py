"""Past one process: `aevb-train trainer=ddp` on two CPU processes (and one of them killed), its refusal inside a
multirun, and sweeps run side by side."""

import json
import math
import os
import signal
import time

import pytest
import torch

from aevb.build import load_model
from aevb.estimators.importance_sampling import ImportanceSampling
from aevb.evaluate import evaluate, load_datamodule
from aevb.runs.checkpoints import read_checkpoint
from processes import child_processes, run_entry_point, scalars, start, wait_for_first_checkpoint

pytestmark = pytest.mark.slow  # every test here starts processes: DDP ranks, a parallel sweep

SMALL = [
    "data.train_limit=2000",  # 20 global minibatches of 100 an epoch, 50 datapoints per rank each
    "data.eval_limit=999",  # odd, so the two ranks score parts of unequal size
    "model.decoder.hidden_dim=50",
    "trainer.max_samples=4000",
    "trainer.enable_progress_bar=false",
]
DDP_ON_TWO_CPU_PROCESSES = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"]


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("ddp")
    run_dir = root / "run"
    result = run_entry_point(
        "aevb-train", *DDP_ON_TWO_CPU_PROCESSES, *SMALL, f"hydra.run.dir={run_dir}", f"paths.data_dir={data_dir}"
    )
    return root, run_dir, result


def test_ddp_counts_the_samples_of_both_ranks(ddp_run):
    _, run_dir, result = ddp_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["samples_seen"] == 4000 and metrics["epochs"] == 2
    assert "2,000 / 4,000 samples (50%)" in result.stdout + result.stderr  # the progress line's target: global samples
    assert [step for step, _ in scalars(run_dir)["lower_bound/test"]] == [2000, 4000]


def test_ddp_evaluation_scores_each_datapoint_once_and_matches_one_process(ddp_run, data_dir):
    _, run_dir, _ = ddp_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["datapoints"] == {"train": 999, "val": 999, "test": 999}
    # The same checkpoint scored again on one process: the two estimates of the bound agree within their noise.
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    model = load_model(str(checkpoint))
    assert model.samples_seen == 4000
    images = load_datamodule(str(checkpoint), str(data_dir)).eval_splits["test"]
    alone = evaluate(model, ImportanceSampling(importance_samples=1), images, batch_size=500, seed=1)
    assert alone["num_datapoints"] == 999
    bound = alone["lower_bound"]
    assert abs(metrics["lower_bound"]["test"] - bound["mean"]) < 4 * math.sqrt(2) * bound["standard_error"]


def test_ddp_ranks_write_one_run_directory(ddp_run):
    root, run_dir, result = ddp_run
    assert [p.name for p in root.iterdir()] == ["run"]  # the second rank wrote no directory of its own
    assert result.stdout.count("Lower bound per datapoint") == 1  # one report, from rank 0
    assert (run_dir / "config.yaml").exists() and (run_dir / "data_split.json").exists()


def test_ddp_inside_a_multirun_is_refused_before_training(tmp_path, data_dir):
    result = run_entry_point(
        "aevb-train",
        "-m",
        *DDP_ON_TWO_CPU_PROCESSES,
        *SMALL,
        "model.latent_dim=2,3",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        f"paths.data_dir={data_dir}",
        check=False,
    )
    assert result.returncode != 0
    message = result.stderr + result.stdout
    assert "inside a multirun" in message and "one device per job" in message and "submitit_slurm" in message
    assert not list(tmp_path.rglob("*.ckpt")) and not list(tmp_path.rglob("metrics.json"))


def test_local_parallel_launcher_runs_the_jobs_of_a_sweep_side_by_side(tmp_path, data_dir):
    result = run_entry_point(
        "aevb-train",
        "-m",
        "hydra/launcher=local_parallel",
        "data=frey_face",
        "model.latent_dim=2,3",
        "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false",
        f"hydra.sweep.dir={tmp_path}",
        f"paths.data_dir={data_dir}",
    )
    assert "Joblib.Parallel(n_jobs=2" in result.stdout + result.stderr  # two worker processes at once
    runs = sorted(p for p in tmp_path.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert [r.name.split("_")[0] for r in runs] == ["0", "1"]
    for run, latent_dim in zip(runs, (2, 3), strict=True):
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["samples_seen"] == 1600 and math.isfinite(metrics["lower_bound"]["test"])
        assert f"latent_dim: {latent_dim}" in (run / "config.yaml").read_text()


def test_a_ddp_run_that_loses_a_rank_stops_within_seconds_and_resumes_exactly(ddp_run, tmp_path, data_dir):
    _, uninterrupted, _ = ddp_run
    run_dir = tmp_path / "run"
    command = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", *SMALL]
    main = start(run_dir, data_dir, *command)
    wait_for_first_checkpoint(main, run_dir, seed=0, pause=0)  # the first evaluation's, at 2,000 of 4,000 samples
    [rank_1] = [pid for pid, env in child_processes(main.pid).items() if env.get("LOCAL_RANK") == "1"]
    os.kill(rank_1, signal.SIGKILL)  # rank 0 waits on it in its next exchange of gradients
    lost_at = time.monotonic()
    output, _ = main.communicate(timeout=60)
    assert main.returncode in (1, -signal.SIGKILL) and time.monotonic() - lost_at < 30, output[-2000:]
    status = json.loads((run_dir / "status.json").read_text())
    if main.returncode == 1:  # rank 0 met the lost rank in its exchange of gradients, and says so
        assert status["state"] == "failed" and "a DDP process of this run was lost" in status["reason"]
        assert "re-run the same command" in output
    else:  # Lightning's observer of the ranks (it polls every few seconds) saw the dead rank first and killed them all
        assert "terminated with code -9" in output and status["state"] == "running"
    assert not (run_dir / "metrics.json").exists()

    run_entry_point("aevb-train", *command, f"hydra.run.dir={run_dir}", f"paths.data_dir={data_dir}")  # the same command
    resumed, expected = (read_checkpoint(run / "checkpoints" / "last.ckpt") for run in (run_dir, uninterrupted))
    assert resumed["samples_seen"] == 4000 and json.loads((run_dir / "status.json").read_text())["state"] == "resumed"
    assert all(torch.equal(resumed["state_dict"][key], tensor) for key, tensor in expected["state_dict"].items())
    assert [step for step, _ in scalars(run_dir)["lower_bound/test"]] == [2000, 4000]  # every point once
