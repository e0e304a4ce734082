"""Lightning's conventions do what they say here: callbacks monitor any evaluated term, aevb-train returns the
optimized_metric, early stopping stops a run, learning-rate schedulers step, and the debug presets run."""

import json
import logging

import pytest
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint

from aevb.build import build_trainer, datamodule_and_model
from aevb.errors import ConfigError
from aevb.runs.checkpoints import read_checkpoint
from aevb.runs.curves import csv_curves
from aevb.train import train
from aevb.training.run_checks import check_run_config
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


def test_early_stopping_stops_the_run_and_status_json_says_why(tmp_path, data_dir):
    # an improvement must be of 1000 nats: the second evaluation (after epoch 2) has none, and patience is 1
    stop_at_once = ["callbacks=early_stopping", "callbacks.early_stopping.min_delta=1000", "callbacks.early_stopping.patience=1"]
    metrics = train(compose_train([*FREY_WITH_VAL, "trainer.max_epochs=6", *stop_at_once], tmp_path, data_dir))
    assert metrics["samples_seen"] == 2 * 2 * 100 and metrics["epochs"] == 2
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["state"] == "finished"
    assert status["stopped_early"] == metrics["stopped_early"]
    assert "lower_bound/val did not improve in the last 1 records" in status["stopped_early"]


def test_lr_monitor_logs_the_scheduled_rate_against_samples_seen(tmp_path, data_dir):
    halving = ["scheduler=step", "scheduler.step_size=1", "scheduler.gamma=0.5", "optimizer.lr=0.001"]
    overrides = [*FREY_WITH_VAL, "trainer.max_epochs=2", "callbacks=lr_monitor", "logger=csv", "trainer.log_every_n_steps=1"]
    train(compose_train([*overrides, *halving], tmp_path, data_dir))
    curves = csv_curves(tmp_path / "csv" / "metrics.csv")
    # the rate each update takes, at the samples seen before it: halved after every update
    assert curves["lr-Adam"] == [(0, 1e-3), (100, 5e-4), (200, 2.5e-4), (300, 1.25e-4)]
    # what callbacks see of the evaluations reaches the loggers once, at samples seen, not again at Lightning's steps
    assert [step for step, _ in curves["lower_bound/val"]] == [200, 400] and "model_selection/score" not in curves


def test_a_plateau_scheduler_steps_at_evaluations_on_the_validation_bound(tmp_path, data_dir):
    # no evaluation improves on the first by 1000 nats: with patience 0 every later one halves the rate
    plateau = ["scheduler=plateau", "scheduler.patience=0", "+scheduler.threshold=1000", "+scheduler.threshold_mode=abs"]
    cfg = compose_train([*FREY_WITH_VAL, "trainer.max_epochs=3", "optimizer.lr=0.001", *plateau], tmp_path, data_dir)
    datamodule, model = datamodule_and_model(cfg)
    evaluations = EachEvaluation()
    trainer = build_trainer(cfg, [evaluations], logger=False)
    trainer.fit(model, datamodule=datamodule)
    assert [rate for rate, _ in evaluations.seen] == [1e-3, 5e-4, 2.5e-4]  # after the evaluations at 200, 400, 600 samples
    first_bound = evaluations.seen[0][1]
    assert trainer.lr_scheduler_configs[0].scheduler.best == pytest.approx(first_bound)  # the value it stepped on


class EachEvaluation(Callback):
    """The learning rate after each evaluation, and the validation bound it gave."""

    def __init__(self):
        self.seen: list[tuple[float, float]] = []

    def on_validation_end(self, trainer, pl_module):
        self.seen.append((trainer.optimizers[0].param_groups[0]["lr"], float(trainer.callback_metrics["lower_bound/val"])))


@pytest.mark.parametrize(
    ("scheduler", "steps_at_checkpoint"),
    [
        pytest.param(["scheduler=step", "scheduler.step_size=3"], 4, marks=pytest.mark.slow),
        (["scheduler=plateau", "scheduler.patience=0"], 2),
    ],
    ids=["step: per update", "plateau: per evaluation"],
)
def test_a_resumed_run_continues_the_schedule_exactly(scheduler, steps_at_checkpoint, tmp_path, data_dir):
    def run(name: str, epochs: int, *more: str) -> dict:
        cfg = compose_train([*FREY_WITH_VAL, f"trainer.max_epochs={epochs}", *scheduler, *more], tmp_path / name, data_dir)
        train(cfg)
        return read_checkpoint(tmp_path / name / "checkpoints" / "last.ckpt")

    whole = run("whole", 4)
    first_half = run("first_half", 2)
    assert first_half["lr_schedulers"][0]["last_epoch"] == steps_at_checkpoint
    resumed = run("resumed", 4, f"ckpt_path={tmp_path / 'first_half' / 'checkpoints' / 'last.ckpt'}")
    assert resumed["lr_schedulers"] == whole["lr_schedulers"]
    for name, tensor in whole["state_dict"].items():
        assert torch.equal(resumed["state_dict"][name], tensor), name


@pytest.mark.parametrize("preset", [["data=frey_face"], ["experiment=aevb_frey_face", "step_size_selection=none"]],
                         ids=["every epoch", "log-spaced evaluations"])  # fmt: skip
def test_debug_fdr_runs_one_minibatch_and_one_evaluation_batch_and_writes_no_checkpoint(preset, tmp_path, data_dir):
    metrics = train(compose_train(["debug=fdr", *preset], tmp_path, data_dir))
    assert metrics["samples_seen"] == 100 and metrics["checkpoints"] == {}
    assert metrics["datapoints"] == {"train": 1000, "test": 365}  # one evaluation batch of 1000 images each
    assert not (tmp_path / "checkpoints").exists()


def test_debug_limit_runs_three_short_epochs_evaluated_on_one_batch(tmp_path, data_dir):
    metrics = train(compose_train(["debug=limit", "data=frey_face"], tmp_path, data_dir))
    assert metrics["samples_seen"] == 3 * 5 * 100 and metrics["epochs"] == 3
    assert metrics["datapoints"] == {"train": 1000, "test": 365}
    assert {"last", "best"} <= set(metrics["checkpoints"])


@pytest.mark.slow
def test_debug_overfit_trains_a_small_fixed_subset_far_above_the_held_out_bound(tmp_path, data_dir):
    metrics = train(compose_train(["debug=overfit", "data=frey_face"], tmp_path, data_dir))
    assert metrics["datapoints"]["train"] == 300 and metrics["samples_seen"] == 100 * 300
    assert metrics["lower_bound"]["train"] > metrics["lower_bound"]["test"] + 100  # nats per datapoint


def test_debug_profiler_reports_the_time_spent_in_each_hook(tmp_path, data_dir, caplog):
    with caplog.at_level(logging.INFO, logger="lightning.pytorch.profilers"):
        metrics = train(compose_train(["debug=profiler", "data=frey_face"], tmp_path, data_dir))
    assert metrics["epochs"] == 1 and metrics["samples_seen"] == 1600
    report = next(record.getMessage() for record in caplog.records if "FIT Profiler Report" in record.getMessage())
    assert "run_training_batch" in report and "[LightningModule]VAE.on_validation_epoch_end" in report
