"""Per-datapoint terms averaged over whole evaluation splits, across every rank: the points of the curves."""

import torch
from torch import Tensor


class SplitAverages:
    """Sums of each term and a datapoint count per split, added batch by batch; `averages` reduces them across
    ranks (each scored its own part of the split) and divides."""

    def __init__(self):
        self.sums: dict[str, Tensor] = {}
        self.terms: list[str] = []

    def add(self, split: str, terms: dict[str, Tensor]) -> None:
        """terms: {name: per-datapoint values of shape (batch,)}, the same names for every batch."""
        self.terms = list(terms)
        values = list(terms.values())
        sums = torch.stack([value.sum() for value in values] + [values[0].new_tensor(len(values[0]))])
        self.sums[split] = self.sums.get(split, 0) + sums

    def averages(self, reduce=lambda sums: sums) -> tuple[dict[str, float], dict[str, int]]:
        """({"<term>/<split>": average}, {split: datapoints}); reduce sums a tensor over the ranks."""
        results, datapoints = {}, {}
        for split, sums in self.sums.items():
            sums = reduce(sums)
            datapoints[split] = int(sums[-1])
            for term, total in zip(self.terms, sums[:-1], strict=True):
                results[f"{term}/{split}"] = (total / sums[-1]).item()
        return results, datapoints
