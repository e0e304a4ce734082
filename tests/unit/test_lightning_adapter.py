"""The Lightning behaviour aevb.lightning_adapter relies on, pinned on a tiny model: if an upgrade of Lightning
changes it, these fail before the evaluation schedule or a resumed run's minibatches silently move."""

import lightning.pytorch as L
import torch
from torch.utils.data import DataLoader

from aevb.lightning_adapter import (
    CheapHookNames,
    calls_done,
    count_optimizer_step,
    epoch_progress,
    overridden_update_hooks,
    validate_after_call,
)

CALLS_PER_EPOCH = 4


class Tiny(CheapHookNames, L.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)
        self.validated_after: list[int] = []
        self.epoch_starts: list[tuple[int, int]] = []
        self.trained_on: list[float] = []

    def training_step(self, batch, batch_idx):
        self.trained_on.append(batch[0, 0].item())
        return self.layer(batch).pow(2).mean()

    def validation_step(self, batch, batch_idx):
        pass

    def on_validation_epoch_end(self):
        if not self.trainer.sanity_checking:
            self.validated_after.append(calls_done(self.trainer))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class RecordingLoader:
    """A training dataloader that notes epoch_progress when an epoch's first batch is drawn and goes on from there,
    as aevb.data.batches.TensorBatches does; stateful like it (Lightning treats such a loader as resumable)."""

    def __init__(self, model: Tiny):
        self.model, self.batches = model, [torch.ones(3, 2) * i for i in range(CALLS_PER_EPOCH)]

    def __len__(self):
        return CALLS_PER_EPOCH

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def __iter__(self):  # a generator, so the counters are read when the first batch is drawn, as in TensorBatches
        self.model.epoch_starts.append(epoch_progress(self.model.trainer))
        _, done = self.model.epoch_starts[-1]
        yield from self.batches[done:]


class EveryOtherCall(L.Callback):
    """Validate after call 3, then two calls after each validation, as LogSpacedEvaluation re-targets."""

    def on_train_start(self, trainer, pl_module):
        validate_after_call(trainer, 3)

    def on_validation_end(self, trainer, pl_module):
        if not trainer.sanity_checking:
            validate_after_call(trainer, calls_done(trainer) + 2)


def trainer(tmp_path, **options) -> L.Trainer:
    return L.Trainer(
        default_root_dir=tmp_path, check_val_every_n_epoch=None, val_check_interval=1000, num_sanity_val_steps=0,
        logger=False, enable_progress_bar=False, enable_model_summary=False, **options,
    )  # fmt: skip


def test_validation_falls_after_the_call_set_across_epoch_ends(tmp_path):
    model = Tiny()
    validation = DataLoader([torch.zeros(2)])
    trainer(tmp_path, max_steps=10, callbacks=[EveryOtherCall()], enable_checkpointing=False).fit(
        model, train_dataloaders=RecordingLoader(model), val_dataloaders=validation
    )
    assert model.validated_after == [3, 5, 7, 9]  # epochs of 4 calls: 3 | 5, 7 | 9
    assert model.epoch_starts == [(0, 0), (1, 0), (2, 0)]


def test_a_checkpoint_taken_mid_epoch_restores_the_epoch_and_calls_done_in_it(tmp_path):
    first = Tiny()
    save = L.callbacks.ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=6, save_top_k=-1, filename="{step}")
    trainer(tmp_path, max_steps=6, callbacks=[save]).fit(first, train_dataloaders=RecordingLoader(first))
    resumed = Tiny()
    trainer(tmp_path, max_steps=8, enable_checkpointing=False).fit(
        resumed, train_dataloaders=RecordingLoader(resumed), ckpt_path=tmp_path / "step=6.ckpt"
    )
    assert resumed.epoch_starts[0] == (1, 2)  # 6 calls = one epoch of 4 and 2 of the next
    assert resumed.trained_on == [2.0, 3.0]  # the rest of that epoch, nothing repeated


def test_lightning_sets_current_fx_name_and_the_shortcut_keeps_the_module_intact():
    model = Tiny()
    assert "_current_fx_name" in vars(model)  # the attribute Lightning sets around every hook
    model._current_fx_name = "training_step"
    assert model._current_fx_name == "training_step" and set(model.state_dict()) == {"layer.weight", "layer.bias"}
    model.extra = torch.nn.Linear(1, 1)  # everything else still goes through nn.Module
    assert "extra.weight" in model.state_dict()


class StepsItself(Tiny):
    """Manual optimisation: one step through the LightningOptimizer, then two taken directly and counted."""

    def __init__(self):
        super().__init__()
        self.automatic_optimization = False
        self.global_steps: list[int] = []

    def training_step(self, batch, batch_idx):
        optimizer = self.optimizers()
        self.manual_backward(self.layer(batch).pow(2).mean())
        optimizer.step()
        for _ in range(2):
            optimizer.optimizer.step()
            count_optimizer_step(optimizer)
        self.global_steps.append(self.trainer.global_step)


def test_a_step_counted_without_the_lightning_optimizer_moves_global_step_as_its_step_does(tmp_path):
    model = StepsItself()
    trainer(tmp_path, max_steps=9, enable_checkpointing=False).fit(model, train_dataloaders=RecordingLoader(model))
    assert model.global_steps == [3, 6, 9]  # and max_steps, which counts them, stopped training after 3 calls


class ClipsGradients(L.Callback):
    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        pass


def test_the_update_hooks_overridden_are_named_by_class(tmp_path):
    model = Tiny()
    plain = trainer(tmp_path, max_steps=1, enable_checkpointing=False)
    plain.fit(model, train_dataloaders=RecordingLoader(model))
    assert overridden_update_hooks(plain) == []
    hooked = trainer(tmp_path, max_steps=1, enable_checkpointing=False, callbacks=[ClipsGradients()])
    hooked.fit(model, train_dataloaders=RecordingLoader(model))
    assert overridden_update_hooks(hooked) == ["ClipsGradients.on_before_optimizer_step"]
