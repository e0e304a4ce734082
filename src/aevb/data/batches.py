"""Minibatches sliced from one tensor on the training device: a seeded permutation, no per-sample work."""

import hashlib
import warnings
from collections.abc import Callable

import torch
from torch import Tensor


def derived_seed(*keys: int) -> int:
    """A 63-bit seed that depends on every key; the same keys give the same seed on every machine."""
    digest = hashlib.blake2b(repr(keys).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def calls_to_reach(call_sizes: list[int], calls_done: int, minibatches_done: int, target: int) -> int:
    """How many more calls of training_step reach `target` minibatches (0 if already there), when every epoch is made
    of calls of `call_sizes` minibatches and `calls_done` calls (`minibatches_done` minibatches) are behind us."""
    if not call_sizes:
        raise ValueError("an epoch of no minibatches never reaches a target")
    per_epoch, calls = sum(call_sizes), 0
    position = calls_done % len(call_sizes)
    while minibatches_done < target:
        if position == 0 and target - minibatches_done >= per_epoch:  # whole epochs at once
            epochs = (target - minibatches_done) // per_epoch
            calls, minibatches_done = calls + epochs * len(call_sizes), minibatches_done + epochs * per_epoch
            continue
        minibatches_done += call_sizes[position]
        position, calls = (position + 1) % len(call_sizes), calls + 1
    return calls


def call_end_at_or_after(call_sizes: list[int], minibatches: int) -> int:
    """The minibatches trained, from the start, by the end of the first call of training_step that reaches `minibatches`."""
    epochs, within = divmod(calls_to_reach(call_sizes, 0, 0, minibatches), len(call_sizes))
    return epochs * sum(call_sizes) + sum(call_sizes[:within])


class TensorBatches:
    """An iterable of minibatches of `data` (shape (N, C, H, W), values in [0, 1]), on data's device.

    batch_size: the global minibatch M. Under data parallelism each of the `world_size` ranks takes
        its own contiguous part of every global minibatch (M / world_size datapoints when that
        divides), so the ranks' parts are disjoint and the sequence of global minibatches is the
        same whatever the number of ranks.
    shuffle: epoch e visits the datapoints in a permutation drawn from a generator seeded with
        (seed, e); otherwise in order.
    drop_last: leave out a last global minibatch smaller than M.
    binarize: replace each minibatch by a Bernoulli sample of its pixel intensities (dynamic
        binarisation), with noise drawn for the global minibatch from a generator seeded with
        (seed, e, b) for minibatch b of epoch e.
    with_indices: yield (batch, indices into data) instead of the batch alone.
    same_every_epoch: every epoch yields epoch 0's minibatches (its order and its binarisation noise), as Lightning's
        trainer.overfit_batches asks: training repeats the same few minibatches.
    steps_per_call: if set, yield lists of that many consecutive minibatches (fewer at the end of
        an epoch), which one call of the model's training_step trains on in turn.

    progress: if given, a function returning (epoch, calls done in it), read when an epoch's
        iteration starts. Under a Trainer these are Lightning's own loop counters, which its
        checkpoints restore whatever the moment of the save (mid-epoch, at an epoch's last call,
        at validation), so a resumed run continues the exact sequence.

    So the whole iteration state is (epoch, position), the same on every rank. `state_dict` returns
    it, for iteration without a Trainer and to refuse a resume under another seed. Random
    numbers are drawn on data's device: a run on a GPU sees another (equally random) sequence than
    one on the CPU.
    """

    def __init__(
        self,
        data: Tensor,
        batch_size: int,
        *,
        shuffle: bool = False,
        drop_last: bool = False,
        binarize: bool = False,
        with_indices: bool = False,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        steps_per_call: int | None = None,
        same_every_epoch: bool = False,
        progress: Callable[[], tuple[int, int]] | None = None,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if steps_per_call is not None and steps_per_call < 1:
            raise ValueError(f"data.steps_per_call={steps_per_call} must be at least 1")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not one of the {world_size} ranks")
        self.data, self.batch_size = data, batch_size
        self.shuffle, self.drop_last, self.binarize, self.with_indices = shuffle, drop_last, binarize, with_indices
        self.seed, self.rank, self.world_size, self.steps_per_call = seed, rank, world_size, steps_per_call
        self.same_every_epoch, self.progress = same_every_epoch, progress
        self.generator = torch.Generator(device=data.device)
        self.epoch, self.position = -1, 0  # no epoch started yet
        self._resuming = False

    def _global_batches(self) -> list[tuple[int, int]]:
        """(start, stop) of each global minibatch within an epoch's order."""
        n = len(self.data)
        stops = range(self.batch_size, n + self.batch_size, self.batch_size)
        bounds = [(stop - self.batch_size, min(stop, n)) for stop in stops]
        return [(a, b) for a, b in bounds if b - a == self.batch_size] if self.drop_last else bounds

    def _my_part(self, start: int, stop: int) -> tuple[int, int]:
        """This rank's contiguous part of the global minibatch order[start:stop]."""
        size = stop - start
        return start + self.rank * size // self.world_size, start + (self.rank + 1) * size // self.world_size

    def __len__(self) -> int:
        return len(self.call_sizes())

    def call_sizes(self) -> list[int]:
        """The number of minibatches in each item an epoch yields, in order: all 1 without steps_per_call, else
        steps_per_call each but the last, which holds what is left of the epoch (Frey Face: 16 minibatches, 10 + 6)."""
        minibatches = sum(first < last for first, last in (self._my_part(*bounds) for bounds in self._global_batches()))
        per_call = self.steps_per_call or 1
        return [min(per_call, minibatches - start) for start in range(0, minibatches, per_call)]

    def _order(self, epoch: int) -> Tensor:
        n = len(self.data)
        if not self.shuffle:
            return torch.arange(n, device=self.data.device)
        self.generator.manual_seed(derived_seed(self.seed, epoch))
        return torch.randperm(n, generator=self.generator, device=self.data.device)

    def _binarised(self, batch: Tensor, global_size: int, offset: int, epoch: int, position: int) -> Tensor:
        self.generator.manual_seed(derived_seed(self.seed, epoch, position))
        noise = torch.rand((global_size, *batch.shape[1:]), generator=self.generator, device=batch.device, dtype=batch.dtype)
        return (noise[offset : offset + len(batch)] < batch).to(batch.dtype)

    def __iter__(self):
        if self.steps_per_call is None:
            yield from self._minibatches()
            return
        group = []
        for minibatch in self._minibatches():
            group.append(minibatch)
            if len(group) == self.steps_per_call:
                yield group
                group = []
        if group:
            yield group

    def _minibatches(self):
        if self.progress is not None:
            self.epoch, calls = self.progress()
            self.position = calls * (self.steps_per_call or 1)
        elif not self._resuming:
            self.epoch, self.position = self.epoch + 1, 0
        self._resuming = False
        epoch = 0 if self.same_every_epoch else self.epoch  # the epoch whose minibatches this one yields
        order = self._order(epoch)
        for position, (start, stop) in enumerate(self._global_batches()[self.position :], start=self.position):
            first, last = self._my_part(start, stop)
            self.position = position + 1
            if first == last:  # fewer datapoints left than ranks
                continue
            indices = order[first:last]
            batch = self.data[indices]
            if self.binarize:
                batch = self._binarised(batch, stop - start, first - start, epoch, position)
            yield (batch, indices) if self.with_indices else batch

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        if "epoch" not in state:
            warnings.warn(
                "the checkpoint holds the minibatch state of an older aevb version, which cannot be continued exactly: "
                "training goes on from a fresh epoch, so its minibatches differ from those of an uninterrupted run",
                stacklevel=2,
            )
            return
        if state["seed"] != self.seed:
            raise ValueError(
                f"the checkpoint's minibatches were drawn with data.shuffle_seed={state['seed']}, this run asks for "
                f"{self.seed}; resume with data.shuffle_seed={state['seed']}"
            )
        self.epoch, self.position = state["epoch"], state["position"]
        # A finished epoch resumes as the start of the next one.
        self._resuming = self.epoch >= 0 and self.position < len(self._global_batches())
