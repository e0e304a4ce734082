"""scripts/host_time.py: the host's time per training call, less the recorded call's own work, at two call lengths."""

import re
import subprocess
import sys

import pytest

from aevb.config.hydra_glue import PROJECT_ROOT


@pytest.mark.slow
def test_host_time_splits_a_calls_host_work_into_a_fixed_part_and_a_part_per_minibatch(data_dir):
    script = PROJECT_ROOT / "scripts" / "host_time.py"
    done = subprocess.run(
        [sys.executable, str(script), "--calls", "4", "--data-dir", str(data_dir)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = re.findall(r"steps_per_call=(\d+) +host time per call +([\d.]+) ms.*own work, ([\d.]+) ms", done.stdout)
    per_call = {int(n): float(host) for n, host, _ in rows}
    assert set(per_call) == {10, 100}
    # on a CPU the recorded call is rehearsed, run as written under a trace of every operation: far more than the host's
    # own work around it, which the script reports without it
    assert all(float(host) < float(inside) for _, host, inside in rows)
    # ten times the minibatches a call: more host work (each minibatch's draws and bookkeeping), less than ten times
    # as much (the loop's part is paid once a call)
    assert per_call[10] < per_call[100] < 10 * per_call[10]
    fixed, per_minibatch = map(float, re.search(r"fixed per call ([-\d.]+) ms, per minibatch ([-\d.]+) us", done.stdout).groups())
    assert fixed > 0 and per_minibatch > 0
