"""SIGTERM (a scheduler's pre-emption or time limit, `kill`) and SIGINT (Ctrl+C) stop a run at the end of the
minibatch in progress: last.ckpt is written there, the same state a checkpoint between evaluations holds, so
re-running the command continues exactly; the run is then "stopped" with the signal named, and aevb-train exits
with 128 + the signal's number (143, 130), as a process killed by it would.

A signal handed over (`hand_over`: in a SLURM job, submitit's pre-emption signal, USR2) stops the same way, and then
what its own handler does follows: submitit requeues the job, and the requeued job continues from that last.ckpt.

A signal that comes during an evaluation takes effect when the evaluation ends (with the minibatch after it); a
second SIGINT stops at once, as Python does, losing what the last checkpoint does not hold. Under DDP (several
processes) Lightning's own handling stops every rank at its next batch, and the run continues from the last
checkpoint taken before the signal.
"""

import signal
from contextlib import contextmanager
from pathlib import Path

import lightning.pytorch as L

from aevb.errors import Stopped
from aevb.training.slurm import preemption_signals

SIGNALS = (signal.SIGTERM, signal.SIGINT)
_relayed_to: set["GracefulStop"] | None = None  # the runs of a stacked sweep, while one trains (relayed_signals)
_relayed: list[int] = []  # the signals relayed so far: a run that starts training after one stops at its first call
_relayed_over: dict = {}  # the handlers the relay took each signal from, for a run to hand a signal over to


def _relay(signum: int, frame) -> None:
    _relayed.append(signum)
    for run in list(_relayed_to or ()):
        run._note(signum, frame)


@contextmanager
def relayed_signals():
    """While a stacked sweep's runs train in this process (aevb.stacking): SIGTERM, SIGINT and a SLURM job's
    pre-emption signal reach each of them."""
    global _relayed_to
    _relayed_to = set()
    _relayed.clear()
    _relayed_over.update({signum: signal.signal(signum, _relay) for signum in (*SIGNALS, *preemption_signals())})
    try:
        yield
    finally:
        for signum, handler in _relayed_over.items():
            signal.signal(signum, handler)
        _relayed_over.clear()
        _relayed_to = None


class GracefulStop(L.Callback):
    def __init__(self, checkpoint: Path, hand_over: tuple[signal.Signals, ...] = ()):
        self.checkpoint = checkpoint
        self.hand_over = hand_over  # signals whose own handler runs once the state is saved
        self.received: signal.Signals | None = None
        self._saved_after_call = False  # a signal came and the call's end was saved: stop before the next call
        self._previous: dict = {}  # the handlers this run took the signals from, to put back when it ends
        self._hand_over_to: dict = {}  # each hand_over signal's own handler

    def _note(self, signum: int, frame) -> None:
        if self.received == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt  # asked twice: now
        self.received = signal.Signals(signum)

    def on_train_start(self, trainer: L.Trainer, model) -> None:
        # In place of Lightning's SIGTERM handler, which would stop at the next batch of an evaluation too, where no
        # checkpoint is taken. Several processes (DDP) keep Lightning's: it stops them together (aevb-train exits 143).
        if _relayed_to is not None:
            _relayed_to.add(self)
            self._take_relayed_signals()
            self._hand_over_to = {signum: _relayed_over[signum] for signum in self.hand_over if signum in _relayed_over}
            if _relayed:
                self._note(_relayed[-1], None)
        elif trainer.world_size == 1:
            for signum in (*SIGNALS, *self.hand_over):
                self._previous[signum] = signal.signal(signum, self._note)
            self._hand_over_to = {signum: self._previous[signum] for signum in self.hand_over}

    def teardown(self, trainer: L.Trainer, model, stage: str) -> None:
        if _relayed_to is not None:
            _relayed_to.discard(self)
        for signum, handler in self._previous.items():
            # Lightning's own teardown, before this one, has put back the handler it found: the one found here is
            # Lightning's, which holds its Trainer (and so the model and data) for as long as it stays installed
            if signal.getsignal(signum) == self._note:
                signal.signal(signum, handler)
        self._previous = {}

    # The state at the end of a call of training_step is what a checkpoint between evaluations holds; if the call has
    # an evaluation, the state after it is what that evaluation's checkpoint holds. Stopping before the evaluation
    # would lose its point from the curves, so the stop waits for it.
    def on_train_batch_end(self, trainer: L.Trainer, model, outputs, batch, batch_idx: int) -> None:
        if self.received is not None:
            trainer.save_checkpoint(self.checkpoint)
            self._saved_after_call = True

    def on_validation_end(self, trainer: L.Trainer, model) -> None:
        if self.received is not None and not trainer.sanity_checking:
            trainer.save_checkpoint(self.checkpoint)
            self.stop(model)

    def _take_relayed_signals(self) -> None:
        """In a stacked sweep each job's Trainer installs Lightning's SIGTERM handler when it starts, and puts back the
        one it found when it ends, maybe another job's: the relay takes the signals back, so they reach every job."""
        for signum in SIGNALS:
            if signal.getsignal(signum) is not _relay:
                signal.signal(signum, _relay)

    def on_train_batch_start(self, trainer: L.Trainer, model, batch, batch_idx: int) -> None:
        if _relayed_to is not None:
            self._take_relayed_signals()
        if self._saved_after_call:  # the last call had no evaluation: its checkpoint stands
            self.stop(model)

    def stop(self, model) -> None:
        name = self.received.name
        hand_over = self._hand_over_to.get(self.received)
        raise Stopped(name, 128 + self.received.value,
                      f"stopped by {name} at {model.samples_seen:,} training samples; last.ckpt holds that state: run the "
                      "same command again to continue", hand_over)  # fmt: skip
