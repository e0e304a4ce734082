"""logger=tensorboard as TensorBoard shows it: a run logged as aevb-train logs it (an evaluation's terms, a minibatch,
the image grids, the final hyperparameters), read back from the event file with TensorBoard's own reader and the
plugins' own protos: the bound's section sorts first, HPARAMS has typed columns (the compared ones marked) and the
bound's last points as metrics with no hp/* scalars, and CUSTOM SCALARS has a chart per split."""

import pytest
import torch
from hydra.types import RunMode
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.hparams import api_pb2, metadata
from torch.utils.tensorboard import SummaryWriter

from aevb.runs.directory import Run
from aevb.runs.tensorboard_tags import logged_name, tensorboard_tag
from aevb.tracking.loggers import build_loggers, compared, hyperparameters, log_final, log_images
from aevb.tracking.sectioned_tensorboard import SectionedTensorBoardLogger
from compose import compose_train, composed_in_mode

EVALUATIONS = {200: -300.0, 400: -250.0}  # samples seen: the bound on both splits


@pytest.fixture
def logged(tmp_path, data_dir):
    overrides = ["data=frey_face", "model.latent_dim=5", "seed=3"]  # as a job of `-m model.latent_dim=2,5` sees them
    cfg = composed_in_mode(overrides, RunMode.MULTIRUN, tmp_path, data_dir)
    (logger,) = build_loggers(cfg.logger, Run(tmp_path), resumed_from=None)
    logger.log_metrics({"minibatch/lower_bound": -400.0}, step=100)
    for step, bound in EVALUATIONS.items():  # an evaluation logs every split's terms at once
        terms = {"lower_bound": bound, "log_likelihood": bound - 5, "kl": 5.0}
        logger.log_metrics({f"{term}/{split}": value for term, value in terms.items() for split in ("train", "test")}, step)
    log_images([logger], {"samples": torch.rand(3, 8, 8)}, step=400)
    values = hyperparameters(cfg, "32-true", 1)
    log_final([logger], values, compared(values), {"lower_bound/train": -250.0, "lower_bound/test": -250.0}, step=400)
    events = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    return events, tmp_path


def test_the_bounds_section_sorts_first_and_no_hp_scalars_are_charted(logged):
    events, _ = logged
    sections = sorted({tag.split("/")[0] for tag in events.Tags()["scalars"]})
    assert sections == ["lower_bound", "minibatch", "terms"]
    assert "terms/kl/test" in events.Tags()["scalars"] and events.Tags()["images"] == ["pictures/samples"]
    assert [(event.step, event.value) for event in events.Scalars("lower_bound/test")] == list(EVALUATIONS.items())


def test_hparams_columns_are_typed_and_the_compared_ones_marked(logged):
    events, _ = logged
    content = events.PluginTagToContent(metadata.PLUGIN_NAME)
    experiment = metadata.parse_experiment_plugin_data(content[metadata.EXPERIMENT_TAG])
    columns = {info.name: info for info in experiment.hparam_infos}
    for boolean in ("weight_prior", "compile"):
        assert columns[boolean].type == api_pb2.DATA_TYPE_BOOL and list(columns[boolean].domain_discrete) == [False, True]
    assert columns["latent_dim"].type == columns["lr"].type == api_pb2.DATA_TYPE_FLOAT64
    assert columns["algorithm"].type == api_pb2.DATA_TYPE_STRING
    # shown first: what sweeps are compared by, and what this job's command line set
    assert {name for name, info in columns.items() if info.differs} == {"algorithm", "data", "latent_dim", "lr", "seed"}
    assert [metric.name.tag for metric in experiment.metric_infos] == ["lower_bound/train", "lower_bound/test"]
    start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
    assert start.hparams["weight_prior"].WhichOneof("kind") == "bool_value" and start.hparams["latent_dim"].number_value == 5
    assert start.group_name == logged[1].name  # a row per run, named as its directory


def test_hparams_columns_are_the_model_configs_settings_whatever_they_are(tmp_path, data_dir):
    cfg = compose_train(["model.latent_dim=5", "+model.decoder.dropout=0.1", "model.init_std=null"], tmp_path, data_dir)
    values = hyperparameters(cfg, "32-true", 1)
    assert values["encoder"] == "MLPEncoder" and values["encoder.hidden_dim"] == 500 and values["prior"] == "StandardNormal"
    assert values["decoder.dropout"] == 0.1 and values["init_std"] == "None"  # a new setting, and a null one as text
    assert values["latent_dim"] == 5 and values["algorithm"] == "AEVB" and values["kl_weight"] == 1.0
    assert all(isinstance(value, bool | int | float | str) for value in values.values())


def test_custom_scalars_chart_each_split_apart_with_the_bound_open(logged):
    events, _ = logged
    (config,) = events.Tensors("custom_scalars__config__")
    layout = layout_pb2.Layout.FromString(config.tensor_proto.string_val[0])
    categories = [(category.title, category.closed) for category in layout.category]
    assert categories == [("lower bound", False), ("E[log p(x|z)]", True), ("KL(q || p)", True)]
    charts = {chart.title: list(chart.multiline.tag) for category in layout.category for chart in category.chart}
    assert charts["lower bound: train"] == [r"^lower_bound/train$"] and charts["KL(q || p): test"] == [r"^terms/kl/test$"]


def test_runs_read_the_curves_back_by_their_logged_names(logged):
    _, run_dir = logged
    curves = Run(run_dir).curves()
    assert {"lower_bound/test", "kl/test", "log_likelihood/train", "minibatch/lower_bound"} <= set(curves)
    assert not any(name.startswith(("terms/", "hp/")) for name in curves)


def test_a_run_resumed_across_the_renaming_reads_as_one_curve(tmp_path):
    with SummaryWriter(str(tmp_path / "tensorboard")) as before:  # an attempt logged by aevb before the sections
        before.add_scalar("kl/test", 4.0, 200)
    logger = SectionedTensorBoardLogger(save_dir=str(tmp_path), name="", version="tensorboard", purge_step=201)
    logger.log_metrics({"kl/test": 5.0}, step=400)
    logger.finalize("success")
    assert Run(tmp_path).curves()["kl/test"] == [(200, 4.0), (400, 5.0)]


def test_estimates_of_log_px_sort_after_the_bound_and_read_back_by_their_logged_names():
    for name in ("log_px_is/test", "log_px_hmc/train", "log_px_ais/val", "hmc_acceptance/train", "ais_acceptance/test"):
        tag = tensorboard_tag(name)
        assert tag.startswith("px_estimates/") and tag > "lower_bound" and logged_name(tag) == name
