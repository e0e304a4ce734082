"""Lightning's conventions do what they say here: callbacks monitor any evaluated term, aevb-train returns the
optimized_metric, early stopping stops a run, learning-rate schedulers step, and the debug presets run."""

import json

import pytest
from lightning.pytorch.callbacks import ModelCheckpoint

from aevb.build import build_trainer, datamodule_and_model
from aevb.errors import ConfigError
from aevb.run_checks import check_run_config
from compose import compose_train
from processes import run_entry_point

FREY_WITH_VAL = ["debug=frey_blink", "data.val_size=200"]  # Frey Face has no validation split unless asked


def test_callbacks_see_every_evaluated_term(tmp_path, data_dir):
    cfg = compose_train([*FREY_WITH_VAL, "trainer.max_epochs=3"], tmp_path, data_dir)
    datamodule, model = datamodule_and_model(cfg)
    best_bound = ModelCheckpoint(dirpath=tmp_path, filename="best_bound", monitor="lower_bound/val", mode="max")
    trainer = build_trainer(cfg, [best_bound], logger=False)
    trainer.fit(model, datamodule=datamodule)
    for term in ("lower_bound", "log_likelihood", "kl"):
        for split in ("train", "val", "test"):
            assert trainer.callback_metrics[f"{term}/{split}"] == pytest.approx(model.last_evaluation[f"{term}/{split}"])
    assert trainer.callback_metrics["model_selection/score"] == pytest.approx(model.last_evaluation["lower_bound/val"])
    assert best_bound.best_model_path == str(tmp_path / "best_bound.ckpt")
    assert float(best_bound.best_model_score) >= model.last_evaluation["lower_bound/val"]


@pytest.mark.parametrize("key", ["optimized_metric", "+callbacks.early_stopping.monitor"])
def test_a_metric_no_evaluation_gives_is_refused_before_training(key, tmp_path, data_dir):
    overrides = ["+callbacks.early_stopping._target_=lightning.pytorch.callbacks.EarlyStopping"] if "callbacks" in key else []
    cfg = compose_train([*overrides, f"{key}=val/elbo"], tmp_path, data_dir)
    with pytest.raises(ConfigError, match=r"=val/elbo is not a .*metric.*lower_bound/val"):
        check_run_config(cfg)


@pytest.mark.slow
def test_aevb_train_names_the_metrics_when_the_optimized_one_was_not_evaluated(tmp_path, data_dir):
    result = run_entry_point("aevb-train", f"hydra.run.dir={tmp_path}", f"paths.data_dir={data_dir}", "debug=frey_blink",
                             "optimized_metric=marginal_likelihood/val", check=False)  # fmt: skip
    assert result.returncode == 1
    assert "optimized_metric=marginal_likelihood/val is not a value of this run's final evaluation" in result.stderr
    assert "model_selection/score, lower_bound/train, " in result.stderr and "kl/test" in result.stderr
    assert json.loads((tmp_path / "status.json").read_text())["state"] == "finished"
