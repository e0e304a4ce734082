"""The run records committed in docs/runs/, read once per test session and picked by what they are (dataset, N_z,
algorithm, the probe's pick), not by the sweep folder they were exported from: a rerun replaces a record from another."""

import functools

from aevb.config.hydra_glue import PROJECT_ROOT
from aevb.runs.records import find_records

RECORDS = PROJECT_ROOT / "docs" / "runs"


@functools.cache
def committed_records() -> tuple:
    return tuple(find_records(RECORDS))  # each record's JSON is parsed on first use and kept


def figure_2_records(dataset: str, **wanted) -> list:
    """The Figure 2 records of `dataset` whose attributes have the `wanted` values (latent_dim=10, algorithm="AEVB")."""
    runs = [run for run in committed_records() if run.dataset == dataset and run.evaluates_whole_splits]
    return [run for run in runs if all(getattr(run, key) == value for key, value in wanted.items())]


def picks(runs: list) -> list:
    """The runs at the step size their probe picked: the paper's protocol, one run per seed."""
    return [run for run in runs if run.step_size_selection]
