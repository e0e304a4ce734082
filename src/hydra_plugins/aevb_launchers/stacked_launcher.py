"""hydra/launcher=stacked (conf/hydra/launcher/stacked.yaml): see aevb.stacking.sweep."""

from collections.abc import Sequence

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher


class StackedLauncher(Launcher):
    def __init__(self, batched: bool | str = "auto"):
        self.batched = batched  # see aevb.stacking.gradients.StackedGradients

    def setup(self, *, hydra_context, task_function, config) -> None:
        self.hydra_context, self.task_function, self.config = hydra_context, task_function, config

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from aevb.stacking import sweep  # here: Hydra imports every launcher at start, before it parses the command line

        return sweep.launch(self, job_overrides, initial_job_idx)
