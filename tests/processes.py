"""Run the project's entry points as a user does, in a subprocess, and read what they logged."""

import os
import subprocess
import sys
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

BIN = Path(sys.executable).parent


def run_entry_point(name: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """`name` (aevb-train, aevb-eval, aevb-figures) with the given arguments; fails the test on a non-zero exit."""
    env = {**os.environ, "HYDRA_FULL_ERROR": "1"}
    result = subprocess.run([str(BIN / name), *args], capture_output=True, text=True, env=env, timeout=600)
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}
