"""The LightningDataModule shared by every dataset here: splits held as tensors in memory."""

import inspect
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import lightning.pytorch as L
import torch
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor

from aevb.data.batches import TensorBatches
from aevb.lightning_adapter import epoch_progress

BINARIZATIONS = ("none", "dynamic", "static")
# The settings that only say how the splits are cut into minibatches: datamodules differing in these alone share splits
BATCHING_SETTINGS = {"batch_size", "eval_batch_size", "shuffle_seed", "steps_per_call", "with_indices"}


@dataclass(eq=False)
class PreparedSplits:
    """The splits that one setting of a dataset makes, read-only. The datamodules of one process with the same settings
    (a stacked sweep's jobs, a step-size probe's candidates) hold one of these, and its copies on each device, between
    them, instead of a copy each."""

    splits: dict[str, Tensor]  # what training draws from
    eval_splits: dict[str, Tensor]  # what evaluations score
    indices: dict[str, Tensor]  # each split's indices into the source file
    copies: dict[tuple[int, str], Tensor] = field(default_factory=dict)  # (split, device) -> the split there

    def on(self, device: torch.device, data: Tensor) -> Tensor:
        """`data` on `device`: one of these splits is copied there once, for all that share it; another tensor each time."""
        if data.device == torch.device(device):
            return data
        if not any(data is split for split in (*self.splits.values(), *self.eval_splits.values())):
            return data.to(device)
        key = (id(data), str(device))  # the split is held here, so its id stays its own
        if key not in self.copies:
            self.copies[key] = data.to(device)
        return self.copies[key]


# settings -> the splits they make, for as long as a datamodule holds them
_PREPARED: weakref.WeakValueDictionary[tuple, PreparedSplits] = weakref.WeakValueDictionary()


class InMemoryDataModule(L.LightningDataModule):
    """Train / val / test splits, each one float tensor (N, C, H, W) with values in [0, 1].

    binarize:
      "none"    -- the intensities as they are (continuous data);
      "dynamic" -- each training batch is a fresh Bernoulli sample of its intensities; the
                   evaluation splits are binarised once with `binarize_seed`, so every
                   evaluation scores the same binary images;
      "static"  -- every split is binarised once with `binarize_seed` and kept fixed.
    batch_size is the global minibatch size M; under data parallelism each of the W ranks
    draws M / W datapoints per step. eval_batch_size is global too. The batches are sliced from
    tensors on the training device (see aevb.data.batches).
    train_limit: if set, train on the first `train_limit` images of the training split only
        (Figure 3's N_train = 1000).
    eval_limit: if set, evaluations score the first `eval_limit` images of each split only
        (Figure 3's estimates use the first 1000 training and test images).
    steps_per_call: minibatches that one call of the model's training_step trains on, one weight
        update each. More than 1 spreads Lightning's fixed cost per call (about 0.5 ms on a CPU)
        over several updates; the updates and their order stay the same. Under DDP it is 1.
    with_indices: training minibatches come as (images, their indices into the training split), for a model that
        keeps state per datapoint (MCEM's chains); aevb.build sets it from the model's class.
    """

    data_shape: tuple[int, int, int]
    name: str

    def __init__(
        self,
        data_dir: str,
        batch_size: int = 100,
        eval_batch_size: int = 1000,
        binarize: str = "none",
        binarize_seed: int = 0,
        split_seed: int = 0,
        shuffle_seed: int = 0,
        train_limit: int | None = None,
        eval_limit: int | None = None,
        steps_per_call: int = 1,
        with_indices: bool = False,
    ):
        super().__init__()
        if binarize not in BINARIZATIONS:
            raise ValueError(f"data.binarize={binarize!r} is not supported; use one of {BINARIZATIONS}")
        if batch_size < 1 or eval_batch_size < 1:
            raise ValueError(f"data.batch_size and data.eval_batch_size must be at least 1, got {batch_size}, {eval_batch_size}")
        for key, size in (("train_limit", train_limit), ("eval_limit", eval_limit)):
            if size is not None and size < 1:
                raise ValueError(f"data.{key}={size} must be at least 1, or null for the whole split")
        if steps_per_call < 1:
            raise ValueError(f"data.steps_per_call={steps_per_call} must be at least 1")
        self.train_limit, self.eval_limit, self.steps_per_call = train_limit, eval_limit, steps_per_call
        self.with_indices = with_indices
        self.data_dir = data_dir
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.binarize, self.binarize_seed = binarize, binarize_seed
        self.split_seed, self.shuffle_seed = split_seed, shuffle_seed
        self.splits: dict[str, Tensor] = {}
        self.split_indices: dict[str, Tensor] = {}
        self.prepared: PreparedSplits | None = None  # shared with every datamodule of these settings (setup)
        self._train_batches: TensorBatches | None = None

    @property
    def is_binary(self) -> bool:
        """Whether every training image the model sees is binary: binarised here, or binary in the files."""
        return self.binarize != "none" or bool(((self.splits["train"] == 0) | (self.splits["train"] == 1)).all())

    def load_splits(self) -> dict[str, tuple[Tensor, Tensor]]:
        """Read the files and return {split: (images in [0, 1], indices into the source file)}."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        key = (type(self), self.split_settings())
        self.prepared = _PREPARED.get(key)
        if self.prepared is None:
            self.prepared = _PREPARED[key] = self.prepare_splits()
        self.splits, self.eval_splits = dict(self.prepared.splits), dict(self.prepared.eval_splits)
        self.split_indices = dict(self.prepared.indices)

    def split_settings(self) -> tuple:
        """(name, value) of each constructor setting, this class's and its bases', that the splits depend on: all but
        BATCHING_SETTINGS. Each is kept as an attribute of its name, as a dataset's checklist asks (CONTRIBUTING.md)."""
        names, kinds = set(), (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        for owner in type(self).__mro__[: type(self).__mro__.index(InMemoryDataModule) + 1]:
            if "__init__" in vars(owner):
                names |= {n for n, p in inspect.signature(owner.__init__).parameters.items() if p.kind in kinds}
        names -= {"self", *BATCHING_SETTINGS}
        if missing := sorted(name for name in names if name not in vars(self)):
            raise TypeError(
                f"{type(self).__name__} takes {missing} but keeps no attribute of that name: keep each setting as "
                f"self.<its name>, so that datamodules share splits only when every setting is the same"
            )
        values = {name: getattr(self, name) for name in names}
        values["data_dir"] = str(Path(values["data_dir"]).resolve())
        return tuple(sorted(values.items()))

    def prepare_splits(self) -> PreparedSplits:
        """Read the files and make the splits these settings ask for (setup does it once a process for each setting)."""
        loaded = self.load_splits()
        indices = {name: indices for name, (_, indices) in loaded.items()}
        splits = {name: images for name, (images, _) in loaded.items()}
        # What evaluation scores: the same images for every evaluation of a run.
        eval_splits = dict(splits)
        if self.binarize != "none":
            generator = torch.Generator().manual_seed(self.binarize_seed)
            eval_splits = {name: torch.bernoulli(x, generator=generator) for name, x in splits.items()}
        if self.binarize == "static":
            splits = dict(eval_splits)
        if self.train_limit is not None:  # after binarising, so that every split's images are those of the whole data
            available = len(splits["train"])
            if self.train_limit > available:
                raise ValueError(f"data.train_limit={self.train_limit} is more than the {available} training images")
            for split in (splits, eval_splits, indices):
                split["train"] = split["train"][: self.train_limit]
        if self.eval_limit is not None:
            eval_splits = {name: x[: self.eval_limit] for name, x in eval_splits.items()}
        return PreparedSplits(splits, eval_splits, indices)

    @property
    def _world_size(self) -> int:
        return self.trainer.world_size if self.trainer else 1

    def _check_batch_size(self) -> None:
        world_size = self._world_size
        if self.batch_size % world_size:
            raise ValueError(
                f"data.batch_size={self.batch_size} is the global minibatch and must be divisible by "
                f"the number of processes ({world_size}); choose a multiple of {world_size}."
            )

    def _steps_per_call(self) -> int:
        if self.steps_per_call > 1 and self._world_size > 1:
            rank_zero_warn(
                f"data.steps_per_call={self.steps_per_call} applies to one process: DDP synchronises gradients once per "
                "call of training_step, so each call trains one minibatch here (the updates are the same)"
            )
            return 1
        return self.steps_per_call

    def _placement(self) -> dict:
        """Where the batches live and which part each rank takes: on the training device, so no batch is copied."""
        if self.trainer is None:
            return {"device": torch.device("cpu"), "rank": 0, "world_size": 1}
        trainer = self.trainer
        return {"device": trainer.strategy.root_device, "rank": trainer.global_rank, "world_size": trainer.world_size}

    def _batches(self, data: Tensor, batch_size: int, **options) -> TensorBatches:
        placement = self._placement()
        return TensorBatches(self.prepared.on(placement.pop("device"), data), batch_size, **options, **placement)

    def train_dataloader(self) -> TensorBatches:
        if self._train_batches is None:
            self._check_batch_size()
            self._train_batches = self._batches(
                self.splits["train"],
                self.batch_size,
                shuffle=True,
                drop_last=True,
                binarize=self.binarize == "dynamic",
                with_indices=self.with_indices,
                seed=self.shuffle_seed,
                steps_per_call=self._steps_per_call(),
                same_every_epoch=bool(self.trainer and self.trainer.overfit_batches),  # Lightning's first k of each epoch
                progress=(lambda: epoch_progress(self.trainer)) if self.trainer else None,
            )
        return self._train_batches

    @property
    def evaluation_names(self) -> list[str]:
        """The splits the lower bound is evaluated on, in the order of `val_dataloader`."""
        return [name for name in ("train", "val", "test") if len(self.eval_splits.get(name, ())) > 0]

    def val_dataloader(self) -> list[TensorBatches]:
        # Each rank scores its own part of every batch, so each datapoint is scored exactly once.
        return [self._batches(self.eval_splits[name], self.eval_batch_size) for name in self.evaluation_names]

    def split_record(self) -> dict:
        """What a run needs to know to reproduce its data: the variant and the split indices."""
        return {
            "dataset": self.name,
            "binarize": self.binarize,
            "binarize_seed": self.binarize_seed,
            "split_seed": self.split_seed,
            "sizes": {name: len(indices) for name, indices in self.split_indices.items()},
            "indices": {name: indices.tolist() for name, indices in self.split_indices.items()},
        }


def seeded_split(n: int, sizes: dict[str, int], seed: int) -> dict[str, Tensor]:
    """Disjoint random index sets of the given sizes, from a permutation of range(n) seeded with `seed`."""
    if sum(sizes.values()) > n:
        raise ValueError(f"the split sizes {sizes} add up to more than the {n} datapoints available")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    splits, start = {}, 0
    for name, size in sizes.items():
        splits[name] = order[start : start + size].sort().values
        start += size
    return splits
