"""A run directory written before the redesign of issue 14 (classes in aevb.models.*, model.num_samples, no model.prior)
continues, evaluates and is read as before."""

import json

import pytest
from omegaconf import OmegaConf

from aevb.build import load_model
from aevb.config.hydra_glue import PROJECT_ROOT
from aevb.config.schema import EVAL_RENAMED_KEYS, RENAMED_KEYS, refuse_renamed_keys
from aevb.errors import ConfigError
from aevb.runs.directory import Run
from aevb.runs.legacy import MOVED_MODULES
from aevb.runs.records import find_records
from aevb.train import train
from compose import compose_train

QUICK = [
    "trainer.limit_train_batches=10", "data.val_size=500", "data.eval_limit=500", "model.latent_dim=3",
    "model/log_px=hmc", "model.log_px.posterior_samples=8", "model.log_px.burn_in=2",
]  # fmt: skip


def as_written_before_the_redesign(config_file) -> None:
    """Rewrite a run's config.yaml in the spelling of commit cfbcb42."""
    text = config_file.read_text()
    for old, new in MOVED_MODULES.items():
        text = text.replace(f"_target_: {new}.", f"_target_: {old}.")
    config = OmegaConf.create(text)
    del config.model.prior
    config.model.num_samples = config.model.pop("bound_samples")
    config.model.marginal_likelihood = config.model.pop("log_px")
    config.model.marginal_likelihood.num_samples = config.model.marginal_likelihood.pop("posterior_samples")
    config.model.marginal_likelihood._target_ = "aevb.models.marginal_likelihood.HMCMarginalLikelihood"
    config_file.write_text(OmegaConf.to_yaml(config))


@pytest.mark.slow
def test_an_old_run_directory_continues_and_loads(tmp_path, data_dir):
    train(compose_train([*QUICK, "trainer.max_epochs=1"], tmp_path, data_dir))
    as_written_before_the_redesign(tmp_path / "config.yaml")
    (tmp_path / "metrics.json").unlink()  # as if killed after its last checkpoint
    old = (tmp_path / "config.yaml").read_text()
    assert "aevb.models.networks.MLPDecoder" in old and "\n  prior:" not in old and "num_samples: 1" in old
    metrics = train(compose_train([*QUICK, "trainer.max_epochs=1"], tmp_path, data_dir))
    assert metrics["resumed_from"] == 1000 and metrics["samples_seen"] == 1000
    run = Run(tmp_path)
    assert run.algorithm == "AEVB" and run.config.model.bound_samples == 1
    model = load_model(run.checkpoint)
    assert model.prior.is_standard_normal and model.log_px.posterior_samples == 8
    assert json.loads((tmp_path / "metrics.json").read_text())["lower_bound"]["test"] < -90


@pytest.mark.parametrize("key", ["model.num_samples", "model.marginal_likelihood"])
def test_a_config_file_with_a_renamed_key_is_refused_naming_the_new_one(key, tmp_path, data_dir):
    from aevb.training.run_checks import check_run_config

    cfg = compose_train(["model/log_px=hmc"], tmp_path, data_dir)
    OmegaConf.update(cfg, key, 2, force_add=True)
    with pytest.raises(ConfigError, match=f"{key} is now called"):
        check_run_config(cfg)


@pytest.mark.parametrize(
    ("arguments", "renamed", "new"),
    [
        ("model/marginal_likelihood=hmc", RENAMED_KEYS, "model/log_px"),
        ("model.marginal_likelihood.burn_in=2", RENAMED_KEYS, "model.log_px.burn_in"),
        ("model.marginal_likelihood.num_samples=8", RENAMED_KEYS, "model.log_px.posterior_samples"),
        ("importance_samples=100", EVAL_RENAMED_KEYS, "estimator.importance_samples"),
        ("max_rows=4000", EVAL_RENAMED_KEYS, "estimator.max_rows"),
    ],
)
def test_an_old_spelling_of_the_log_px_estimator_on_the_command_line_is_refused_naming_the_new_one(arguments, renamed, new):
    with pytest.raises(ConfigError, match=f"is now called {new} .*write {new}="):
        refuse_renamed_keys([arguments], renamed)


def test_committed_figure_3_records_read_in_todays_names():
    records = find_records(PROJECT_ROOT / "docs" / "runs" / "figure3_mnist")
    assert len(records) == 6
    for record in records:
        assert record.curve("log_px_hmc/train") and not record.curve("marginal_likelihood/train")
        assert record.config.model.log_px._target_ == "aevb.estimators.appendix_d.AppendixD"
        assert "log_px_hmc" in record.metrics and "hmc_acceptance" in record.metrics
    mcem = [record for record in records if record.algorithm == "MCEM"]
    assert mcem and all(record.metrics["selection_term"] == "log_px_hmc" for record in mcem)
