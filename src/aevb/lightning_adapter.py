"""The Lightning internals aevb relies on, beyond its public API, in one place: the loop counters that place
evaluations and minibatches, the hook Lightning uses to set validation's call, the step counter of manual
optimisation, the hooks it runs at each update, and the attribute it sets around every hook; and the start-up noise
of Lightning's that is filtered out. tests/unit/test_lightning_adapter.py pins the behaviour of the pinned Lightning
(uv.lock) each one needs.
"""

from __future__ import annotations

import logging
import warnings
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only named in annotations: importing this module imports no Lightning (the commands start fast)
    import lightning.pytorch as L


def calls_done(trainer: L.Trainer) -> int:
    """Calls of training_step done in this fit so far, over all epochs (resumed runs included)."""
    return trainer.fit_loop.epoch_loop.total_batch_idx + 1


def epoch_progress(trainer: L.Trainer) -> tuple[int, int]:
    """(epoch, calls of training_step done in it), which Lightning's checkpoints restore whatever the moment of the save;
    right after a restore, only once the loop has started: read it when an epoch's first batch is drawn."""
    return trainer.current_epoch, trainer.fit_loop.epoch_loop.batch_progress.current.completed


def count_optimizer_step(optimizer) -> None:
    """Count one optimiser step taken without its LightningOptimizer's `step` (a replayed CUDA graph took it), as that
    step counts it: trainer.global_step moves on by one."""
    optimizer._on_before_step()
    optimizer._on_after_step()


UPDATE_HOOKS = ("on_before_backward", "on_after_backward", "on_before_optimizer_step", "on_before_zero_grad")


def overridden_update_hooks(trainer: L.Trainer) -> list[str]:
    """The hooks that Lightning runs at each backward pass or optimiser step which a callback or the module overrides,
    as "Class.hook"."""
    import lightning.pytorch as L  # here, so that importing this module imports no Lightning

    overridden = []
    for owner, base in [(c, L.Callback) for c in trainer.callbacks] + [(trainer.lightning_module, L.LightningModule)]:
        for hook in UPDATE_HOOKS:
            if getattr(type(owner), hook) is not getattr(base, hook):
                overridden.append(f"{type(owner).__name__}.{hook}")
    return overridden


def validate_after_call(trainer: L.Trainer, call: int) -> None:
    """Make the next validation run at the end of the `call`-th call of training_step (counted as `calls_done`).
    Needs check_val_every_n_epoch=None, under which Lightning validates when the count is a multiple of it."""
    trainer.val_check_batch = call


class CheapHookNames:
    """A LightningModule mixin: Lightning sets _current_fx_name around every hook, dozens of times a step; it is never
    a parameter, buffer or submodule, so setting it skips nn.Module's checks for those."""

    def __setattr__(self, name: str, value) -> None:
        if name == "_current_fx_name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)


class _NotOurTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip:")


def silence_foreign_noise() -> None:
    """Drop, where they come from, the start-up lines that are not about the run: Lightning's tips to install its
    cloud products, and the deprecation of torch's LeafSpec that Lightning 2.6's own pytree code triggers (not ours to
    fix). Every entry point calls this; anything else Lightning or torch says still shows."""
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_NotOurTips())
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated", category=FutureWarning)


@contextmanager
def quiet_about_resuming(resuming: bool):
    """Lightning's warnings that resuming gives by design left out, while `resuming`: the run's own checkpoint
    directory is not empty, and a run continued from its step-size probe's winner finds that candidate's directory
    in the checkpoint."""
    with warnings.catch_warnings():
        if resuming:
            warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
            warnings.filterwarnings("ignore", message=r"The dirpath has changed from")
        yield
