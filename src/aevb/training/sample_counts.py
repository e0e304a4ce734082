"""The arithmetic of the paper's x-axis, in one place: training samples, minibatches and weight updates.

Each weight update evaluates its minibatch of M samples (M = data.batch_size, over every rank), so it counts M
training samples; a minibatch takes `updates_per_minibatch` updates (MCEM: 5, the others: 1). Lightning's step
counter (global_step, max_steps) counts weight updates.
"""

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class SampleCounts:
    batch_size: int  # M, the global minibatch
    updates_per_minibatch: int = 1

    @property
    def samples_per_minibatch(self) -> int:
        return self.batch_size * self.updates_per_minibatch

    def samples(self, minibatches: int) -> int:
        """The training samples that `minibatches` minibatches count."""
        return minibatches * self.samples_per_minibatch

    def minibatches_done(self, updates: int) -> int:
        """The whole minibatches behind `updates` weight updates (Lightning's global_step)."""
        return updates // self.updates_per_minibatch

    def minibatches_spanning(self, updates: int) -> int:
        """The minibatches, the last perhaps cut short, that `updates` weight updates (a max_steps) reach into."""
        return math.ceil(updates / self.updates_per_minibatch)

    def minibatches_to_reach(self, samples: float) -> int:
        """The fewest minibatches that count at least `samples` training samples."""
        return math.ceil(samples / self.samples_per_minibatch)

    def updates_for(self, samples: float) -> int:
        """Weight updates (max_steps) of M samples each for a run of `samples` training samples (trainer.max_samples)."""
        return math.ceil(samples / self.batch_size)
