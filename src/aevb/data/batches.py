"""Minibatches sliced from one in-memory tensor: a seeded permutation, no per-sample work."""

import torch
from torch import Tensor


class TensorBatches:
    """An iterable of minibatches of `data` (shape (N, C, H, W), values in [0, 1]).

    shuffle: draw a fresh permutation each epoch from a generator seeded with `seed`.
    binarize: replace each batch by a Bernoulli sample of its pixel intensities (dynamic
        binarisation), drawn from the same generator.
    with_indices: yield (batch, indices into data) instead of the batch alone.
    rank, world_size: under data parallelism each rank takes a disjoint, equal-sized shard.
    The iteration state (permutation, position, generator) is saved with `state_dict`, which
    Lightning stores in checkpoints, so a resumed run continues the same sequence.
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
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.data, self.batch_size = data, batch_size
        self.shuffle, self.drop_last, self.binarize, self.with_indices = shuffle, drop_last, binarize, with_indices
        self.rank, self.world_size = rank, world_size
        self.shard_size = len(data) // world_size if world_size > 1 else len(data)
        self.generator = torch.Generator().manual_seed(seed)
        self._order: Tensor | None = None
        self._position = 0
        self._resuming = False

    def __len__(self) -> int:
        full, rest = divmod(self.shard_size, self.batch_size)
        return full if self.drop_last or rest == 0 else full + 1

    def _new_order(self) -> Tensor:
        n = len(self.data)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        return order[self.rank :: self.world_size][: self.shard_size]

    def __iter__(self):
        if not self._resuming:
            self._order, self._position = self._new_order(), 0
        self._resuming = False
        while self._position < len(self):
            start = self._position * self.batch_size
            indices = self._order[start : start + self.batch_size]
            batch = self.data[indices]
            self._position += 1
            if self.binarize:
                batch = torch.bernoulli(batch, generator=self.generator)
            yield (batch, indices) if self.with_indices else batch

    def state_dict(self) -> dict:
        return {"order": self._order, "position": self._position, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self._order, self._position = state["order"], state["position"]
        self.generator.set_state(state["generator"])
        # A finished epoch resumes as the start of the next one, drawn from the saved generator.
        self._resuming = self._order is not None and self._position < len(self)
