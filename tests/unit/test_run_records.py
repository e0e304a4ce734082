"""A run's exported record holds what it computed, never where it ran: no data directory, no output root."""

import json

import pytest

from aevb.config.hydra_glue import PROJECT_ROOT, machine_specific, without_machine_keys
from aevb.runs.directory import Run
from aevb.runs.records import record
from compose import compose_train

COMMITTED = sorted(path for folder in ("runs", "diagnostics") for path in (PROJECT_ROOT / "docs" / folder).rglob("*.json"))


def strings(value):
    """Every string of a JSON document, keys included."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, str):
        yield value


def absolute_paths(document) -> list[str]:
    return [text for text in strings(document) if text.startswith(("/", "~")) or ":///" in text or text[1:3] in (":/", ":\\")]


def test_there_are_committed_records():
    assert len(COMMITTED) >= 34


@pytest.mark.parametrize("path", COMMITTED, ids=lambda path: str(path.relative_to(PROJECT_ROOT / "docs")))
def test_no_committed_record_holds_an_absolute_path(path):
    assert absolute_paths(json.loads(path.read_text())) == []


def test_a_runs_record_leaves_out_where_its_data_and_files_are(tmp_path, data_dir):
    run = Run(tmp_path / "outputs" / "runs" / "default")
    cfg = compose_train(["model.latent_dim=3", "logger=csv", "ckpt_path=/somewhere/last.ckpt"], run.directory, data_dir)
    run.write_config(cfg)
    run.csv_file.parent.mkdir()
    run.csv_file.write_text("step,lower_bound/test\n100,-150.5\n")
    run.write_metrics({"lower_bound": {"test": -150.5}, "checkpoints": {"last": str(run.checkpoint)}})
    estimator = {"name": "log_px_is", "description": "is_k5", "settings": {"importance_samples": 5}}
    run.write_evaluation({"checkpoint": str(run.checkpoint), "split": "test", "limit": None, "estimator": estimator,
                          "log_px_is": {"mean": -140.0}})  # fmt: skip
    values = record(run)
    assert absolute_paths(values) == []
    config = values["config"]
    assert "paths" not in config and "logger" not in config and "ckpt_path" not in config
    assert "data_dir" not in config["data"] and "default_root_dir" not in config["trainer"]
    assert config["model"]["latent_dim"] == 3 and config["callbacks"]["best_checkpoint"]["monitor"] == "model_selection/score"
    assert values["curves"] == {"lower_bound/test": [[100, -150.5]]} and values["evaluation"]["split"] == "test"


def test_machine_keys_name_any_callbacks_and_any_loggers_directories():
    assert machine_specific("data.data_dir") and machine_specific("callbacks.last_checkpoint.dirpath")
    assert machine_specific("logger.tensorboard.save_dir") and machine_specific("paths.output_root")
    assert not machine_specific("data.batch_size") and not machine_specific("callbacks.last_checkpoint.monitor")
    assert without_machine_keys({"paths": {"data_dir": "/d"}, "data": {"data_dir": "/d", "batch_size": 100}}) == {
        "data": {"batch_size": 100}
    }
