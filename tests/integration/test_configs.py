"""Every option of every config group composes and instantiates; runs that cannot work are refused."""

import re

import pytest
import torch
from hydra.errors import ConfigCompositionException
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import OmegaConf

from aevb.build import datamodule_and_model
from aevb.components.likelihoods import Bernoulli, Gaussian
from aevb.config.hydra_glue import CONFIG_DIR, job_dirname
from aevb.data.facts import DataFacts
from aevb.errors import ConfigError
from aevb.estimators.appendix_d import AppendixD
from aevb.models.mcem import MonteCarloEM
from aevb.models.wake_sleep import WakeSleep
from aevb.runs.directory import Run
from aevb.tracking.loggers import build_loggers
from aevb.train import with_command_line_length
from aevb.training.optim import WarmupAdagrad
from aevb.training.run_checks import check_run_config, trainer_arguments
from compose import compose_train, composed_in_mode


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))


CHOICES = [
    f"{group}={option}"
    for group in (
        "data",
        "model",
        "model/likelihood",
        "model/prior",
        "model/log_px",
        "optimizer",
        "scheduler",
        "trainer",
        "logger",
        "callbacks",
        "experiment",
    )
    for option in options(group)
]
SLOW_CHOICES = {"logger=mlflow"}  # MLflow's import and its store take seconds


def test_every_group_has_options():
    assert {"mnist", "frey_face"} <= set(options("data"))
    assert {"cpu", "gpu", "ddp", "mps"} <= set(options("trainer"))
    assert {"bernoulli", "gaussian", "gaussian_fixed"} <= set(options("model/likelihood"))
    assert {"mlp", "iwae", "wake_sleep", "mcem"} <= set(options("model"))
    assert {"standard_normal", "mixture", "vamp"} <= set(options("model/prior"))
    assert set(options("estimator")) == set(options("model/log_px")) == {"importance_sampling", "hmc", "ais"}


@pytest.mark.parametrize("choice", [pytest.param(c, marks=pytest.mark.slow) if c in SLOW_CHOICES else c for c in CHOICES])
def test_option_composes_and_instantiates(choice, tmp_path, data_dir):
    # GPU trainer configs are instantiated on the CPU here: the accelerator is the one thing changed.
    overrides = [choice] + (
        ["trainer.accelerator=cpu"] if choice in ("trainer=gpu", "trainer=ddp", "trainer=gpu_per_job", "trainer=mps") else []
    )
    overrides += ["trainer.devices=1"] if choice == "trainer=gpu_per_job" else []  # a list of GPU indices otherwise
    overrides += ["model.estimator=A"] if choice in ("model/prior=mixture", "model/prior=vamp") else []  # no closed-form KL
    cfg = compose_train(overrides, tmp_path, data_dir)
    datamodule, model = datamodule_and_model(cfg)
    callbacks = [instantiate(c) for c in cfg.callbacks.values()]
    loggers = build_loggers(cfg.logger, Run(tmp_path), resumed_from=None)
    trainer = instantiate(trainer_arguments(cfg), callbacks=callbacks, logger=loggers or False)
    assert model.latent_dim == cfg.model.latent_dim
    assert trainer.max_epochs == cfg.trainer.max_epochs or trainer.max_steps * cfg.data.batch_size >= cfg.trainer.max_samples
    assert model.make_optimizer(model.parameter_groups(num_train=1000)).param_groups[0]["lr"] == cfg.optimizer.lr


def test_the_mps_trainer_is_one_apple_gpu_in_float32(tmp_path, data_dir):
    cfg = compose_train(["trainer=mps"], tmp_path, data_dir)
    check_run_config(cfg)
    assert (cfg.trainer.accelerator, cfg.trainer.devices, cfg.trainer.precision) == ("mps", 1, "32-true")


@pytest.mark.parametrize("precision", ["32-true", "16-mixed", "bf16-mixed"])
@pytest.mark.filterwarnings("ignore:You passed `Trainer")
def test_precision_options_compose(precision, tmp_path, data_dir):
    cfg = compose_train([f"trainer.precision={precision}"], tmp_path, data_dir)
    # Lightning has no fp16 autocast on the CPU and falls back to bf16 there (with a warning).
    expected = "bf16-mixed" if precision == "16-mixed" else precision
    assert instantiate(trainer_arguments(cfg), logger=False).precision == expected


def test_frey_face_brings_the_papers_decoder(tmp_path, data_dir):
    cfg = compose_train(["data=frey_face"], tmp_path, data_dir)
    model = instantiate(cfg.model, data=DataFacts(shape=(1, 28, 20)), optimizer=instantiate(cfg.optimizer))
    assert isinstance(model.likelihood, Gaussian) and model.encoder.net[0].out_features == 200
    # ... and the user's choice still wins
    cfg = compose_train(["data=frey_face", "model/likelihood=bernoulli", "model.decoder.hidden_dim=7"], tmp_path, data_dir)
    model = instantiate(cfg.model, data=DataFacts(shape=(1, 28, 20)), optimizer=instantiate(cfg.optimizer))
    assert isinstance(model.likelihood, Bernoulli) and model.decoder.net[0].out_features == 7


def test_data_configs_leave_the_model_alone():
    # The decoder that suits the data is the model group's choice (conf/model/for_data/), never the data config's.
    for path in sorted((CONFIG_DIR / "data").glob("*.yaml")):
        data_config = OmegaConf.load(path)
        assert "model" not in data_config, path
        assert not [entry for entry in data_config.get("defaults", []) if "model" in str(entry)], path
        assert (CONFIG_DIR / "model" / "for_data" / path.name).is_file(), f"every dataset has its decoder: {path.name}"


@pytest.mark.parametrize("model", ["mlp", "wake_sleep", "iwae", "mcem", "conv"])
def test_frey_face_settings_stay_in_the_data_config_and_every_model_gets_its_decoder(model, tmp_path, data_dir):
    overrides = [f"model={model}", "data=frey_face", "data.train_limit=1000", "data.steps_per_call=10"]
    cfg = compose_train(overrides, tmp_path, data_dir)
    assert cfg.data.train_limit == 1000 and cfg.data.steps_per_call == 10
    assert not {"train_limit", "eval_limit", "steps_per_call", "binarize"} & set(cfg)  # nothing at the config's root
    datamodule, built = datamodule_and_model(cfg)
    first_layer = built.decoder.dense[0][0] if model == "conv" else built.decoder.net[0]
    assert isinstance(built.likelihood, Gaussian) and first_layer.out_features == 200
    assert datamodule.train_limit == 1000


def test_max_epochs_on_the_command_line_wins_over_a_presets_max_samples(tmp_path, data_dir):
    cfg = composed_in_mode(["experiment=aevb_frey_face", "trainer.max_epochs=2"], RunMode.RUN, tmp_path, data_dir)
    arguments = trainer_arguments(with_command_line_length(cfg))
    assert arguments["max_epochs"] == 2 and arguments.get("max_steps", -1) == -1
    preset = composed_in_mode(["experiment=aevb_frey_face"], RunMode.RUN, tmp_path, data_dir)  # the preset's length stays
    assert trainer_arguments(with_command_line_length(preset))["max_steps"] == 100_000
    both = composed_in_mode(["experiment=aevb_frey_face", "trainer.max_epochs=2", "trainer.max_samples=1e5"], RunMode.RUN,
                            tmp_path, data_dir)  # fmt: skip
    with pytest.raises(ConfigError, match="both set the training length"):
        with_command_line_length(both)


def test_paths_do_not_depend_on_the_working_directory(tmp_path, data_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AEVB_DATA_DIR", raising=False)
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", return_hydra_config=True)
    assert cfg.paths.data_dir == str(CONFIG_DIR.parent / "data")
    assert cfg.hydra.run.dir.startswith(str(CONFIG_DIR.parent / "outputs" / "runs"))
    monkeypatch.setenv("AEVB_DATA_DIR", "/somewhere/else")
    assert cfg.paths.data_dir == "/somewhere/else"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model.latent_dim=0"], "latent_dim=0 must be at least 1"),
        (["model.estimator=C"], "estimator='C'"),
        (["model.bound_samples=0"], "bound_samples=0"),
        (["data.binarize=sometimes"], "binarize='sometimes'"),
        (["model.encoder.activation=swish"], "activation='swish'"),
    ],
)
def test_bad_values_are_refused_with_the_key_named(overrides, message, tmp_path, data_dir):
    cfg = compose_train(overrides, tmp_path, data_dir)
    with pytest.raises(ConfigError, match=message):
        datamodule_and_model(cfg)


@pytest.mark.parametrize("override", ["+trainer.gradient_clip_val=1.0", "+trainer.accumulate_grad_batches=4"])
def test_lightning_options_for_automatic_optimisation_are_refused(override, tmp_path, data_dir):
    cfg = compose_train([override], tmp_path, data_dir)
    with pytest.raises(ConfigError, match=f"{override[1:].split('=')[0]}=.*manual optimisation.*remove"):
        trainer_arguments(cfg)


def test_unknown_key_is_refused(tmp_path, data_dir):
    with pytest.raises(ConfigCompositionException, match="latent_dims"):
        compose_train(["model.latent_dims=3"], tmp_path, data_dir)


@pytest.mark.parametrize(
    "setting",
    ["wandb.group=x", "wandb.tags=[a,b]", "wandb.entity=me", "wandb.job_type=train", "wandb.notes=n",
     "mlflow.tags={team: x}", "tensorboard.flush_secs=5"],
)  # fmt: skip
def test_a_setting_a_logger_passes_on_is_accepted(setting, tmp_path, data_dir):
    """WandbLogger passes its **kwargs to wandb.init, TensorBoardLogger to its SummaryWriter: those take them."""
    cfg = compose_train(["logger=[tensorboard,mlflow,wandb]", "logger.wandb.offline=true", f"+logger.{setting}"], tmp_path,
                        data_dir)  # fmt: skip
    check_run_config(cfg)
    if setting.startswith("wandb."):
        key = setting.split("=")[0].split(".")[1]
        (wandb,) = build_loggers({"wandb": cfg.logger.wandb}, Run(tmp_path), resumed_from=None)
        assert wandb._wandb_init[key] == cfg.logger.wandb[key]  # what wandb.init is called with


def test_settings_passed_on_to_a_package_that_is_not_installed_are_left_to_the_build(monkeypatch):
    from lightning.pytorch.loggers import WandbLogger

    from aevb.config import schema

    monkeypatch.setitem(schema.FORWARDED_KEYWORDS, "lightning.pytorch.loggers.wandb.WandbLogger", "not_installed.init")
    assert schema.parameters(WandbLogger) is None  # build_loggers then names the extra to install


@pytest.mark.parametrize(
    ("setting", "target"),
    [("wandb.gruop=x", "lightning.pytorch.loggers.WandbLogger"), ("mlflow.tag={a: b}", "lightning.pytorch.loggers.MLFlowLogger"),
     ("tensorboard.flush_sec=5", "aevb.tracking.sectioned_tensorboard.SectionedTensorBoardLogger")],
)  # fmt: skip
def test_a_misspelt_logger_setting_is_refused(setting, target, tmp_path, data_dir):
    cfg = compose_train(["logger=[tensorboard,mlflow,wandb]", f"+logger.{setting}"], tmp_path, data_dir)
    message = rf"logger\.{setting.split('=')[0]} is not a setting of {re.escape(target)}; its settings"
    with pytest.raises(ConfigError, match=message):
        check_run_config(cfg)


def test_multiprocess_ddp_in_a_multirun_is_refused(tmp_path, data_dir):
    ddp = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"]
    with pytest.raises(ConfigError, match="inside a multirun.*one device per job"):
        check_run_config(composed_in_mode(ddp, RunMode.MULTIRUN, tmp_path, data_dir))
    check_run_config(composed_in_mode(ddp, RunMode.RUN, tmp_path, data_dir))  # the same job alone is fine
    check_run_config(composed_in_mode(["trainer=cpu"], RunMode.MULTIRUN, tmp_path, data_dir))  # one-device sweeps are fine
    with pytest.raises(ConfigError, match="inside a multirun"):  # jobs side by side cannot re-launch ranks either
        check_run_config(composed_in_mode([*ddp, "hydra/launcher=local_parallel"], RunMode.MULTIRUN, tmp_path, data_dir))


def test_slurm_launcher_gives_each_device_a_task_so_ddp_sweeps_are_allowed(tmp_path, data_dir):
    ddp = ["trainer=ddp", "trainer.devices=4", "hydra/launcher=slurm"]
    cfg = composed_in_mode(ddp, RunMode.MULTIRUN, tmp_path, data_dir)
    launcher = instantiate(cfg.hydra.launcher)  # hydra-submitit-launcher's SlurmLauncher, as `-m` builds it
    assert type(launcher).__name__ == "SlurmLauncher"
    assert launcher.params["tasks_per_node"] == launcher.params["gpus_per_node"] == 4 and launcher.params["nodes"] == 1
    check_run_config(cfg)  # SLURM starts the ranks: DDP inside the sweep is fine
    one_gpu = composed_in_mode(["trainer=gpu", "hydra/launcher=slurm"], RunMode.MULTIRUN, tmp_path, data_dir)
    assert one_gpu.hydra.launcher.tasks_per_node == one_gpu.hydra.launcher.gpus_per_node == 1
    check_run_config(one_gpu)


def test_slurm_tasks_that_do_not_match_the_devices_are_refused(tmp_path, data_dir):
    plugin_defaults = ["trainer=ddp", "trainer.devices=4", "hydra/launcher=submitit_slurm"]  # one task per node
    with pytest.raises(ConfigError, match="tasks_per_node=1, .*trainer.devices=4.*set hydra.launcher.tasks_per_node=4"):
        check_run_config(composed_in_mode(plugin_defaults, RunMode.MULTIRUN, tmp_path, data_dir))


def test_local_parallel_launcher_composes(tmp_path, data_dir):
    cfg = composed_in_mode(["hydra/launcher=local_parallel"], RunMode.MULTIRUN, tmp_path, data_dir)
    launcher = instantiate(cfg.hydra.launcher)
    assert type(launcher).__name__ == "JoblibLauncher" and launcher.joblib["n_jobs"] == 2
    check_run_config(cfg)


@pytest.mark.parametrize(("job", "gpus", "expected"), [(0, 4, 0), (5, 4, 1), (3, 0, 0)])
def test_gpu_per_job_takes_the_gpus_in_turn(job, gpus, expected, tmp_path, data_dir, monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    cfg = composed_in_mode(["trainer=gpu_per_job"], RunMode.MULTIRUN, tmp_path, data_dir, job=job)
    assert trainer_arguments(cfg)["devices"] == [expected]


@pytest.mark.parametrize(
    ("preset", "hidden", "likelihood", "train_size", "max_samples"),
    [("aevb_mnist", 500, Bernoulli, 50_000, 1e7), ("aevb_frey_face", 200, Gaussian, 1_600, 1e7)],
)
def test_paper_presets_hold_the_papers_settings(preset, hidden, likelihood, train_size, max_samples, tmp_path, data_dir):
    cfg = compose_train([f"experiment={preset}"], tmp_path, data_dir)
    datamodule, model = datamodule_and_model(cfg)
    datamodule.setup()
    assert len(datamodule.splits["train"]) == train_size and datamodule.batch_size == 100
    assert isinstance(model.likelihood, likelihood) and model.estimator == "B" and model.bound_samples == 1
    for net in (model.encoder.net, model.decoder.net):  # one tanh hidden layer
        assert [type(m).__name__ for m in net] == ["Linear", "Tanh", "Linear"] and net[0].out_features == hidden
    parameters = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert parameters.std().item() == pytest.approx(0.01, rel=0.05) and abs(parameters.mean().item()) < 1e-3
    optimizer = model.make_optimizer(model.parameter_groups(num_train=train_size))
    assert isinstance(optimizer, WarmupAdagrad) and optimizer.defaults["warmup_steps"] == 100
    assert cfg.optimizer.lr in (0.01, 0.02, 0.1)
    weights, biases = optimizer.param_groups
    assert weights["weight_decay"] == 1 / train_size and all(p.ndim == 2 for p in weights["params"])
    assert biases["weight_decay"] == 0 and all(p.ndim == 1 for p in biases["params"])
    arguments = trainer_arguments(cfg)
    assert arguments["max_steps"] * 100 == max_samples and arguments["max_epochs"] == -1
    assert "max_samples" not in arguments and cfg.trainer.check_val_every_n_epoch is None


@pytest.mark.parametrize(("sweep", "latent_sizes"), [("figure2_mnist", "2,3,5,10,20,200"), ("figure2_frey_face", "2,5,10,20")])
def test_figure_2_sweeps_cover_the_papers_latent_sizes(sweep, latent_sizes, tmp_path, data_dir):
    cfg = compose_train([f"experiment={sweep}"], tmp_path, data_dir, return_hydra_config=True)
    assert cfg.hydra.sweeper.params["model.latent_dim"] == latent_sizes
    assert cfg.model.weight_prior and cfg.model.init_std == 0.01  # the sweep is of the paper preset


PRESETS = [f"{group}={option}" for group in ("experiment", "hparams_search") for option in options(group)]


@pytest.mark.parametrize("preset", PRESETS)
def test_a_preset_that_defines_a_sweep_is_a_multirun_without_m(preset, tmp_path, data_dir):
    cfg = compose_train([preset], tmp_path, data_dir, return_hydra_config=True)
    defines_a_sweep = bool(cfg.hydra.sweeper.get("params"))
    assert defines_a_sweep == (preset in ("experiment=figure2_mnist", "experiment=figure2_frey_face",
                                          "experiment=figure3_mnist", "hparams_search=optuna"))  # fmt: skip
    assert (cfg.hydra.mode == RunMode.MULTIRUN) == defines_a_sweep


def test_sample_budget_conflicts_are_refused(tmp_path, data_dir):
    cfg = compose_train(["trainer.max_samples=50", "data.batch_size=100"], tmp_path, data_dir)
    with pytest.raises(ConfigError, match="less than one minibatch"):
        trainer_arguments(cfg)
    cfg = compose_train(["trainer.max_samples=1e4", "+trainer.max_steps=7"], tmp_path, data_dir)
    with pytest.raises(ConfigError, match="both set the training length"):
        trainer_arguments(cfg)
    cfg = compose_train(["trainer.max_samples=1e4", "data.batch_size=300"], tmp_path, data_dir)
    assert trainer_arguments(cfg)["max_steps"] == 34  # whole minibatches: 10,200 samples


@pytest.mark.parametrize(("algorithm", "model_class"), [("wake_sleep", WakeSleep), ("mcem", MonteCarloEM)])
def test_a_baseline_is_one_override_on_a_paper_preset(algorithm, model_class, tmp_path, data_dir):
    """The paper's comparison: the same networks, initialisation, prior, optimiser and data; only the algorithm differs."""
    aevb_cfg = compose_train(["experiment=figure3_mnist"], tmp_path, data_dir)
    baseline_cfg = compose_train(["experiment=figure3_mnist", f"model={algorithm}"], tmp_path, data_dir)
    aevb = instantiate(aevb_cfg.model, data=DataFacts(shape=(1, 28, 28)), optimizer=instantiate(aevb_cfg.optimizer))
    baseline = instantiate(baseline_cfg.model, data=DataFacts(shape=(1, 28, 28)), optimizer=instantiate(baseline_cfg.optimizer))
    assert type(baseline) is model_class and baseline.latent_dim == aevb.latent_dim == 3
    assert str(baseline.decoder) == str(aevb.decoder) and aevb.decoder.net[0].out_features == 100
    if algorithm == "wake_sleep":
        assert str(baseline.encoder) == str(aevb.encoder)
    assert baseline.init_std == aevb.init_std == 0.01 and baseline.weight_prior and aevb.weight_prior
    assert baseline_cfg.optimizer == aevb_cfg.optimizer and baseline_cfg.data == aevb_cfg.data
    assert type(baseline.log_px) is type(aevb.log_px) is AppendixD


def test_wake_sleep_on_the_figure_2_preset_keeps_the_papers_networks(tmp_path, data_dir):
    for overrides in (["experiment=aevb_mnist", "model=wake_sleep"], ["model=wake_sleep", "experiment=aevb_mnist"]):
        cfg = compose_train(overrides, tmp_path, data_dir)
        model = instantiate(cfg.model, data=DataFacts(shape=(1, 28, 28)), optimizer=instantiate(cfg.optimizer))
        assert isinstance(model, WakeSleep) and model.encoder.net[0].out_features == 500 and model.init_std == 0.01


def test_figure_3_sweep_covers_the_papers_settings(tmp_path, data_dir):
    cfg = compose_train(["experiment=figure3_mnist"], tmp_path, data_dir, return_hydra_config=True)
    assert cfg.hydra.sweeper.params == {"model": "mlp,wake_sleep,mcem", "data.train_limit": "1000,null"}
    assert cfg.data.eval_limit == 1000 and cfg.data.val_size == 10000  # N_train = 50,000 without a limit
    estimator = cfg.model.log_px
    assert estimator.posterior_samples == 50 and estimator.leapfrog_steps == 4  # App. D
    mcem = compose_train(["experiment=figure3_mnist", "model=mcem"], tmp_path, data_dir).model
    assert mcem.leapfrog_steps == 10 and mcem.weight_updates == 5 and mcem.target_acceptance == 0.9  # App. E


def test_long_job_directory_names_are_cut_and_stay_unique():
    short = "model.latent_dim=3,model=mlp"
    assert job_dirname(short) == short
    long_a, long_b = "x=1," * 100 + "seed=1", "x=1," * 100 + "seed=2"
    assert len(job_dirname(long_a)) < 255 and job_dirname(long_a) != job_dirname(long_b)
    assert job_dirname(long_a).startswith("x=1,x=1")


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["debug=quick"], {"trainer.limit_train_batches": 20, "data.val_size": 1000}),
        (["debug=frey_blink"], {"data._target_": "aevb.data.frey_face.FreyFaceDataModule", "trainer.max_epochs": 1}),
        (["model=mcem", "debug=small_estimator"], {"model.log_px.posterior_samples": 10}),
    ],
    ids=["quick", "frey_blink", "small_estimator"],
)
def test_debug_configs_compose_and_build(overrides, expected, tmp_path, data_dir):
    cfg = compose_train(overrides, tmp_path, data_dir)
    for key, value in expected.items():
        assert OmegaConf.select(cfg, key) == value
    check_run_config(cfg)
    datamodule_and_model(cfg)
