"""The errors aevb raises on purpose. Each message names the cause and the fix, so the commands print it as one line."""


class AevbError(Exception):
    """A failure this framework diagnosed: bad input, a bad file, or a training run that diverged."""


class ConfigError(AevbError, ValueError):
    """A configuration that cannot run; the message names the key and what is allowed."""


class DataFileError(AevbError, RuntimeError):
    """A data file is missing, unreadable or corrupt; the message names the file and the fix."""


class CheckpointError(AevbError, RuntimeError):
    """A checkpoint or run directory that cannot be resumed: unreadable, or written under another config."""


class TrainingDiverged(AevbError, FloatingPointError):
    """The loss became NaN or infinite; the message names the step, the likely causes and the last good checkpoint."""


class Stopped(AevbError):
    """A signal stopped training; last.ckpt holds the state at that moment, so the same command continues. `hand_over`
    is what the signal meant before the run took it, to be done now that the state is saved (under SLURM, submitit's
    requeue of this job), or None."""

    def __init__(self, signal_name: str, exit_code: int, message: str, hand_over=None):
        super().__init__(message)
        self.signal_name, self.exit_code, self.hand_over = signal_name, exit_code, hand_over


class RankLost(AevbError, RuntimeError):
    """A DDP process died (killed, out of memory) and the others stopped when their next exchange with it failed."""


class RunInUse(AevbError):
    """Another live process holds the run directory (aevb.runs.directory.Run.held); nothing in it was touched."""
