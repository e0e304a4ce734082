"""What an estimator of log p(x) is: an object called as `estimator(model, x)` that returns per-datapoint tensors.

Every estimator of the marginal likelihood log p(x) here (importance sampling, the paper's Appendix D, annealed
importance sampling) takes the same two arguments, and both plug points (the evaluations during training, `model.log_px`,
and aevb-eval's `estimator`) call it the same way. Its output holds its estimate under its own `name` ("log_px_is",
"log_px_hmc", "log_px_ais"), beside any diagnostics it reports (e.g. `hmc_acceptance`), each of shape (batch,).
Not to be confused with `log_likelihood`, the bound's term E_q[log p(x|z)].

The model needs `log_joint(x, z)` (log p(x, z) per datapoint) and `prior`; an estimator that also needs the recognition
model q(z|x) says so with `needs_encoder`, and `check_model` refuses a model without one.
"""

from typing import Protocol

from torch import Tensor

from aevb.errors import ConfigError


class LogPxEstimator(Protocol):
    name: str  # the key of its estimate of log p(x) in what it returns, e.g. "log_px_ais"
    needs_encoder: bool  # whether it draws from the model's q(z|x)

    def __call__(self, model, x: Tensor) -> dict[str, Tensor]:
        """Per datapoint of x, shape (batch,): the estimate of log p(x) under `name`, and any diagnostics."""
        ...

    def describe(self) -> str:
        """Its settings in a few characters, for file names and tables, e.g. "ais_c16_t500"."""
        ...


def check_model(estimator: LogPxEstimator, model) -> None:
    """Refuse a model that the estimator cannot score: one without q(z|x) for an estimator that samples from it."""
    if estimator.needs_encoder and getattr(model, "encoder", None) is None:
        raise ConfigError(
            f"the {estimator.name} estimator draws z from the recognition model q(z|x), and this model "
            f"({type(model).__name__}) has none: use an estimator that needs only p(x, z), estimator=ais or estimator=hmc"
        )
