"""On an accelerator a training call reads nothing back to the host (each read would make the device's queue wait):
the finite-loss check and the minibatch scalars are noted on the device and read at evaluations, checkpoints and every
READ_BACK_EVERY calls. Tested on the CPU by taking it for an accelerator, with every read-back in training_step an error;
so is the call that a CUDA graph records (model.cuda_graph), rehearsed: run eagerly and checked to be replayable.
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


VARIANTS = {"clipped": ["model.gradient_clip_norm=5.0"], "wake_sleep": ["model=wake_sleep"], "iwae": ["model=iwae"]}


@pytest.mark.parametrize(
    "variant", [pytest.param(v, marks=pytest.mark.slow) for v in [[], *VARIANTS.values()]], ids=["aevb", *VARIANTS]
)
def test_a_rehearsed_graph_call_reads_nothing_back_is_replayable_and_trains_as_written(variant, tmp_path, data_dir, monkeypatch):
    short = [*SHORT, *variant]
    train(compose_train(short, tmp_path / "as_written", data_dir))
    with monkeypatch.context() as patch:
        take_the_cpu_for_an_accelerator(patch)
        # 10 calls of 10 updates (3 warm-up calls, one recorded, 6 checked against it), then 6 updates as written
        train(compose_train([*short, "model.cuda_graph=rehearse"], tmp_path / "rehearsed", data_dir))
    runs = [tmp_path / run for run in ("as_written", "rehearsed")]
    checkpoints = [read_checkpoint(run / "checkpoints" / "last.ckpt") for run in runs]
    weights = [checkpoint["state_dict"] for checkpoint in checkpoints]
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])
    assert checkpoints[1]["global_step"] == checkpoints[0]["global_step"] == 106
    steps = [state["step"] for state in checkpoints[1]["optimizer_states"][0]["state"].values()]
    assert all(isinstance(step, torch.Tensor) and int(step) == 106 for step in steps)  # counted on the device
    curves = [scalars(run) for run in runs]
    assert "minibatch/loss" in curves[0] and curves[1] == curves[0]  # each at its own step, not the call's last


@pytest.mark.slow
def test_a_nan_in_a_rehearsed_graph_call_stops_training_with_the_same_report(tmp_path, data_dir, monkeypatch):
    training_loss = VAE.training_loss

    def loss_that_diverges(self, batch, noise=None):  # the update number read from the call's own step count
        loss, scalars = training_loss(self, batch, noise)
        optimizer = self.optimizers().optimizer
        update = optimizer.state[optimizer.param_groups[0]["params"][0]]["step"] + 1
        return loss + torch.where(update >= 52, float("nan"), 0.0), scalars

    monkeypatch.setattr(VAE, "training_loss", loss_that_diverges)
    with pytest.raises(TrainingDiverged) as caught:
        train(compose_train([*SHORT, "model.cuda_graph=rehearse"], tmp_path, data_dir))
    # noted in the sixth call, recorded as a graph is, and read where training stops to evaluate
    assert "became nan at update 52 (5,100 samples seen); training stopped at update" in str(caught.value)


class Stop(BaseException):
    """Stands in for a kill: nothing after it runs (Lightning saves nothing on a BaseException)."""


GRAPH_MODES = [
    pytest.param(["model.cuda_graph=true", "trainer=gpu"], id="gpu",
                 marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="a CUDA graph needs a CUDA device")),
    pytest.param(["model.cuda_graph=rehearse"], id="cpu_rehearsed", marks=pytest.mark.slow),
]  # fmt: skip


@pytest.mark.parametrize("graph", GRAPH_MODES)
def test_replayed_calls_train_as_written_and_resume_exactly_after_a_kill(graph, tmp_path, data_dir, monkeypatch):
    longer = [*SHORT, "trainer.max_samples=30600", *graph[1:]]  # 30 calls of 10 updates, then 6 as written
    train(compose_train([*longer, "model.cuda_graph=false"], tmp_path / "as_written", data_dir))
    train(compose_train([*longer, graph[0]], tmp_path / "replayed", data_dir))
    captured_updates = latent_variable_model.LatentVariableModel.captured_updates

    def stops(self, minibatches):
        if self.trainer.global_step == 250:  # a replayed call; the run goes on from its last evaluation's checkpoint
            raise Stop
        captured_updates(self, minibatches)

    with monkeypatch.context() as patch:
        patch.setattr(latent_variable_model.LatentVariableModel, "captured_updates", stops)
        with pytest.raises(Stop):
            train(compose_train([*longer, graph[0]], tmp_path / "killed", data_dir))
    assert 10000 < train(compose_train([*longer, graph[0]], tmp_path / "killed", data_dir))["resumed_from"] < 25000
    runs = ["as_written", "replayed", "killed"]
    weights = [read_checkpoint(tmp_path / run / "checkpoints" / "last.ckpt")["state_dict"] for run in runs]
    for other in weights[1:]:
        assert all(torch.equal(weights[0][name], other[name]) for name in weights[0])
    assert scalars(tmp_path / "replayed") == scalars(tmp_path / "as_written") == scalars(tmp_path / "killed")
