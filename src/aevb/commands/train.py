"""aevb-train: compose the config, then train (aevb.train). Only Hydra is imported before it has parsed the command
line, so --help, tab completion and a refused key answer at once."""

import logging
import os
import signal
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from aevb.config.hydra_glue import CONFIG_DIR, in_multirun, refusing_renamed_keys
from aevb.config.schema import RENAMED_KEYS
from aevb.errors import AevbError, RunInUse, Stopped

log = logging.getLogger(__name__)


def main() -> None:
    """aevb-train: a renamed config key on the command line is refused naming its new spelling, before Hydra composes."""
    refusing_renamed_keys("aevb-train", RENAMED_KEYS, train_command)


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
def train_command(cfg: DictConfig) -> float:
    """Train; a failure is recorded in the run's status.json. In a sweep the other jobs go on (the sweep's summary
    lists it); alone, a diagnosed failure prints its one-line message and exits with status 1. SIGTERM or SIGINT
    stops the run (and a sweep) with last.ckpt saved, status "stopped", and exit status 143 or 130."""
    from lightning.pytorch.utilities.exceptions import SIGTERMException  # here: Hydra has parsed the command line

    from aevb.runs.directory import Run
    from aevb.train import one_line, optimized_value, train

    output_dir = Path(cfg.paths.output_dir)
    try:
        metrics = train(cfg)
    except RunInUse as error:  # another process's run: nothing here is touched, status.json included
        if in_multirun():
            log.error("job %s skipped: %s", output_dir.name, error)
            return float("nan")
        sys.exit(f"aevb-train: {error}")
    except Stopped as stop:  # a sweep stops with its job: the scheduler asked the whole process to go
        print(f"aevb-train: {stop}", file=sys.stderr)
        if stop.hand_over is not None:  # a SLURM job's pre-emption: submitit requeues it, and the job exits
            requeued = f"{stop}; SLURM job {os.environ.get('SLURM_JOB_ID')} is requeued and continues from it"
            Run(output_dir).write_status("requeued", signal=stop.signal_name, reason=requeued)
            try:
                stop.hand_over(signal.Signals[stop.signal_name], None)  # requeues the job and exits
            except Exception as refusal:  # submitit did not requeue it (it says why): stopped, as anywhere else
                log.error("SLURM job not requeued: %s", refusal)
        Run(output_dir).write_status("stopped", signal=stop.signal_name, reason=str(stop))
        sys.exit(stop.exit_code)
    except SIGTERMException:  # Lightning's own stop (DDP): it exits with status 0, which a scheduler takes for success
        reason = "stopped by SIGTERM; the same command continues from the last checkpoint taken before it"
        Run(output_dir).write_status("stopped", signal="SIGTERM", reason=reason)
        print(f"aevb-train: {reason}", file=sys.stderr)
        sys.exit(128 + signal.SIGTERM)
    except Exception as error:
        Run(output_dir).write_status("failed", reason=one_line(error))
        if in_multirun():
            if isinstance(error, AevbError):
                log.error("job %s failed: %s; the sweep goes on", output_dir.name, error)
            else:
                log.exception("job %s failed; the sweep goes on", output_dir.name)
            return float("nan")
        if isinstance(error, AevbError):
            sys.exit(f"aevb-train: {error}")
        raise
    try:
        return optimized_value(metrics, cfg.optimized_metric)
    except AevbError as error:  # the run finished; only the value a sweeper asked for is not among its metrics
        if in_multirun():
            log.error("job %s: %s", output_dir.name, error)
            return float("nan")
        sys.exit(f"aevb-train: {error}")


if __name__ == "__main__":
    main()
