"""The two tutorial presets train on the true bound: a short training of each improves it."""

import pytest

from aevb.train import train
from compose import compose_train
from processes import scalars

SHORT = ["data.train_limit=1024", "data.eval_limit=256", "data.val_size=1000", "trainer.max_epochs=2",
         "callbacks=none", "trainer.enable_checkpointing=false"]  # fmt: skip


@pytest.mark.parametrize("experiment", ["tutorial_mlp_mnist", pytest.param("keras_conv_mnist", marks=pytest.mark.slow)])
def test_a_short_training_of_each_tutorial_preset_improves_the_bound(experiment, tmp_path, data_dir):
    metrics = train(compose_train([f"experiment={experiment}", *SHORT], tmp_path, data_dir))
    assert metrics["samples_seen"] == 2 * 1024 and metrics["kl"]["test"] > 0
    first, last = (value for _, value in scalars(tmp_path)["lower_bound/test"])
    assert -550 < first < last < -100  # in nats per image, after one epoch and after two
    # beta = 1: the logged bound is the log-likelihood term less the KL, the true bound
    assert metrics["lower_bound"]["test"] == pytest.approx(metrics["log_likelihood"]["test"] - metrics["kl"]["test"], abs=1e-3)
