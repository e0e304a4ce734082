"""A run's identity holds no machine path: where its data and its outputs are is left out of its name and of the check
that a re-run continues the same run, so a run copied to another machine resumes there exactly."""

import shutil
import sys

import pytest
import torch
from lightning.pytorch.loggers import WandbLogger

from aevb.config.hydra_glue import NOT_DEFINING_A_RUN, command_name
from aevb.errors import CheckpointError
from aevb.models.vae import VAE
from aevb.runs.checkpoints import read_checkpoint
from aevb.runs.directory import Run
from aevb.runs.resume import check_same_run
from aevb.tracking.loggers import continued, remember_ids
from aevb.train import train
from compose import compose_train
from processes import scalars

QUICK = ["debug=frey_blink", "model.latent_dim=3"]


def test_a_runs_name_leaves_out_where_its_data_and_outputs_are(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["aevb-train", "data.data_dir=/elsewhere/data", "model.latent_dim=3",
                                      "callbacks.best_checkpoint.dirpath=/elsewhere/checkpoints", "trainer.default_root_dir=/x",
                                      "paths.output_root=/elsewhere/outputs", "logger.csv.save_dir=/y"])  # fmt: skip
    assert command_name(list(NOT_DEFINING_A_RUN)) == "model.latent_dim=3"


def test_a_run_checked_on_another_machine_is_the_same_run_and_another_config_is_not(tmp_path, data_dir):
    first = tmp_path / "machine_a" / "run"
    train(compose_train(QUICK, first, data_dir))
    moved = shutil.copytree(first, tmp_path / "machine_b" / "outputs" / "run")
    data_copy = shutil.copytree(data_dir, tmp_path / "machine_b" / "data", ignore=shutil.ignore_patterns("MNIST"))
    check_same_run(Run(moved), compose_train(QUICK, moved, data_copy))
    with pytest.raises(CheckpointError, match=r"model.latent_dim: 3 -> 4"):
        check_same_run(Run(moved), compose_train([*QUICK[:1], "model.latent_dim=4"], moved, data_copy))


class Stop(BaseException):
    """Stands in for a kill: nothing after it runs, like SIGKILL (Lightning saves nothing on a BaseException)."""


@pytest.mark.slow
def test_a_run_copied_to_another_machine_resumes_there_exactly(tmp_path, data_dir, monkeypatch):
    """Stopped partway on one machine, its directory and the data copied to another (another output root, another data
    directory) and the first machine's copies gone: it ends where an uninterrupted run ends."""
    overrides = ["debug=quick", "trainer.max_epochs=3", "data.eval_limit=1000"]
    expected = train(compose_train(overrides, tmp_path / "uninterrupted", data_dir))
    training_loss = VAE.training_loss

    def stops(self, batch, noise=None):
        if self.trainer.global_step + 1 == 45:
            raise Stop
        return training_loss(self, batch, noise)

    monkeypatch.setattr(VAE, "training_loss", stops)
    machine_a = tmp_path / "machine_a"
    shutil.copytree(data_dir / "MNIST", machine_a / "data" / "MNIST")
    with pytest.raises(Stop):
        train(compose_train(overrides, machine_a / "outputs" / "run", machine_a / "data"))
    monkeypatch.setattr(VAE, "training_loss", training_loss)
    machine_b = tmp_path / "machine_b"
    run = shutil.copytree(machine_a / "outputs" / "run", machine_b / "outputs" / "run")
    data = shutil.copytree(machine_a / "data", machine_b / "data")
    shutil.rmtree(machine_a)

    resumed = train(compose_train(overrides, run, data))
    assert 0 < resumed["resumed_from"] < expected["samples_seen"] == resumed["samples_seen"]
    assert resumed["lower_bound"] == expected["lower_bound"] and resumed["epochs"] == expected["epochs"]
    for name in ("last", "best"):
        runs = (tmp_path / "uninterrupted", run)
        weights = [read_checkpoint(where / "checkpoints" / f"{name}.ckpt")["state_dict"] for where in runs]
        assert all(torch.equal(weights[0][key], weights[1][key]) for key in weights[0]), name
    assert scalars(run) == scalars(tmp_path / "uninterrupted")
    assert Run(run).config.data.data_dir == str(data)


def test_a_run_copied_to_another_machine_continues_its_wandb_run(tmp_path):
    here = Run(tmp_path / "machine_a" / "runs" / "default")
    here.directory.mkdir(parents=True)
    first = continued("lightning.pytorch.loggers.WandbLogger", here, resumed_from=None)
    remember_ids([WandbLogger(offline=True, save_dir=str(tmp_path), **first)], here)  # as the first attempt does
    there = Run(tmp_path / "machine_b" / "elsewhere" / "default")
    shutil.copytree(here.directory, there.directory)
    assert continued("lightning.pytorch.loggers.WandbLogger", there, resumed_from=400)["id"] == first["id"]
    another = Run(tmp_path / "machine_a" / "runs" / "another")
    assert continued("lightning.pytorch.loggers.WandbLogger", another, resumed_from=None)["id"] != first["id"]
