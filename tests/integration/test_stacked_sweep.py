"""hydra/launcher=stacked: a sweep's jobs train together in one process and each ends as it would alone; a killed
stacked sweep resumes every job exactly; a job that diverges stops alone."""

import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from aevb.runs.checkpoints import read_checkpoint
from processes import BIN, scalars

# Past the Adagrad warm-up (100 minibatches without a step), with a few evaluations and so checkpoints on the way.
SHORT = ["experiment=aevb_mnist", "step_size_selection=none", "trainer.max_samples=13000", "data.eval_limit=300",
         "callbacks.image_grids=null"]  # fmt: skip
# Two groups of two: AEVB and wake-sleep, each with two seeds; batched on this CPU too
JOBS = ["model=mlp,wake_sleep", "seed=0,1", "hydra.launcher.batched=true"]
# Rehearsed on this CPU: each group's whole call (10 updates) as one batched call, checked to be replayable, with each
# job's own step size and weight prior in the one optimiser step (a larger step size, or clipping, makes the rounding of
# batching grow past assert_trained_alike's tolerances within 30 updates, in the per-update batched path as in this one)
CALL_JOBS = ["model=mlp,wake_sleep", "optimizer.lr=0.008,0.01", "model.weight_prior=true,false", "model.cuda_graph=rehearse",
             "hydra.launcher.batched=true"]  # fmt: skip
SWEEPS = {"updates": JOBS, "whole_calls": CALL_JOBS}  # jobs meeting once an update, or once a call
GROUPS = {
    "updates": ["jobs 0, 1 compute alike (batched: True)", "jobs 2, 3 compute alike (batched: True)"],
    "whole_calls": [f"jobs {jobs} compute alike (batched: True), whole calls at once" for jobs in ("0, 1, 2, 3", "4, 5, 6, 7")],
}


def sweep_command(sweep_dir: Path, data_dir: Path, *overrides: str, launcher: str = "stacked") -> list[str]:
    if launcher != "stacked":
        overrides = tuple(o for o in overrides if not o.startswith("hydra.launcher."))
    return [str(BIN / "aevb-train"), "-m", f"hydra.sweep.dir={sweep_dir}", f"paths.data_dir={data_dir}",
            f"hydra/launcher={launcher}", *SHORT, *overrides]  # fmt: skip


def run(command: list[str], expect_success: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert (result.returncode == 0) == expect_success, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def jobs(sweep_dir: Path) -> list[Path]:
    return sorted((path for path in sweep_dir.iterdir() if path.is_dir() and path.name[0].isdigit()), key=lambda p: p.name)


def weights(job: Path) -> dict[str, torch.Tensor]:
    return read_checkpoint(job / "checkpoints" / "last.ckpt")["state_dict"]


def bitwise_difference(job: Path, other: Path) -> str | None:
    """None where the two runs' weights are equal bit for bit; otherwise what differs first, and what each run was
    computed on (its metrics.json), for a failure that says whether the two processes computed alike."""
    expected = weights(other)
    for name, value in weights(job).items():
        if not torch.equal(value, expected[name]):
            differ = value != expected[name]
            on = [json.loads((run / "metrics.json").read_text()).get("computed_on") for run in (job, other)]
            return (f"{job.name}: {name}: {int(differ.sum())} of {value.numel()} values differ, by up to "
                    f"{float((value - expected[name]).abs().max()):.3g}; computed on {on[0]} and {on[1]}")  # fmt: skip
    return None


def dreams(job: Path) -> bool:
    return OmegaConf.load(job / "config.yaml").model._target_.endswith("WakeSleep")


def assert_trained_alike(job: Path, other: Path) -> None:
    """The two runs of one job, one batched with others: their weights and curves agree to float rounding.

    Batched matrix products sum in another order than one job's, so they agree to rounding, not bit for bit. Wake-
    sleep's dreams are Bernoulli draws from the decoder's means: a rounding difference at a draw's threshold flips a
    dreamt pixel, a full-size difference in the recognition weights of that pixel, so wake-sleep's weights agree per
    tensor (relative norm) and its bounds to 0.02 nats; another seed's differ by nats and by their whole norm.
    """
    expected = weights(other)
    for name, value in weights(job).items():
        if dreams(job):
            assert (value - expected[name]).norm() <= 1e-3 * expected[name].norm(), name
        else:
            torch.testing.assert_close(value, expected[name], rtol=1e-3, atol=1e-4)
    assert_curves_alike(job, other, abs=0.02 if dreams(job) else 2e-3)


def assert_curves_alike(job: Path, other: Path, **tolerance: float) -> None:
    """The two runs' curves: every point at the same steps, once, their values equal to pytest.approx(**tolerance)."""
    curves, other_curves = scalars(job), scalars(other)
    assert {tag: [step for step, _ in points] for tag, points in curves.items()} == {
        tag: [step for step, _ in points] for tag, points in other_curves.items()
    }  # every point once
    for tag in curves:
        for (_, value), (_, other_value) in zip(curves[tag], other_curves[tag], strict=True):
            assert value == pytest.approx(other_value, **tolerance), tag


@pytest.fixture(scope="module")
def stacked(tmp_path_factory, data_dir) -> Callable[[str], tuple[Path, subprocess.CompletedProcess]]:
    """The uninterrupted stacked sweep of SWEEPS[kind], run once for the module: its directory and the command's result."""
    done = {}

    def sweep(kind: str) -> tuple[Path, subprocess.CompletedProcess]:
        if kind not in done:
            sweep_dir = tmp_path_factory.mktemp(kind)
            done[kind] = sweep_dir, run(sweep_command(sweep_dir, data_dir, *SWEEPS[kind]))
        return done[kind]

    return sweep


@pytest.mark.slow
@pytest.mark.parametrize("kind", SWEEPS)
def test_each_job_of_a_stacked_sweep_ends_as_the_same_job_alone(kind, stacked, tmp_path, data_dir):
    sweep_dir, result = stacked(kind)
    output = result.stdout + result.stderr
    assert all(group in output for group in GROUPS[kind]), output[-3000:]
    assert f"{len(jobs(sweep_dir))} of {len(jobs(sweep_dir))} jobs finished" in result.stdout
    run(sweep_command(tmp_path, data_dir, *SWEEPS[kind], launcher="basic"))
    assert [job.name for job in jobs(sweep_dir)] == [job.name for job in jobs(tmp_path)]
    for together, alone in zip(jobs(sweep_dir), jobs(tmp_path), strict=True):
        assert json.loads((together / "status.json").read_text())["state"] == "finished"
        assert_trained_alike(together, alone)
        metrics, metrics_alone = (json.loads((job / "metrics.json").read_text()) for job in (together, alone))
        assert metrics["lower_bound"] == pytest.approx(metrics_alone["lower_bound"], abs=0.02 if dreams(alone) else 2e-3)


@pytest.mark.slow
@pytest.mark.parametrize("kind", SWEEPS)
def test_a_killed_stacked_sweep_resumes_every_job_exactly(kind, stacked, tmp_path, data_dir):
    sweep_dir, _ = stacked(kind)
    command = sweep_command(tmp_path, data_dir, *SWEEPS[kind])
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not list(tmp_path.glob("*/checkpoints/last.ckpt")):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(1.0)
    assert process.poll() is None, "the sweep finished before it could be killed; lengthen it"
    process.send_signal(signal.SIGKILL)
    process.wait()
    states = [json.loads((job / "status.json").read_text())["state"] for job in jobs(tmp_path)]
    assert "running" in states

    result = run(command)  # the same command
    assert f"{len(jobs(sweep_dir))} of {len(jobs(sweep_dir))} jobs finished" in result.stdout
    for resumed, uninterrupted in zip(jobs(tmp_path), jobs(sweep_dir), strict=True):
        assert bitwise_difference(resumed, uninterrupted) is None
        assert scalars(resumed) == scalars(uninterrupted)  # the killed attempt's later points hidden, none repeated


@pytest.mark.slow
def test_sigterm_stops_every_job_of_a_stacked_sweep_with_its_state_saved_and_the_rerun_ends_exactly(stacked, tmp_path, data_dir):
    # Each job stops at the end of its call in progress, so jobs batched together may stop at different points and then
    # be batched with other partners than in the uninterrupted sweep, equal to it to float rounding only (the SIGKILL
    # test covers batched resumes). Here the default batched=auto, which on a CPU computes each job alone, against the
    # batched sweep: equal to float rounding.
    sweep_dir, _ = stacked("updates")
    command = sweep_command(tmp_path, data_dir, *[o for o in JOBS if not o.startswith("hydra.launcher.batched")])
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not list(tmp_path.glob("*/checkpoints/last.ckpt")):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 128 + signal.SIGTERM
    states = {json.loads((job / "status.json").read_text())["state"] for job in jobs(tmp_path)}
    assert "stopped" in states and states <= {"stopped", "finished"}  # every job saved where it was, none left running

    reasons = [json.loads((job / "status.json").read_text()).get("reason", "") for job in jobs(tmp_path)]
    assert any("stopped by SIGTERM at" in reason and "last.ckpt holds that state" in reason for reason in reasons)

    result = run(command)
    assert "4 of 4 jobs finished" in result.stdout
    for resumed, uninterrupted in zip(jobs(tmp_path), jobs(sweep_dir), strict=True):
        assert_trained_alike(resumed, uninterrupted)


AS_ALONE = {
    # two of Figure 2's latent sizes (groups of one) and a second seed of one (a group of two, taken one job after
    # another on a CPU by default): bit for bit
    "one after another": ["model.latent_dim=3,5", "seed=0,1"],
    # four groups of one (latent sizes and algorithms that do not batch) whose whole calls run as one call: on a GPU one
    # graph with a branch per group; rehearsed on this CPU. Bit for bit when run alone, but in the whole slow tier on a
    # loaded machine a job's weights have differed from alone in their last bits, for a cause not yet found: float32's
    # own tolerance here, where another seed differs by nats
    "groups as one call": [
        "model.latent_dim=3,5",
        "model=mlp,wake_sleep",
        "model.cuda_graph=rehearse",
        "hydra.launcher.batched=true",
    ],
}  # fmt: skip
BITWISE = {"one after another"}


@pytest.mark.slow
@pytest.mark.parametrize("kind", AS_ALONE)
def test_on_a_cpu_a_stacked_sweep_trains_each_job_as_alone(kind, tmp_path, data_dir):
    overrides = ["experiment=figure2_mnist", *AS_ALONE[kind], *SHORT[1:], "trainer.max_samples=10500"]
    stacked, alone = tmp_path / "stacked", tmp_path / "alone"
    result = run([str(BIN / "aevb-train"), "-m", f"hydra.sweep.dir={stacked}", f"paths.data_dir={data_dir}",
                  "hydra/launcher=stacked", *overrides])  # fmt: skip
    run([str(BIN / "aevb-train"), "-m", f"hydra.sweep.dir={alone}", f"paths.data_dir={data_dir}",
         *(o for o in overrides if not o.startswith("hydra.launcher."))])  # fmt: skip
    if kind == "groups as one call":
        assert "the calls of jobs 0 | 1 | 2 | 3 run as one call" in result.stdout + result.stderr
    assert len(jobs(stacked)) == 4
    for together, by_itself in zip(jobs(stacked), jobs(alone), strict=True):
        if kind in BITWISE:
            assert bitwise_difference(together, by_itself) is None
            assert scalars(together) == scalars(by_itself)
            continue
        expected = weights(by_itself)
        for name, value in weights(together).items():
            torch.testing.assert_close(value, expected[name], msg=lambda m, n=name, j=together.name: f"{j}: {n}: {m}")
        assert_curves_alike(together, by_itself, rel=1e-6)


@pytest.mark.slow
def test_the_step_size_probes_of_a_stacked_sweep_train_with_all_its_jobs(tmp_path, data_dir):
    # each job's candidates join the sweep: all four batched together, then the two jobs from their winners; each job
    # picks what it picks alone and ends as alone, to float rounding (the probe ends 10 updates past the warm-up; step
    # sizes up to 0.01, as CALL_JOBS's)
    candidates = "step_size_selection.candidates=[0.005,0.01]"
    probe = ["step_size_selection=paper", candidates, "step_size_selection.probe_samples=11000"]
    overrides = [*probe, "seed=0,1", "hydra.launcher.batched=true"]
    result = run(sweep_command(tmp_path / "stacked", data_dir, *overrides))
    output = result.stdout + result.stderr
    assert "jobs 0 lr=0.005, 0 lr=0.01, 1 lr=0.005, 1 lr=0.01 compute alike (batched: True)" in output
    assert "jobs 0, 1 compute alike (batched: True)" in output and "2 of 2 jobs finished" in result.stdout
    run(sweep_command(tmp_path / "alone", data_dir, *overrides, launcher="basic"))
    for together, alone in zip(jobs(tmp_path / "stacked"), jobs(tmp_path / "alone"), strict=True):
        picked, picked_alone = (json.loads((job / "step_size_selection.json").read_text()) for job in (together, alone))
        assert picked["winner"] == picked_alone["winner"]
        assert picked["scores"] == pytest.approx(picked_alone["scores"], abs=2e-3)
        assert_trained_alike(together, alone)
        for candidate in ("lr=0.005", "lr=0.01"):
            assert_trained_alike(*(job / "step_size_probe" / candidate for job in (together, alone)))


@pytest.mark.slow
def test_a_job_that_diverges_stops_alone_and_the_others_finish(tmp_path, data_dir):
    # lr = 1e30: the first step after the warm-up (update 101) throws the weights out of range
    result = run(sweep_command(tmp_path, data_dir, "optimizer.lr=0.02,1e30", "trainer.max_samples=10500"),
                 expect_success=False)  # fmt: skip
    good, diverged = (json.loads((job / "status.json").read_text()) for job in jobs(tmp_path))
    assert good["state"] == "finished"
    assert diverged["state"] == "failed" and "the training loss became nan" in diverged["reason"]
    assert "1 of 2 jobs finished" in result.stdout
