"""SLURM jobs (hydra/launcher=slurm, hydra-submitit-launcher): the signal that tells a job of its pre-emption or
coming time limit, and what the job does with it."""

import os
import signal


def preemption_signals() -> tuple[signal.Signals, ...]:
    """In a job that submitit started on SLURM, its pre-emption signal (USR2, or SUBMITIT_PREEMPT_SIGNAL), which SLURM
    sends signal_delay_s before the time limit (`--signal`) and `scancel --signal=USR2` sends at once; elsewhere none.
    The run saves its state first and then lets submitit's handler requeue the job (aevb.callbacks.graceful_stop)."""
    if os.environ.get("SUBMITIT_EXECUTOR") != "slurm":
        return ()
    from submitit import JobEnvironment

    return (signal.Signals(JobEnvironment._usr_sig()),)
