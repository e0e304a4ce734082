"""The importance-sampled estimate of log p(x), with q(z|x) as the proposal (models with a recognition model):
  log p(x) ~ log 1/k sum_k p(x|z_k) p(z_k) / q(z_k|x),  z_k ~ q(z|x)   (Burda et al. 2016, eq. 8)
It is a stochastic lower bound on log p(x) that rises to it as k grows; k = 1 is the ELBO's
estimator A. The k samples of a datapoint are drawn in chunks whose decoder outputs hold at
most `max_rows` (sample, datapoint) rows at once, so memory stays bounded for any k, and
chunks are merged with a running log-sum-exp in fp32.
"""

import math

import torch
from torch import Tensor

from aevb.estimators.importance_weights import log_importance_weights


@torch.no_grad()
def importance_sampled_log_likelihood(model, x: Tensor, num_samples: int, max_rows: int = 8192) -> Tensor:
    """Per-datapoint estimates of log p(x) for x of shape (batch, C, H, W): shape (batch,).

    model: anything with `posterior(x)`, q(z|x) (aevb.components.posteriors), `decoder(z)`,
        `likelihood.log_prob(params, x)` and `prior.log_prob(z)`.
    """
    if num_samples < 1 or max_rows < 1:
        raise ValueError(f"num_samples={num_samples} and max_rows={max_rows} must be at least 1")
    posterior = model.posterior(x)
    chunk = max(1, max_rows // x.shape[0])
    total = torch.full((x.shape[0],), -math.inf, device=x.device)
    for start in range(0, num_samples, chunk):
        size = min(chunk, num_samples - start)
        log_weights = log_importance_weights(x, posterior, model.decoder, model.likelihood, model.prior, size)
        total = torch.logaddexp(total, torch.logsumexp(log_weights.float(), dim=0))
    return total - math.log(num_samples)


class ImportanceSampling:
    """log p(x) by importance sampling with `importance_samples` (k) draws from q(z|x) per datapoint, at most
    `max_rows` (sample, datapoint) pairs decoded at once. Needs the model's recognition model."""

    name = "log_px_is"
    needs_encoder = True

    def __init__(self, importance_samples: int = 5000, max_rows: int = 8192):
        if importance_samples < 1 or max_rows < 1:
            raise ValueError(f"estimator.importance_samples={importance_samples} and estimator.max_rows={max_rows} "
                             "must be at least 1")  # fmt: skip
        self.importance_samples, self.max_rows = importance_samples, max_rows

    def __call__(self, model, x: Tensor) -> dict[str, Tensor]:
        return {self.name: importance_sampled_log_likelihood(model, x, self.importance_samples, self.max_rows)}

    def describe(self) -> str:
        return f"is_k{self.importance_samples}"
