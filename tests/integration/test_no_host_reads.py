"""On an accelerator a training call reads nothing back to the host (each read would make the device's queue wait):
the finite-loss check and the minibatch scalars are noted on the device and read at evaluations, checkpoints and every
READ_BACK_EVERY calls. Tested on the CPU by taking it for an accelerator, with every read-back in training_step an error.
"""

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import aevb.models.latent_variable_model as latent_variable_model
from aevb.errors import TrainingDiverged
from aevb.models.vae import VAE
from aevb.runs.checkpoints import read_checkpoint
from aevb.train import train
from compose import compose_train
from processes import scalars

READS_BACK = {torch.ops.aten._local_scalar_dense.default, torch.ops.aten.is_nonzero.default, torch.ops.aten.item.default}
# The paper's MNIST preset, narrower, just past the Adagrad warm-up (100 updates without a step)
SHORT = ["experiment=aevb_mnist", "step_size_selection=none", "trainer.max_samples=10600", "data.eval_limit=100",
         "model.decoder.hidden_dim=50", "callbacks.image_grids=null", "trainer.log_every_n_steps=7"]  # fmt: skip


class NoReadBack(TorchDispatchMode):
    operations = 0  # seen inside training_step, over all calls

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in READS_BACK:
            raise AssertionError(f"{func} reads a value back to the host inside training_step")
        NoReadBack.operations += 1
        return func(*args, **(kwargs or {}))


def take_the_cpu_for_an_accelerator(monkeypatch) -> None:
    monkeypatch.setattr(latent_variable_model, "reads_back_cheaply", lambda device: False)
    training_step = latent_variable_model.LatentVariableModel.training_step

    def without_reading_back(self, *args, **kwargs):
        with NoReadBack():
            return training_step(self, *args, **kwargs)

    monkeypatch.setattr(latent_variable_model.LatentVariableModel, "training_step", without_reading_back)


@pytest.fixture
def as_on_an_accelerator(monkeypatch):
    take_the_cpu_for_an_accelerator(monkeypatch)


def test_a_training_call_reads_nothing_back_and_trains_and_logs_as_on_the_cpu(tmp_path, data_dir, monkeypatch):
    train(compose_train(SHORT, tmp_path / "cpu", data_dir))
    with monkeypatch.context() as patch:
        take_the_cpu_for_an_accelerator(patch)
        train(compose_train(SHORT, tmp_path / "accelerator", data_dir))
    assert NoReadBack.operations > 106 * 30  # every update's forward, backward and step went through it
    weights = [read_checkpoint(tmp_path / run / "checkpoints" / "last.ckpt")["state_dict"] for run in ("cpu", "accelerator")]
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])
    curves = [scalars(tmp_path / run) for run in ("cpu", "accelerator")]
    assert "minibatch/loss" in curves[0] and curves[1] == curves[0]  # the minibatch scalars at their own steps


def test_a_nan_noted_on_the_device_stops_training_at_the_next_read_and_no_checkpoint_holds_it(
    as_on_an_accelerator, tmp_path, data_dir, monkeypatch
):
    training_loss = VAE.training_loss

    def loss_that_diverges(self, batch, noise=None):
        loss, scalars = training_loss(self, batch, noise)
        return (loss * float("nan") if self.trainer.global_step + 1 >= 102 else loss), scalars

    monkeypatch.setattr(VAE, "training_loss", loss_that_diverges)
    with pytest.raises(TrainingDiverged) as caught:
        train(compose_train(SHORT, tmp_path, data_dir))
    message = str(caught.value)
    assert "became nan at update 102 (10,100 samples seen)" in message
    # read at the end of training, with its evaluation
    assert "training stopped at update 106, and what the updates from it trained is discarded" in message
    checkpoint = read_checkpoint(tmp_path / "checkpoints" / "last.ckpt")
    assert checkpoint["samples_seen"] <= 10100
    assert all(torch.isfinite(t).all() for t in checkpoint["state_dict"].values())
