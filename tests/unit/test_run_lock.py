"""One writer per run: a run directory held by a live process refuses a second holder, naming the holder; a lock left
by a dead process is taken over."""

import os
import socket
import subprocess
import sys
import time

import pytest

from aevb.errors import RunInUse
from aevb.runs.directory import Run

# Another process holding a run as Run.held does: flock on .lock, its host and pid inside.
HOLDER = """
import fcntl, os, socket, sys, time
file = open(sys.argv[1], "a+")
fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
file.write(f"pid {os.getpid()} on {socket.gethostname()}"); file.flush()
print("held", flush=True)
time.sleep(60)
"""


def test_a_held_run_refuses_a_second_holder_naming_the_first(tmp_path):
    with Run(tmp_path).held():
        with pytest.raises(RunInUse) as refusal:
            Run(tmp_path).held().__enter__()
    message = str(refusal.value)
    assert f"is in use by pid {os.getpid()} on {socket.gethostname()}" in message and "hydra.run.dir=" in message
    with Run(tmp_path).held():  # let go of at the end: the next command holds it
        pass


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path):
    run = Run(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(run.lock_file)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(RunInUse, match=f"pid {holder.pid} on"):
        run.held().__enter__()
    holder.kill()  # SIGKILL: no clean-up; .lock stays, naming the dead process
    holder.wait()
    assert f"pid {holder.pid}" in run.lock_file.read_text()
    with run.held():
        assert run.lock_file.read_text().startswith(f"pid {os.getpid()} on")


# A SLURM job's run as aevb-train holds it: Run.held, in a process that lets go after a moment (an exiting job).
SLURM_HOLDER = """
import sys, time
from pathlib import Path
from aevb.runs.directory import Run
with Run(Path(sys.argv[1])).held():
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def hold_as_slurm_job(run: Run, job_id: str, seconds: float) -> subprocess.Popen:
    env = {**os.environ, "SLURM_JOB_ID": job_id}
    holder = subprocess.Popen([sys.executable, "-c", SLURM_HOLDER, str(run.directory), str(seconds)],
                              stdout=subprocess.PIPE, text=True, env=env)  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    return holder


@pytest.mark.slow  # it waits out a predecessor
def test_a_requeued_slurm_job_waits_for_its_exiting_predecessor_and_no_other(tmp_path, monkeypatch):
    run = Run(tmp_path)
    predecessor = hold_as_slurm_job(run, "77", seconds=2.0)
    assert f"pid {predecessor.pid} on {socket.gethostname()} (SLURM job 77)" in run.lock_file.read_text()
    monkeypatch.setenv("SLURM_JOB_ID", "78")  # another job: refused at once, the holder named
    with pytest.raises(RunInUse, match=rf"pid {predecessor.pid} on .* \(SLURM job 77\)"):
        run.held().__enter__()
    monkeypatch.setenv("SLURM_JOB_ID", "77")  # the same job, requeued: it waits until its predecessor has let go
    asked = time.monotonic()
    with run.held():
        assert time.monotonic() - asked > 1.0
        assert run.lock_file.read_text().startswith(f"pid {os.getpid()} on {socket.gethostname()} (SLURM job 77)")
