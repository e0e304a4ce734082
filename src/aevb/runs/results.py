"""What the figures and the results report read of a run, whether from its directory or from its exported record."""

from hydra.utils import get_class
from omegaconf import DictConfig

from aevb.runs.curves import interpolate


class RunResults:
    """What the figures and the results report read of a run, from a run directory (`Run`) or from its exported
    record (`RunRecord`): the config, the final metrics, aevb-eval's estimate and the curves."""

    name: str
    config: DictConfig
    train_size: int | None  # N_train, the number of training images
    metrics: dict | None  # metrics.json; None while the run is unfinished
    evaluation: dict | None  # aevb-eval's full test-split estimate with the largest k, if any
    step_size_selection: dict | None  # each candidate step size's probe score and the winner (aevb.step_size), if any

    def curves(self) -> dict[str, list[tuple[int, float]]]:
        """{tag: [(training samples seen, value), ...]} of every scalar logged."""
        raise NotImplementedError

    @property
    def dataset(self) -> str:
        """The dataset's short name, e.g. `mnist`: the `name` of the run's datamodule class."""
        return get_class(self.config.data._target_).name

    @property
    def algorithm(self) -> str:
        """The training algorithm's name, e.g. `AEVB` or `wake-sleep`: the `algorithm` of the run's model class."""
        return get_class(self.config.model._target_).algorithm

    @property
    def latent_dim(self) -> int:
        return int(self.config.model.latent_dim)

    @property
    def seed(self) -> int:
        return int(self.config.seed)

    @property
    def tags(self) -> list[str]:
        """The labels the run was given (`tags=[...]`); none for a run that predates them."""
        return list(self.config.get("tags") or [])

    @property
    def evaluates_whole_splits(self) -> bool:
        """Trained on the whole training split and evaluated on whole splits (as Figure 2 is; Figure 3 is not)."""
        data = self.config.data
        return data.get("train_limit") is None and data.get("eval_limit") is None

    @property
    def finished(self) -> bool:
        return self.metrics is not None

    def curve(self, tag: str) -> list[tuple[int, float]]:
        """(training samples seen, value) of a logged scalar, e.g. lower_bound/test; [] if never logged."""
        return self.curves().get(tag, [])

    def value_at(self, tag: str, samples: int) -> float | None:
        """The value logged at exactly `samples` training samples, if there was an evaluation there."""
        return dict(self.curve(tag)).get(samples)

    def value_near(self, tag: str, samples: float, log_x: bool = True) -> float | None:
        """The curve read at `samples`, interpolated between the evaluations on either side (in log samples for a
        log-spaced schedule); None outside the curve."""
        return interpolate(self.curve(tag), samples, log_x)
