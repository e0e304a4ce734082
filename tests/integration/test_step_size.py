"""The paper's step-size selection: every candidate probed from the same start, the best training bound wins, and the
run continues from the winner's state, exactly as a run with that step size from the start."""

import json
import logging
import signal
import subprocess
import time

import pytest
import torch

from aevb.errors import ConfigError
from aevb.runs.checkpoints import read_checkpoint
from aevb.step_size import StepSizeSelection, probe_length
from aevb.train import train
from compose import compose_train
from processes import BIN, run_entry_point, scalars

# Frey Face, the paper preset cut short: 2 epochs of probe (calls of 10 and 6 minibatches), 6 epochs in all, no warm-up.
FREY = [
    "experiment=aevb_frey_face",
    "trainer.max_samples=9600",
    "optimizer.warmup_steps=0",
    "callbacks.evaluation_schedule.start_samples=1000",
    "callbacks.image_grids=null",
]
PROBE = ["step_size_selection.candidates=[0.001,0.02]", "step_size_selection.probe_samples=3000"]
LRS = ("0.01", "0.02", "0.1")  # the paper's candidates (step_size_selection=paper), as their directories name them


def test_the_probe_picks_the_best_training_bound_and_the_run_is_the_winners_from_the_start(tmp_path, data_dir, caplog):
    with caplog.at_level(logging.INFO, logger="aevb.stacking"):
        metrics = train(compose_train([*FREY, *PROBE], tmp_path / "probed", data_dir))
    # the candidates trained together, as a stacked sweep's jobs (on this CPU one after another, each as alone)
    assert "jobs lr=0.001, lr=0.02 compute alike (batched: auto)" in caplog.messages
    record = json.loads((tmp_path / "probed" / "step_size_selection.json").read_text())
    assert record["candidates"] == [0.001, 0.02] and record["criterion"] == "lower_bound/train"
    assert record["probe_samples"] == 3200  # 3000 rounded up to the end of a call: 2 epochs of 16 minibatches
    scores = record["scores"]
    assert record["winner"] == 0.02 and scores["0.02"] > scores["0.001"]  # the larger step size climbs faster early on
    assert metrics["step_size_selection"] == record
    for lr in ("0.001", "0.02"):  # each candidate is a run of its own, with its own curves
        candidate = tmp_path / "probed" / "step_size_probe" / f"lr={lr}"
        assert json.loads((candidate / "metrics.json").read_text())["lower_bound"]["train"] == scores[lr]
        assert scalars(candidate)["lower_bound/train"][-1][0] == 3200

    plain = train(compose_train([*FREY, "step_size_selection=none", "optimizer.lr=0.02"], tmp_path / "plain", data_dir))
    probed, expected = (read_checkpoint(tmp_path / run / "checkpoints" / "last.ckpt") for run in ("probed", "plain"))
    assert probed["samples_seen"] == expected["samples_seen"] == 9600
    for name, tensor in expected["state_dict"].items():
        assert torch.equal(probed["state_dict"][name], tensor), name
    assert metrics["lower_bound"] == plain["lower_bound"]
    # the curve starts at the first evaluation like any other; the probe's end is one point more, at 3,200
    curve, plain_curve = (scalars(tmp_path / run)["lower_bound/train"] for run in ("probed", "plain"))
    assert [point for point in curve if point[0] != 3200] == [point for point in plain_curve if point[0] != 3200]
    assert len({step for step, _ in curve}) == len(curve)  # no point twice
    assert (tmp_path / "probed" / "config.yaml").read_text().count("lr: 0.02") == 1
    assert json.loads((tmp_path / "probed" / "status.json").read_text())["state"] == "finished"


@pytest.mark.slow
def test_the_probe_is_no_longer_than_a_run_by_epochs(tmp_path, data_dir):
    overrides = ["data=frey_face", "trainer.max_epochs=2", "step_size_selection=paper", "callbacks.image_grids=null"]
    metrics = train(compose_train(overrides, tmp_path, data_dir))
    assert metrics["step_size_selection"]["probe_samples"] == metrics["samples_seen"] == 2 * 1600


def test_the_probe_counts_the_calls_of_an_epoch_as_lightning_does(tmp_path, data_dir):
    overrides = ["data=frey_face", "trainer.max_epochs=3", "step_size_selection=paper"]  # 16 calls of one minibatch an epoch
    for limit, calls in (([], 16), (["trainer.limit_train_batches=4"], 4), (["+trainer.overfit_batches=2"], 2)):
        assert probe_length(compose_train([*overrides, *limit], tmp_path, data_dir), 1e9) == 3 * calls * 100


@pytest.mark.slow
def test_a_rerun_reads_the_choice_back_and_trains_nothing(tmp_path, data_dir):
    cfg = compose_train([*FREY, *PROBE], tmp_path, data_dir)
    first = train(cfg)
    record = (tmp_path / "step_size_selection.json").stat().st_mtime_ns
    again = train(compose_train([*FREY, *PROBE], tmp_path, data_dir))
    assert again == first and (tmp_path / "step_size_selection.json").stat().st_mtime_ns == record
    assert json.loads((tmp_path / "status.json").read_text())["state"] == "finished earlier"


def test_a_diverging_candidate_loses_and_its_reason_is_kept(tmp_path, data_dir):
    overrides = [*FREY, "step_size_selection.candidates=[0.02,1e30]", "step_size_selection.probe_samples=1600"]
    train(compose_train(overrides, tmp_path, data_dir))
    record = json.loads((tmp_path / "step_size_selection.json").read_text())
    assert record["winner"] == 0.02 and record["scores"]["1e+30"] is None
    status = json.loads((tmp_path / "step_size_probe" / "lr=1e+30" / "status.json").read_text())
    assert status["state"] == "failed" and "the training loss became" in status["reason"]


@pytest.mark.parametrize(
    ("candidates", "probe_samples", "message"),
    [([], 1e3, "distinct positive"), ([0.1, 0.1], 1e3, "distinct positive"), ([-0.1], 1e3, "distinct positive"),
     ([0.1], 0, "at least 1")],
)  # fmt: skip
def test_bad_selections_are_refused(candidates, probe_samples, message):
    with pytest.raises(ValueError, match=message):
        StepSizeSelection(candidates=candidates, probe_samples=probe_samples)


def test_the_selection_needs_one_process_and_a_last_checkpoint(tmp_path, data_dir):
    ddp = compose_train([*FREY, "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"], tmp_path, data_dir)
    with pytest.raises(ConfigError, match="multi-process DDP"):
        train(ddp)
    with pytest.raises(ConfigError, match="callbacks.last_checkpoint"):
        train(compose_train([*FREY, "callbacks.last_checkpoint=null"], tmp_path, data_dir))


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_kill_or_stop_during_the_probe_resumes_exactly(stop, tmp_path, data_dir):
    args = [f"paths.data_dir={data_dir}", *FREY, "trainer.max_samples=48000", "step_size_selection.probe_samples=32000"]
    run_entry_point("aevb-train", f"hydra.run.dir={tmp_path / 'uninterrupted'}", *args)
    killed = tmp_path / "killed"
    process = subprocess.Popen([str(BIN / "aevb-train"), f"hydra.run.dir={killed}", *args], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    second = killed / "step_size_probe" / "lr=0.02" / "checkpoints" / "last.ckpt"  # the candidates are under way
    deadline = time.monotonic() + 300
    while not second.exists():
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(stop)
    process.wait()
    assert not (killed / "step_size_selection.json").exists()
    candidates = {lr: json.loads((killed / "step_size_probe" / f"lr={lr}" / "status.json").read_text()) for lr in LRS}
    if stop == signal.SIGTERM:  # every candidate saved where it was and said so; the run stopped with 128 + 15
        assert process.returncode == 128 + signal.SIGTERM
        assert all(status["state"] == "stopped" and "stopped by SIGTERM at" in status["reason"] for status in candidates.values())
        assert json.loads((killed / "status.json").read_text())["state"] == "stopped"
    else:
        assert candidates["0.02"]["state"] == "running"

    run_entry_point("aevb-train", f"hydra.run.dir={killed}", *args)  # the same command again
    for name in ("step_size_selection.json", "metrics.json"):
        expected, resumed = (json.loads((run / name).read_text()) for run in (tmp_path / "uninterrupted", killed))
        if name == "metrics.json":
            assert resumed["lower_bound"] == expected["lower_bound"] and resumed["samples_seen"] == 48000
        else:
            assert resumed == expected
    probed, uninterrupted = (read_checkpoint(run / "checkpoints" / "last.ckpt") for run in (killed, tmp_path / "uninterrupted"))
    for name, tensor in uninterrupted["state_dict"].items():
        assert torch.equal(probed["state_dict"][name], tensor), name
    for lr in LRS:
        curves = scalars(killed / "step_size_probe" / f"lr={lr}")["lower_bound/train"]
        assert curves == scalars(tmp_path / "uninterrupted" / "step_size_probe" / f"lr={lr}")["lower_bound/train"]
