"""Real short trainings on the real data: through the `aevb-train` entry point, a multirun, and resume."""

import json
import math
import subprocess
import sys

import lightning.pytorch as L
import pytest
import torch
import yaml
from hydra.utils import instantiate

from aevb.build import datamodule_and_model
from aevb.errors import ConfigError
from aevb.runs.directory import Run
from aevb.runs.sweep import summary, table
from aevb.train import train
from aevb.training.run_checks import check_run_config, trainer_arguments
from compose import compose_train
from processes import run_entry_point, scalars

QUICK = ["debug=quick"]


def run_aevb_train(*args: str):
    return run_entry_point("aevb-train", *args)


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory, data_dir):
    run_dir = tmp_path_factory.mktemp("mnist_run")
    result = run_aevb_train(f"hydra.run.dir={run_dir}", f"paths.data_dir={data_dir}", "trainer.max_epochs=2", *QUICK)
    return run_dir, result


@pytest.mark.slow
def test_entry_point_writes_metrics_checkpoints_and_config(mnist_run):
    run_dir, result = mnist_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["samples_seen"] == 2 * 20 * 100 and metrics["epochs"] == 2 and metrics["wall_clock_seconds"] > 0
    on = metrics["computed_on"]  # what the bits depend on beyond the config
    assert on["device"] == "cpu" and on["torch"] == torch.__version__ and on["threads"] >= 1
    assert on["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert set(metrics["lower_bound"]) == {"train", "val", "test"}
    for split, bound in metrics["lower_bound"].items():
        # nats per datapoint: far below 0, far above the ~-543 of an untrained model (784 ln 2)
        assert -400 < bound < -90
        assert bound == pytest.approx(metrics["log_likelihood"][split] - metrics["kl"][split], abs=1e-3)
    assert (run_dir / "checkpoints" / "last.ckpt").exists() and (run_dir / "checkpoints" / "best.ckpt").exists()
    assert "latent_dim: 20" in (run_dir / "config.yaml").read_text() and "${" not in (run_dir / "config.yaml").read_text()
    assert (run_dir / "samples.png").stat().st_size > 1000 and (run_dir / "reconstructions.png").exists()
    assert str(run_dir) in result.stdout and "tensorboard --logdir" in result.stdout


@pytest.mark.slow
def test_tensorboard_curves_are_against_training_samples_seen(mnist_run):
    run_dir, _ = mnist_run
    tags = scalars(run_dir)
    for tag in ("lower_bound/train", "lower_bound/test", "lower_bound/val", "log_likelihood/test", "kl/test"):
        assert [step for step, _ in tags[tag]] == [2000, 4000], tag
    (_, first), (_, second) = tags["lower_bound/train"]
    assert second > first  # training improves the bound
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert tags["lower_bound/test"][-1][1] == pytest.approx(metrics["lower_bound"]["test"], abs=1e-4)
    # HPARAMS tab: the curves' last points are the final values, with no placeholder hp_metric or hp/* copies
    assert not [tag for tag in tags if tag.startswith("hp")]


@pytest.mark.slow
def test_resume_from_checkpoint_continues_the_run(mnist_run, tmp_path, data_dir):
    first_run, _ = mnist_run
    cfg = compose_train(
        ["trainer.max_epochs=3", f"ckpt_path={first_run / 'checkpoints' / 'last.ckpt'}", *QUICK], tmp_path, data_dir
    )
    metrics = train(cfg)
    assert metrics["samples_seen"] == 3 * 2000 and metrics["epochs"] == 3
    assert [step for step, _ in scalars(tmp_path)["lower_bound/test"]] == [6000]
    assert metrics["lower_bound"]["test"] > json.loads((first_run / "metrics.json").read_text())["lower_bound"]["test"]


@pytest.mark.slow
def test_multirun_gives_comparable_runs(tmp_path, data_dir):
    result = run_aevb_train(
        "-m",
        f"hydra.sweep.dir={tmp_path}",
        f"paths.data_dir={data_dir}",
        "data=frey_face",
        "model.latent_dim=2,3",
        "trainer.max_epochs=2",
        "trainer.enable_progress_bar=false",
    )
    runs = sorted(p for p in tmp_path.iterdir() if p.is_dir())
    assert [r.name.split("_")[0] for r in runs] == ["0", "1"], result.stdout
    for run, latent_dim in zip(runs, (2, 3), strict=True):
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["samples_seen"] == 2 * 1600 and set(metrics["lower_bound"]) == {"train", "test"}
        assert all(math.isfinite(v) for v in metrics["lower_bound"].values())
        assert f"latent_dim: {latent_dim}" in (run / "config.yaml").read_text()
        assert [s for s, _ in scalars(run)["lower_bound/test"]] == [1600, 3200]
        split = json.loads((run / "data_split.json").read_text())
        assert split["sizes"] == {"train": 1600, "val": 0, "test": 365}
    assert f"tensorboard --logdir {tmp_path}\n" in result.stdout  # the whole sweep, not one job
    # the sweep's summary lists both jobs, finished, with the bounds they wrote
    assert "Sweep " in result.stdout and "2 of 2 jobs finished" in result.stdout
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [row["state"] for row in summary] == ["finished", "finished"]
    lines = subprocess.run(
        [sys.executable, "-m", "aevb.runs.sweep", str(tmp_path)], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert lines[0].split()[:3] == ["job", "state", "samples"] and len(lines) == 3
    final = json.loads((runs[1] / "metrics.json").read_text())["lower_bound"]["test"]
    assert lines[2].startswith(runs[1].name) and lines[2].split()[-1] == f"{final:.2f}"
    # the same seed gives both jobs the same Frey Face split
    assert json.loads((runs[0] / "data_split.json").read_text()) == json.loads((runs[1] / "data_split.json").read_text())


@pytest.mark.slow
def test_a_sweep_preset_runs_its_sweep_without_m(tmp_path, data_dir):
    run_aevb_train(f"hydra.sweep.dir={tmp_path}", f"paths.data_dir={data_dir}", "experiment=figure2_frey_face",
                   "trainer.max_samples=200", "step_size_selection=none", "callbacks=none")  # fmt: skip
    jobs = sorted((p for p in tmp_path.iterdir() if p.is_dir()), key=lambda p: int(p.name.split("_")[0]))
    assert [job.name.split("_")[0] for job in jobs] == ["0", "1", "2", "3"]
    for job, size in zip(jobs, (2, 5, 10, 20), strict=True):
        assert f"model.latent_dim={size}" in job.name and f"latent_dim: {size}" in (job / "config.yaml").read_text()
    assert all(json.loads((job / "metrics.json").read_text())["samples_seen"] == 200 for job in jobs)


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param(["model.estimator=A", "model.bound_samples=3", "model.kl_weight=0.5"], marks=pytest.mark.slow),
        pytest.param(["trainer.precision=bf16-mixed"], marks=pytest.mark.slow),  # bf16 is slow on a CPU
    ],
    ids=["estimator_A", "bf16"],  # the convolutional networks train in test_tutorial_presets
)
def test_model_variants_train(overrides, tmp_path, data_dir):
    cfg = compose_train(
        [
            "trainer.max_epochs=1",
            "callbacks=none",
            "trainer.enable_checkpointing=false",
            "trainer.limit_train_batches=10",
            "data.val_size=0",
            *overrides,
            "trainer.enable_progress_bar=false",
        ],
        tmp_path,
        data_dir,
    )
    metrics = train(cfg)
    assert metrics["samples_seen"] == 1000 and -550 < metrics["lower_bound"]["test"] < -100
    # kl_weight changes the training loss only: the logged bound is the true one
    assert metrics["lower_bound"]["test"] == pytest.approx(metrics["log_likelihood"]["test"] - metrics["kl"]["test"], abs=1e-3)


def test_gpu_run_when_available(tmp_path, data_dir):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    cfg = compose_train(
        [
            "trainer=gpu",
            "trainer.precision=bf16-mixed",
            "trainer.max_epochs=1",
            "trainer.limit_train_batches=10",
            "data.val_size=0",
        ],
        tmp_path,
        data_dir,
    )
    assert math.isfinite(train(cfg)["lower_bound"]["test"])


@pytest.mark.slow
def test_several_minibatches_per_call_train_the_same_weights(tmp_path, data_dir):
    """data.steps_per_call changes how often Lightning's loop runs, not the updates or their order."""
    weights = {}
    for steps_per_call in (1, 7):
        cfg = compose_train(
            [
                "experiment=aevb_mnist",
                "model.decoder.hidden_dim=20",
                "trainer.max_samples=2500",  # 25 updates: the last call of 7 stops after 4
                "callbacks=none",
                "trainer.enable_checkpointing=false",
                f"data.steps_per_call={steps_per_call}",
            ],
            tmp_path / str(steps_per_call),
            data_dir,
        )
        L.seed_everything(0)
        datamodule, model = datamodule_and_model(cfg)
        trainer = instantiate({**trainer_arguments(cfg), "limit_val_batches": 0, "logger": False})
        trainer.fit(model, datamodule=datamodule)
        assert trainer.global_step == 25 and model.samples_seen == 2500
        weights[steps_per_call] = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert torch.equal(weights[1], weights[7])


class RecordBatches(L.Callback):
    def __init__(self):
        self.batches: list[torch.Tensor] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.batches.append(torch.cat(batch) if isinstance(batch, list) else batch.clone())  # a call's minibatches


@pytest.mark.parametrize("data", ["frey_face", "mnist"])  # continuous images; dynamically binarised ones
def test_overfit_batches_trains_the_same_minibatches_every_epoch(data, tmp_path, data_dir):
    overrides = [f"data={data}", "+trainer.overfit_batches=2", "trainer.max_epochs=3", "callbacks=none", "data.val_size=0"]
    cfg = compose_train([*overrides, "trainer.enable_checkpointing=false", "data.eval_limit=100"], tmp_path, data_dir)
    datamodule, model = datamodule_and_model(cfg)
    record = RecordBatches()
    trainer = instantiate({**trainer_arguments(cfg), "logger": False}, callbacks=[record])
    trainer.fit(model, datamodule=datamodule)
    first_epoch = record.batches[:2]
    assert len(record.batches) == 6 and not torch.equal(first_epoch[0], first_epoch[1])
    for later in (record.batches[2:4], record.batches[4:6]):
        assert all(torch.equal(a, b) for a, b in zip(first_epoch, later, strict=True))


def test_tags_are_recorded_with_the_run(tmp_path, data_dir):
    job = tmp_path / "0_tagged"  # a job of a sweep
    train(compose_train(["debug=frey_blink", "tags=[baseline,nz2]", "logger=[tensorboard,csv]"], job, data_dir))
    assert Run(job).tags == ["baseline", "nz2"]
    for logger in ("tensorboard", "csv"):  # the hyperparameters each logger keeps
        assert yaml.safe_load((job / logger / "hparams.yaml").read_text())["tags"] == "baseline,nz2"
    (row,) = summary(tmp_path)
    assert row["tags"] == ["baseline", "nz2"] and table([row]).splitlines()[1].endswith("  baseline,nz2")


def test_tags_must_be_a_list(tmp_path, data_dir):
    with pytest.raises(ConfigError, match=r"tags=baseline must be a list of labels: tags=\[baseline\]"):
        check_run_config(compose_train(["tags=baseline"], tmp_path, data_dir))
