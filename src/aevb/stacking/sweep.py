"""hydra/launcher=stacked: a sweep's jobs train in this process together, as one batched computation per update.

Each job runs in turn with the others (aevb.stacking.baton) through exactly the code a job of any other launcher runs
(its run directory, config, curves in every logger, checkpoints, status.json, its line in the sweep's summary); only
their gradients are computed together (aevb.stacking.gradients). So killing the process and re-running the command
resumes every job from its own last.ckpt, and a job that fails or diverges stops alone while the others go on.
SIGTERM, SIGINT and a SLURM job's pre-emption signal reach every job: each saves its last.ckpt and stops. A job's
step-size probe trains its candidates as jobs of the sweep (train_together, called from a job).
"""

import logging
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TypeVar

from greenlet import getcurrent
from hydra.core.utils import JobReturn, configure_log, filter_overrides, run_job, setup_globals
from omegaconf import open_dict

from aevb.callbacks.graceful_stop import relayed_signals
from aevb.errors import ConfigError
from aevb.stacking.baton import Baton
from aevb.stacking.gradients import StackedGradients, named, why_not_together
from aevb.training.run_checks import launches_processes

log = logging.getLogger(__name__)
T = TypeVar("T")
_jobs: dict = {}  # the stacked sweep and job name (aevb.stacking.gradients.named) of each running job's greenlet


def seat_for(model, precision: str):
    """What `model` calls to compute its gradients with the other jobs' (LatentVariableModel.stacked_gradients), when
    it is trained by a job of a stacked sweep and can; otherwise None, and the job trains alone, in turn."""
    if getcurrent() not in _jobs:
        return None
    sweep, name = _jobs[getcurrent()]
    reason = why_not_together(model, precision)
    if reason is not None:
        log.info("job %s trains alone, in turn with the others: %s", named([name]), reason)
        sweep.leave(name)
        return None
    return sweep.seat(name)


def launch(launcher, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list[JobReturn]:
    """Hydra's Launcher.launch for hydra_plugins.aevb_launchers.StackedLauncher: the jobs' configs as the basic launcher
    composes them, trained together, every job's return once all have ended."""
    setup_globals()
    configure_log(launcher.config.hydra.hydra_logging, launcher.config.hydra.verbose)
    Path(str(launcher.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
    configs = []
    for number, overrides in enumerate(job_overrides, start=initial_job_idx):
        config = launcher.hydra_context.config_loader.load_sweep_config(launcher.config, list(overrides))
        with open_dict(config):
            config.hydra.job.id = config.hydra.job.num = number
        if launches_processes(config.trainer):
            raise ConfigError(
                f"job {number} ({' '.join(filter_overrides(overrides))}) asks for several DDP processes, and "
                "hydra/launcher=stacked trains every job in this one process: use one device a job (trainer=cpu or gpu)"
            )
        configs.append(config)
    log.info("Training %d jobs together in this process", len(configs))

    def job(config) -> JobReturn:
        return run_job(hydra_context=launcher.hydra_context, task_function=launcher.task_function, config=config,
                       job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir")  # fmt: skip

    try:
        jobs = {config.hydra.job.num: partial(job, config) for config in configs}
        return train_together(jobs, launcher.batched)
    finally:
        configure_log(launcher.config.hydra.hydra_logging, launcher.config.hydra.verbose)


@dataclass
class Outcomes:
    """What the jobs of one train_together call returned or raised, which have ended, and the job that started them,
    to seat again in the sweep when the last has ended (None: none)."""

    names: list
    returns: dict = field(default_factory=dict)
    exits: list[BaseException] = field(default_factory=list)
    ended: set = field(default_factory=set)
    rejoins: Hashable | None = None

    def all_ended(self) -> bool:
        return self.ended == set(self.names)


def train_together(jobs: dict[Hashable, Callable[[], T]], batched: bool | str = "auto") -> list[T]:
    """Run the jobs (functions that train, e.g. Hydra jobs) in turn (aevb.stacking.baton), their models' gradients
    computed together (`batched`: see StackedGradients); what each returned, in order, once all have ended. A job's
    SystemExit (a signal's stop) or KeyboardInterrupt is raised again here once every job has ended.

    Called by a job of a stacked sweep (a run's step-size probe), the jobs join that sweep, each named (that job's
    number, its key), and train together with all its jobs; the job that started them waits for them meanwhile."""
    if getcurrent() in _jobs:
        sweep, number = _jobs[getcurrent()]
        outcomes = Outcomes([(number, key) for key in jobs], rejoins=number if number in sweep.members else None)
        sweep.leave(number)  # no job waits for it while it waits for these
        sweep.members.update(outcomes.names)
        for name, job in zip(outcomes.names, jobs.values(), strict=True):
            sweep.baton.start(turns_of(sweep, name, job, outcomes))
        sweep.baton.wait_for(outcomes.all_ended)
    else:
        baton, outcomes = Baton(), Outcomes(list(jobs))
        sweep = StackedGradients(baton, set(jobs), batched)
        with relayed_signals():
            baton.run([turns_of(sweep, name, job, outcomes) for name, job in jobs.items()])
    if outcomes.exits:
        raise outcomes.exits[0]
    return [outcomes.returns[name] for name in outcomes.names]


def turns_of(sweep: StackedGradients, name: Hashable, job: Callable[[], T], outcomes: Outcomes) -> Callable[[], None]:
    """What the baton runs for a job: the job, known as `name` of `sweep` while it runs, to its end."""

    def run() -> None:
        _jobs[getcurrent()] = (sweep, name)
        try:
            outcomes.returns[name] = job()
        except BaseException as stop:
            outcomes.exits.append(stop)
        finally:
            outcomes.ended.add(name)
            if outcomes.rejoins is not None and outcomes.all_ended():
                sweep.members.add(outcomes.rejoins)  # before the last leaves: the others' next update waits for it
            sweep.leave(name)
            del _jobs[getcurrent()]

    return run
