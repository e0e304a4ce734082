"""One thread at a time, each with the process-wide state it would own alone.

The jobs of a stacked sweep run on threads of one process and take turns: only the holder of the baton runs. What a
process keeps globally and a job changes (the random generators, Hydra's config of the job, the log handlers, the
warning filters) is saved when a thread hands the baton on and put back when it holds it again, so every job draws
exactly the random numbers, and writes to exactly the log, that it would in a process of its own.
"""

import logging
import random
import threading
import warnings
from collections.abc import Callable

import numpy
import torch
from hydra.core.hydra_config import HydraConfig


def process_state() -> dict:
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None,
        "numpy": numpy.random.get_state(),
        "random": random.getstate(),
        "hydra": HydraConfig.instance().cfg,
        "log_handlers": list(logging.root.handlers),
        "log_level": logging.root.level,
        "warning_filters": warnings.filters,
    }


def restore_process_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None:
        torch.cuda.set_rng_state_all(state["cuda"])
    numpy.random.set_state(state["numpy"])
    random.setstate(state["random"])
    HydraConfig.instance().cfg = state["hydra"]
    logging.root.handlers[:] = state["log_handlers"]
    logging.root.setLevel(state["log_level"])
    warnings.filters = state["warning_filters"]
    warnings._filters_mutated()  # the module caches the filters' version


class Baton:
    """`with baton:` runs a thread's turn; `baton.wait_for(ready)` hands the baton on until `ready()` holds (another
    thread calls `notify_all` when it may), then takes the thread's own state back."""

    def __init__(self):
        self._condition = threading.Condition()
        self._own = threading.local()

    def __enter__(self) -> "Baton":
        self._condition.acquire()
        self._take_own_state()
        return self

    def __exit__(self, *exception) -> None:
        self._own.state = process_state()
        self._condition.release()

    def wait_for(self, ready: Callable[[], bool]) -> None:
        self._own.state = process_state()
        self._condition.wait_for(ready)
        self._take_own_state()

    def notify_all(self) -> None:
        self._condition.notify_all()

    def _take_own_state(self) -> None:
        state = getattr(self._own, "state", None)
        if state is not None:
            restore_process_state(state)
        else:  # a thread's first turn starts from the process's state as it is, with warning filters of its own
            warnings.filters = warnings.filters[:]
            warnings._filters_mutated()
