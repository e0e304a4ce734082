"""Faults lose nothing: a run or sweep killed at any moment continues when its command is re-run, a diverging run
stops with its last good checkpoint intact, and a failing job does not stop a sweep."""

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from torch.optim.optimizer import register_optimizer_step_pre_hook

from aevb.build import datamodule_and_model
from aevb.errors import CheckpointError, TrainingDiverged
from aevb.models.vae import VAE
from aevb.runs.checkpoints import AtomicCheckpointIO, read_checkpoint
from aevb.runs.directory import Run
from aevb.runs.resume import check_same_run
from aevb.train import train
from aevb.training.run_checks import trainer_arguments
from compose import compose_train
from processes import BIN, FREY, kill_after_first_checkpoint, run_entry_point, scalars, start, wait_for_first_checkpoint


@pytest.mark.slow
def test_sigterm_and_sigint_save_the_moment_stop_with_its_code_and_resume_exactly(uninterrupted, tmp_path, data_dir):
    expected = read_checkpoint(uninterrupted / "checkpoints" / "last.ckpt")
    for seed, (signum, code) in enumerate([(signal.SIGTERM, 143), (signal.SIGINT, 130)]):
        run_dir = tmp_path / signum.name
        process = start(run_dir, data_dir, *FREY)
        checkpointed = wait_for_first_checkpoint(process, run_dir, seed)
        process.send_signal(signum)
        output, _ = process.communicate(timeout=120)
        assert process.returncode == code, output[-2000:]
        status = json.loads((run_dir / "status.json").read_text())
        saved = read_checkpoint(run_dir / "checkpoints" / "last.ckpt")["samples_seen"]
        assert status["state"] == "stopped" and status["signal"] == signum.name and f"{saved:,} training samples" in output
        assert checkpointed <= saved < 200_000  # the state at the signal, not only the last evaluation's
        if signum == signal.SIGINT:  # the same stop as SIGTERM's; its resume, the same as SIGTERM's, is not run twice
            continue
        run_entry_point("aevb-train", f"hydra.run.dir={run_dir}", f"paths.data_dir={data_dir}", *FREY)  # the same command
        resumed = read_checkpoint(run_dir / "checkpoints" / "last.ckpt")
        assert resumed["samples_seen"] == 200_000
        assert all(torch.equal(resumed["state_dict"][name], tensor) for name, tensor in expected["state_dict"].items())
        steps = [step for step, _ in scalars(run_dir)["lower_bound/train"]]
        assert steps == [step for step, _ in scalars(uninterrupted)["lower_bound/train"]]  # every point once


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_parameters_as_an_uninterrupted_one(uninterrupted, tmp_path, data_dir):
    killed = tmp_path / "killed"

    left_at = kill_after_first_checkpoint(start(killed, data_dir, *FREY), killed, seed=1)
    assert 0 < left_at < 200000
    assert json.loads((killed / "status.json").read_text())["state"] == "running"
    result = run_entry_point("aevb-train", f"hydra.run.dir={killed}", f"paths.data_dir={data_dir}", *FREY)  # the same command
    assert f"Resuming {killed}" in result.stdout + result.stderr

    # bitwise: weights, optimiser state, sample count, data position
    expected, resumed = (read_checkpoint(run / "checkpoints" / "last.ckpt") for run in (uninterrupted, killed))
    assert resumed["samples_seen"] == expected["samples_seen"] == 200000
    for name, tensor in expected["state_dict"].items():
        assert torch.equal(resumed["state_dict"][name], tensor), name
    states = [checkpoint["optimizer_states"][0]["state"] for checkpoint in (expected, resumed)]
    for state, other in zip(states[0].values(), states[1].values(), strict=True):
        assert all(torch.equal(torch.as_tensor(state[key]), torch.as_tensor(other[key])) for key in state)  # step: an int
    # the curves continue: every point once, the same points and values as the uninterrupted run's
    curves, resumed_curves = scalars(uninterrupted), scalars(killed)
    for tag in ("lower_bound/train", "lower_bound/test", "minibatch/loss"):
        steps = [step for step, _ in resumed_curves[tag]]
        assert steps == sorted(set(steps)), tag
        assert resumed_curves[tag] == curves[tag], tag
    metrics = json.loads((killed / "metrics.json").read_text())
    assert metrics["resumed_from"] == left_at
    assert metrics["lower_bound"] == json.loads((uninterrupted / "metrics.json").read_text())["lower_bound"]
    assert json.loads((killed / "status.json").read_text()) == {"state": "resumed", "resumed_from": left_at}

    # re-running a finished run trains nothing and changes nothing
    before = (killed / "checkpoints" / "last.ckpt").stat().st_mtime_ns
    again = run_entry_point("aevb-train", f"hydra.run.dir={killed}", f"paths.data_dir={data_dir}", *FREY)
    assert "already finished" in again.stdout and (killed / "checkpoints" / "last.ckpt").stat().st_mtime_ns == before


class Stop(BaseException):
    """Stands in for a kill: nothing after it runs, like SIGKILL (Lightning saves nothing on a BaseException)."""


@pytest.mark.parametrize(
    ("overrides", "stop_at_update"),
    [
        pytest.param([*FREY[:1], "trainer.max_samples=12000", *FREY[2:]], 33, marks=pytest.mark.slow),
        ([*FREY[:1], "trainer.max_samples=12000", *FREY[2:]], 45),
        pytest.param(["data=frey_face", "trainer.max_epochs=5"], 40, marks=pytest.mark.slow),
        pytest.param(
            ["trainer.max_epochs=3", "trainer.limit_train_batches=20", "data.val_size=1000"], 25, marks=pytest.mark.slow
        ),
        pytest.param(["data=frey_face", "trainer.max_epochs=2", "trainer.log_every_n_steps=2"], 5, marks=pytest.mark.slow),
        pytest.param(  # the periodic save between evaluations, by steps here instead of minutes
            [
                "data=frey_face",
                "trainer.max_epochs=3",
                "callbacks.periodic_checkpoint.train_time_interval=null",
                "+callbacks.periodic_checkpoint.every_n_train_steps=5",
                "trainer.log_every_n_steps=2",
            ],
            23,
            marks=pytest.mark.slow,
        ),
    ],
    ids=[
        "checkpoint_at_an_epochs_end",
        "checkpoint_mid_epoch",
        "every_epoch",
        "limit_train_batches",
        "no_checkpoint_yet",
        "periodic_checkpoint",
    ],
)
def test_resume_is_exact_wherever_the_last_checkpoint_was_taken(overrides, stop_at_update, tmp_path, data_dir, monkeypatch):
    overrides = [*overrides, "trainer.enable_progress_bar=false"]
    expected = train(compose_train(overrides, tmp_path / "uninterrupted", data_dir))
    training_loss = VAE.training_loss

    def stops(self, batch, noise=None):
        if self.trainer.global_step + 1 == stop_at_update:
            raise Stop
        return training_loss(self, batch, noise)

    monkeypatch.setattr(VAE, "training_loss", stops)
    with pytest.raises(Stop):
        train(compose_train(overrides, tmp_path / "stopped", data_dir))
    monkeypatch.setattr(VAE, "training_loss", training_loss)
    resumed = train(compose_train(overrides, tmp_path / "stopped", data_dir))
    if stop_at_update < 16:  # before the first evaluation (16 updates: an epoch of Frey Face): it starts again
        assert resumed["resumed_from"] is None
    else:
        assert 0 < resumed["resumed_from"] < expected["samples_seen"]
    assert resumed["samples_seen"] == expected["samples_seen"]
    assert resumed["lower_bound"] == expected["lower_bound"] and resumed["epochs"] == expected["epochs"]
    runs = [tmp_path / "uninterrupted", tmp_path / "stopped"]
    weights = [read_checkpoint(run / "checkpoints" / "last.ckpt")["state_dict"] for run in runs]
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])
    curves = [scalars(run) for run in runs]  # the first attempt's points after its checkpoint are hidden, not repeated
    assert curves[1] == curves[0]


@pytest.mark.slow
def test_a_killed_sweep_completes_when_the_same_command_is_run_again(tmp_path, data_dir):
    command = [
        str(BIN / "aevb-train"),
        "-m",
        f"hydra.sweep.dir={tmp_path}",
        f"paths.data_dir={data_dir}",
        *FREY,
        "model.latent_dim=2,3",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    job = ",".join(sorted([*FREY, "model.latent_dim={}"]))  # a job's directory: its number and overrides
    first, second = tmp_path / f"0_{job.format(2)}", tmp_path / f"1_{job.format(3)}"
    kill_after_first_checkpoint(process, second, seed=2)  # the second job, after the first finished
    assert json.loads((first / "status.json").read_text())["state"] == "finished"
    assert json.loads((second / "status.json").read_text())["state"] == "running"

    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = json.loads((tmp_path / "summary.json").read_text())
    assert [row["state"] for row in rows] == ["finished earlier", "resumed"]
    assert all(row["samples_seen"] == 200000 for row in rows)
    assert "2 of 2 jobs finished" in result.stdout and "resumed at" in result.stdout


@pytest.mark.slow
def test_a_failing_job_does_not_stop_the_sweep_and_the_summary_gives_its_reason(tmp_path, data_dir):
    result = run_entry_point(
        "aevb-train",
        "-m",
        f"hydra.sweep.dir={tmp_path}",
        f"paths.data_dir={data_dir}",
        "data=frey_face",
        "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false",
        "model/likelihood=gaussian,bernoulli",
        check=False,
    )
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    rows = json.loads((tmp_path / "summary.json").read_text())
    assert [row["job"].split(",")[1] for row in rows] == ["model-likelihood=gaussian", "model-likelihood=bernoulli"]
    assert rows[0]["state"] == "finished"
    failed = rows[1]
    assert failed["state"] == "failed" and "model.likelihood.continuous_data=true" in failed["reason"]
    assert "1 of 2 jobs finished" in result.stdout and "reason: model.likelihood is Bernoulli" in result.stdout


def diverging_after(update: int, monkeypatch) -> None:
    """Make the VAE's training loss NaN from the given update on (a stand-in for a step size that is too large)."""
    training_loss = VAE.training_loss

    def loss_that_diverges(self, batch, noise=None):
        loss, scalars = training_loss(self, batch, noise)
        return (loss * float("nan") if self.trainer.global_step + 1 >= update else loss), scalars

    monkeypatch.setattr(VAE, "training_loss", loss_that_diverges)


def test_nan_stops_training_at_its_update_and_the_last_good_checkpoint_stays_intact(tmp_path, data_dir, monkeypatch):
    cfg = compose_train(["data=frey_face", "trainer.max_epochs=3", "trainer.limit_train_batches=4"], tmp_path, data_dir)
    diverging_after(10, monkeypatch)
    with pytest.raises(TrainingDiverged) as caught:
        train(cfg)
    message = str(caught.value)
    assert "became nan at update 10 (900 samples seen)" in message
    assert "optimizer.lr=" in message and "data range" in message and "min_log_var" in message
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert f"The last good checkpoint, {last}, is intact" in message
    checkpoint = read_checkpoint(last)
    assert checkpoint["samples_seen"] == 800  # the evaluation after two epochs of 4 minibatches
    assert all(torch.isfinite(t).all() for t in checkpoint["state_dict"].values())
    assert json.loads((tmp_path / "status.json").read_text())["state"] == "running"  # main() records the failure


@pytest.mark.slow
def test_a_nan_in_a_single_run_prints_one_line_and_exits_1(tmp_path, data_dir):
    result = run_entry_point(
        "aevb-train",
        f"hydra.run.dir={tmp_path}",
        f"paths.data_dir={data_dir}",
        "data=frey_face",
        "optimizer.lr=1e30",
        "trainer.max_epochs=2",
        "trainer.enable_progress_bar=false",
        check=False,
    )
    assert result.returncode == 1
    assert "aevb-train: the training loss became nan at update" in result.stderr and "Traceback" not in result.stderr
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["state"] == "failed" and "Likely causes: a step size too large (optimizer.lr=1e+30" in status["reason"]


def test_gradient_clipping_bounds_each_updates_gradient(tmp_path, data_dir):
    norms = {}

    def record(optimizer, args, kwargs):  # the gradient each optimiser step is about to take
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        norms[clip].append(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item())

    hook = register_optimizer_step_pre_hook(record)
    try:
        for clip in ("null", "0.5"):
            norms[clip] = []
            overrides = [
                "data=frey_face",
                "trainer.max_epochs=1",
                "trainer.limit_train_batches=3",
                "callbacks=none",
                "trainer.enable_checkpointing=false",
                f"model.gradient_clip_norm={clip}",
            ]
            cfg = compose_train(overrides, tmp_path / clip, data_dir)
            datamodule, model = datamodule_and_model(cfg)
            instantiate(trainer_arguments(cfg), logger=False).fit(model, datamodule)
    finally:
        hook.remove()
    assert len(norms["null"]) == len(norms["0.5"]) == 3
    assert min(norms["null"]) > 0.5 and norms["0.5"] == pytest.approx([0.5] * 3, rel=1e-4)


def test_a_checkpoint_save_killed_midway_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"samples_seen": 1, "w": torch.ones(3)}, path)

    def dies_while_writing(obj, file, *args, **kwargs):
        file.write(b"PK\x03\x04 half a checkpoint")
        raise KeyboardInterrupt  # the process is stopped in the middle of the write

    monkeypatch.setattr(torch, "save", dies_while_writing)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"samples_seen": 2, "w": torch.zeros(3)}, path)
    assert read_checkpoint(path)["samples_seen"] == 1 and os.listdir(tmp_path) == ["last.ckpt"]


def test_checkpoints_load_without_running_pickled_code(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    torch.save({"state_dict": {}, "payload": Payload()}, tmp_path / "evil.ckpt")
    with pytest.raises(CheckpointError, match="evil.ckpt cannot be read"):
        read_checkpoint(tmp_path / "evil.ckpt")
    assert not marker.exists()
    (tmp_path / "cut.ckpt").write_bytes((tmp_path / "evil.ckpt").read_bytes()[:50])
    with pytest.raises(CheckpointError, match="cut.ckpt cannot be read.*truncated"):
        read_checkpoint(tmp_path / "cut.ckpt")


def test_a_run_directory_of_another_config_is_not_continued(tmp_path, data_dir):
    quick = ["debug=frey_blink"]
    train(compose_train([*quick, "model.latent_dim=3"], tmp_path / "run", data_dir))
    with pytest.raises(CheckpointError, match=r"holds a run of another config.*model.latent_dim: 3 -> 4"):
        train(compose_train([*quick, "model.latent_dim=4"], tmp_path / "run", data_dir))
    with pytest.raises(CheckpointError, match=r"ckpt_path=.* another model.*model.latent_dim: 3 -> 4"):
        checkpoint = tmp_path / "run" / "checkpoints" / "last.ckpt"
        train(compose_train([*quick, "model.latent_dim=4", f"ckpt_path={checkpoint}"], tmp_path / "other", data_dir))


def test_a_setting_added_since_a_run_started_does_not_stop_its_resume_at_its_default(tmp_path, data_dir):
    """A run whose config.yaml predates a setting (here model.kl_weight, as if added later) ran as its default."""
    quick = ["debug=frey_blink", "model.latent_dim=3"]
    train(compose_train(quick, tmp_path, data_dir))
    config = tmp_path / "config.yaml"
    config.write_text("\n".join(line for line in config.read_text().splitlines() if "kl_weight" not in line))
    (tmp_path / "metrics.json").unlink()  # unfinished: the next command continues it
    check_same_run(Run(tmp_path), compose_train(quick, tmp_path, data_dir))  # kl_weight 1.0, VAE's default
    with pytest.raises(CheckpointError, match=r"model.kl_weight: None -> 0.5"):
        check_same_run(Run(tmp_path), compose_train([*quick, "model.kl_weight=0.5"], tmp_path, data_dir))


@pytest.mark.slow
def test_a_second_launch_of_a_running_command_is_refused_naming_the_first(tmp_path, data_dir):
    first = start(tmp_path, data_dir, *FREY)
    wait_for_first_checkpoint(first, tmp_path, seed=4)
    written = {path: path.stat().st_mtime_ns for path in (tmp_path / "config.yaml", tmp_path / "status.json")}
    second = run_entry_point("aevb-train", f"hydra.run.dir={tmp_path}", f"paths.data_dir={data_dir}", *FREY, check=False)
    assert second.returncode == 1 and "Traceback" not in second.stderr
    assert second.stderr.strip().splitlines()[-1].startswith(f"aevb-train: {tmp_path} is in use by pid {first.pid} on ")
    assert {path: path.stat().st_mtime_ns for path in written} == written  # the refused launch wrote nothing
    output, _ = first.communicate(timeout=600)
    assert first.returncode == 0, output[-2000:]  # the first goes on undisturbed: every point once
    steps = [step for step, _ in scalars(tmp_path)["lower_bound/train"]]
    assert steps == sorted(set(steps)) and steps[-1] == 200_000
