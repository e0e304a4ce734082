"""One job at a time, each with the process-wide state it would own alone.

The jobs of a stacked sweep run as greenlets (coroutines with stacks of their own) on the main thread and take turns:
a job runs until it waits for the others, then hands the baton on. They are not threads: torch's CPU kernels run about
half as fast on a thread other than the one that started OpenMP's workers, and only the main thread receives signals.
What a process keeps globally and a job changes (the random generators, Hydra's config of the job, the log handlers,
the warning filters, autograd's and autocast's modes) is saved when a job hands the baton on and put back when it
holds it again, so every job draws exactly the random numbers, and writes to exactly the log, that it would in a
process of its own. A job may start more jobs while the others run (`start`: a run's step-size candidates); each new
job begins from the state of the one that started it.
"""

import logging
import warnings
from collections.abc import Callable

import torch
from greenlet import getcurrent, greenlet
from hydra.core.hydra_config import HydraConfig

from aevb.runs.checkpoints import random_states, restore_random_states

DEVICE_TYPES = ("cpu", "cuda")  # whose autocast settings a job keeps


def process_state() -> dict:
    return {
        "random": random_states(),  # what checkpoints carry for an exact resume
        "hydra": HydraConfig.instance().cfg,
        "log_handlers": list(logging.root.handlers),
        "log_level": logging.root.level,
        "warning_filters": warnings.filters,
        "grad": torch.is_grad_enabled(),
        "autocast": {d: (torch.is_autocast_enabled(d), torch.get_autocast_dtype(d)) for d in DEVICE_TYPES},
    }


def restore_process_state(state: dict) -> None:
    restore_random_states(state["random"])
    HydraConfig.instance().cfg = state["hydra"]
    logging.root.handlers[:] = state["log_handlers"]
    logging.root.setLevel(state["log_level"])
    warnings.filters = state["warning_filters"]
    warnings._filters_mutated()  # the module caches the filters' version
    torch.set_grad_enabled(state["grad"])
    for device, (enabled, dtype) in state["autocast"].items():
        torch.set_autocast_enabled(device, enabled)
        torch.set_autocast_dtype(device, dtype)


class Baton:
    """Runs jobs in turn: `run(jobs)` starts each (a function) and returns once all have ended, those that they
    `start` too; inside a job, `baton.wait_for(ready)` hands the baton on until `ready()` holds, then takes the job's
    own state back."""

    def __init__(self):
        self._waiting: dict[greenlet, Callable[[], bool]] = {}
        self._own: dict[greenlet, dict] = {}
        self._running: list[greenlet] = []
        self._scheduler: greenlet | None = None

    def run(self, jobs: list[Callable[[], None]]) -> None:
        """Each job in turn until it waits or ends, over and over; a round in which no job can go on is a deadlock."""
        self._scheduler = getcurrent()
        for job in jobs:
            self.start(job)
        while self._running:
            ready = [job for job in self._running if job not in self._waiting or self._waiting[job]()]
            if not ready:
                raise RuntimeError("every job of the stacked sweep waits for another: none can go on")
            for job in ready:
                self._waiting.pop(job, None)
                job.switch()
            self._running = [job for job in self._running if not job.dead]

    def start(self, job: Callable[[], None]) -> None:
        """Run `job` too, from the state the process has now (with warning filters of its own), from its first turn."""
        state = process_state()

        def started() -> None:
            restore_process_state(state)
            warnings.filters = warnings.filters[:]
            warnings._filters_mutated()
            job()

        self._running.append(greenlet(started, parent=self._scheduler))

    def wait_for(self, ready: Callable[[], bool]) -> None:
        me = getcurrent()
        if ready():
            return
        self._own[me] = process_state()
        self._waiting[me] = ready
        me.parent.switch()
        restore_process_state(self._own.pop(me))
