"""Run the project's entry points as a user does, in a subprocess, and read what they logged."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from aevb.runs.checkpoints import read_checkpoint
from aevb.runs.tensorboard_tags import logged_name

BIN = Path(sys.executable).parent

# Frey Face with the paper's preset, short: evaluations (and so checkpoints) at log-spaced points inside epochs.
FREY = ["experiment=aevb_frey_face", "trainer.max_samples=200000", "callbacks.evaluation_schedule.start_samples=2000",
        "step_size_selection=none"]  # fmt: skip


def run_entry_point(name: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """`name` (aevb-train, aevb-eval, aevb-figures) with the given arguments; fails the test on a non-zero exit."""
    env = {**os.environ, "HYDRA_FULL_ERROR": "1"}
    result = subprocess.run([str(BIN / name), *args], capture_output=True, text=True, env=env, timeout=600)
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def start(run_dir: Path, data_dir: Path, *args: str) -> subprocess.Popen:
    command = [str(BIN / "aevb-train"), f"hydra.run.dir={run_dir}", f"paths.data_dir={data_dir}", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for_first_checkpoint(process: subprocess.Popen, run_dir: Path, seed: int, pause: float = 1.5) -> int:
    """Until the run wrote its first checkpoint, then a random moment more (up to `pause` s); that checkpoint's samples."""
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 300
    while not checkpoint.exists():
        assert process.poll() is None, process.stdout.read()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(random.Random(seed).uniform(min(0.2, pause), pause))
    assert process.poll() is None, "the run finished before it could be signalled; lengthen it"
    return read_checkpoint(checkpoint)["samples_seen"]


def child_processes(pid: int) -> dict[int, dict[str, str]]:
    """The processes `pid` started, each with its environment (Lightning's DDP ranks carry LOCAL_RANK)."""
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    environments = {}
    for child in map(int, children):
        variables = Path(f"/proc/{child}/environ").read_bytes().decode(errors="replace").split("\0")
        environments[child] = dict(variable.split("=", 1) for variable in variables if "=" in variable)
    return environments


def kill_after_first_checkpoint(process: subprocess.Popen, run_dir: Path, seed: int) -> int:
    """SIGKILL the run at a random moment after it wrote its first checkpoint; the samples of the checkpoint left."""
    wait_for_first_checkpoint(process, run_dir, seed)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return read_checkpoint(run_dir / "checkpoints" / "last.ckpt")["samples_seen"]


def scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every point of a run's TensorBoard scalars, by logged name (kl/test for the tag terms/kl/test)."""
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    return {logged_name(tag): [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def wandb_offline_history(run_file: Path) -> list[dict]:
    """The history rows (a dict per wandb.log call) of an offline W&B run's .wandb file, read as W&B's own format
    writes it: a 7-byte header, then records in blocks of 32 KiB, each with a CRC32, a length and a type (full,
    first, middle, last), whose payloads are wandb_internal_pb2.Record messages."""
    import json
    import struct

    from wandb.proto import wandb_internal_pb2

    data = run_file.read_bytes()
    assert data[:4] == b":W&B", f"{run_file} is not a W&B run file"
    position, payloads, pending = 7, [], b""
    while position + 7 <= len(data):
        room = 32768 - position % 32768
        if room < 7:  # a block's tail too short for a header is padding
            position += room
            continue
        _checksum, length, kind = struct.unpack("<IHB", data[position : position + 7])
        chunk = data[position + 7 : position + 7 + length]
        position += 7 + length
        pending += chunk
        if kind in (1, 4):  # full, or the last piece of a record
            payloads.append(pending)
            pending = b""
    rows = []
    for payload in payloads:
        record = wandb_internal_pb2.Record()
        record.ParseFromString(payload)
        if record.WhichOneof("record_type") == "history":
            rows.append({item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item})
    return rows
