"""logger=[tensorboard,csv,mlflow,wandb]: one real run writes all four, each read back with its own reader (MLflow's
client on a real SQLite store, W&B's offline run file, the CSV file, TensorBoard's events); a resumed run continues
each of them."""

import csv
import json

import pytest

from processes import kill_after_first_checkpoint, run_entry_point, scalars, start, wandb_offline_history

LOGGERS = ["logger=[tensorboard,csv,mlflow,wandb]", "logger.wandb.offline=true", "debug=frey_blink"]


def aevb_train(run_dir, output_root, data_dir, *overrides):
    return run_entry_point("aevb-train", f"hydra.run.dir={run_dir}", f"paths.output_root={output_root}",
                           f"paths.data_dir={data_dir}", *LOGGERS, *overrides)  # fmt: skip


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("loggers")
    aevb_train(root / "run", root, data_dir, "trainer.max_epochs=2")
    return root, root / "run"


def csv_rows(run_dir) -> list[dict]:
    with (run_dir / "csv" / "metrics.csv").open(newline="") as file:
        return list(csv.DictReader(file))


def mlflow_run(root):
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("aevb").experiment_id])
    return client, run


@pytest.mark.slow  # they share a 30-second training with every logger
def test_tensorboard_lists_the_bounds_last_points_beside_the_hyperparameters(logged_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata

    _, run_dir = logged_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    tags = scalars(run_dir)
    assert [step for step, _ in tags["lower_bound/train"]] == [200, 400]
    assert tags["lower_bound/train"][-1] == (400, pytest.approx(metrics["lower_bound"]["train"], abs=1e-4))
    assert not [tag for tag in tags if tag.startswith("hp/")]  # HPARAMS reads the curves' last points
    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    content = events.PluginTagToContent(metadata.PLUGIN_NAME)
    experiment = metadata.parse_experiment_plugin_data(content[metadata.EXPERIMENT_TAG])
    assert [metric.name.tag for metric in experiment.metric_infos] == ["lower_bound/train", "lower_bound/test"]
    start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
    assert start.hparams["latent_dim"].number_value == 20


@pytest.mark.slow  # they share a 30-second training with every logger
def test_tensorboard_charts_each_split_of_a_term_apart(logged_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.custom_scalar import layout_pb2

    _, run_dir = logged_run
    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    (config,) = events.Tensors("custom_scalars__config__")
    layout = layout_pb2.Layout.FromString(config.tensor_proto.string_val[0])
    charts = {chart.title: list(chart.multiline.tag) for category in layout.category for chart in category.chart}
    assert charts["lower bound: train"] == [r"^lower_bound/train$"] and charts["KL(q || p): test"] == [r"^terms/kl/test$"]


@pytest.mark.slow  # they share a 30-second training with every logger
def test_csv_has_a_row_per_evaluation_with_the_bounds(logged_run):
    _, run_dir = logged_run
    rows = [row for row in csv_rows(run_dir) if row["lower_bound/train"]]
    tensorboard = scalars(run_dir)["lower_bound/train"]
    assert [(int(row["step"]), pytest.approx(float(row["lower_bound/train"]), abs=1e-4)) for row in rows] == tensorboard
    assert "latent_dim: 20" in (run_dir / "csv" / "hparams.yaml").read_text()


@pytest.mark.slow  # they share a 30-second training with every logger
def test_mlflow_store_has_the_curves_the_hyperparameters_and_the_images(logged_run):
    root, run_dir = logged_run
    client, run = mlflow_run(root)
    history = client.get_metric_history(run.info.run_id, "lower_bound/train")
    assert [(m.step, pytest.approx(m.value, abs=1e-4)) for m in history] == scalars(run_dir)["lower_bound/train"]
    assert run.data.params["latent_dim"] == "20" and run.data.params["algorithm"] == "AEVB"
    assert run.info.run_name == f"{run_dir.parent.name}/{run_dir.name}" and run.info.status == "FINISHED"
    assert [artifact.path for artifact in client.list_artifacts(run.info.run_id)] == ["images"]
    assert json.loads((run_dir / "logger_ids.json").read_text())["mlflow"] == run.info.run_id


@pytest.mark.slow  # they share a 30-second training with every logger
def test_wandb_offline_run_has_the_curves(logged_run):
    _, run_dir = logged_run
    (run_file,) = (run_dir / "wandb").glob("offline-run-*/run-*.wandb")
    rows = [row for row in wandb_offline_history(run_file) if "lower_bound/train" in row]
    tensorboard = scalars(run_dir)["lower_bound/train"]
    assert [(row["trainer/global_step"], pytest.approx(row["lower_bound/train"], abs=1e-4)) for row in rows] == tensorboard


@pytest.mark.slow
def test_a_killed_run_continues_every_logger_when_its_command_is_run_again(tmp_path, data_dir):
    run_dir = tmp_path / "run"
    preset = ["experiment=aevb_frey_face", "trainer.max_samples=100000", "callbacks.evaluation_schedule.start_samples=2000",
              "step_size_selection=none", *LOGGERS[:2], f"paths.output_root={tmp_path}"]  # fmt: skip
    left_at = kill_after_first_checkpoint(start(run_dir, data_dir, *preset), run_dir, seed=3)
    run_entry_point("aevb-train", f"hydra.run.dir={run_dir}", f"paths.data_dir={data_dir}", *preset)  # the same command
    expected = [step for step, _ in scalars(run_dir)["lower_bound/train"]]
    assert left_at < expected[-1] == 100_000
    assert [int(row["step"]) for row in csv_rows(run_dir) if row["lower_bound/train"]] == expected  # no repeated row
    client, run = mlflow_run(tmp_path)  # one MLflow run, not two; points after the checkpoint may be there twice
    assert sorted({m.step for m in client.get_metric_history(run.info.run_id, "lower_bound/train")}) == expected
    attempts = list((run_dir / "wandb").glob("offline-run-*"))  # offline-run-<time>-<id>, one per attempt
    assert len(attempts) == 2 and len({path.name.rsplit("-", 1)[1] for path in attempts}) == 1  # one W&B run


def test_a_logger_whose_extra_is_missing_names_the_install_command(tmp_path, monkeypatch):
    import lightning.pytorch.loggers.mlflow as lightning_mlflow
    from omegaconf import OmegaConf

    from aevb.errors import ConfigError
    from aevb.runs.directory import Run
    from aevb.tracking.loggers import build_loggers

    monkeypatch.setattr(lightning_mlflow, "_MLFLOW_AVAILABLE", False)  # as where the mlflow extra is not installed
    config = OmegaConf.create({"mlflow": {"_target_": "lightning.pytorch.loggers.MLFlowLogger", "experiment_name": "x"}})
    with pytest.raises(ConfigError, match=r'logger=mlflow needs a package that is not installed: pip install "aevb\[mlflow\]"'):
        build_loggers(config, Run(tmp_path), resumed_from=None)


RESUMABLE_LOGGERS = [
    "lightning.pytorch.loggers.TensorBoardLogger",
    "aevb.tracking.sectioned_tensorboard.SectionedTensorBoardLogger",
    "aevb.tracking.loggers.ResumableCSVLogger",
]


@pytest.mark.parametrize("target", RESUMABLE_LOGGERS)
def test_a_resumed_logger_hides_what_was_logged_after_the_last_checkpoint_by_its_class(tmp_path, target):
    from aevb.runs.directory import Run
    from aevb.tracking.loggers import continued

    run = Run(tmp_path)
    run.tensorboard_dir.mkdir(parents=True)
    assert continued(target, run, resumed_from=1000) == {"purge_step": 1001}
    assert continued(target, run, resumed_from=None) == {"purge_step": 0}
