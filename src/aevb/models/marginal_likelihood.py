"""Importance-sampled estimate of the marginal likelihood log p(x), with q(z|x) as the proposal.

log p(x) ~ log 1/k sum_k p(x|z_k) p(z_k) / q(z_k|x),  z_k ~ q(z|x)   (Burda et al. 2016, eq. 8)

It is a stochastic lower bound on log p(x) that rises to it as k grows; k = 1 is the ELBO's
estimator A. The k samples of a datapoint are drawn in chunks whose decoder outputs hold at
most `max_rows` (sample, datapoint) rows at once, so memory stays bounded for any k, and
chunks are merged with a running log-sum-exp in fp32.
"""

import math

import torch
from torch import Tensor

from aevb.models.distributions import diagonal_normal_log_density, standard_normal_log_density
from aevb.models.elbo import reparameterise


@torch.no_grad()
def importance_sampled_log_likelihood(model, x: Tensor, num_samples: int, max_rows: int = 8192) -> Tensor:
    """Per-datapoint estimates of log p(x) for x of shape (batch, C, H, W): shape (batch,).

    model: anything with `encoder(x) -> (mean, log_var)`, `decoder(z)` and `likelihood.log_prob(params, x)`.
    """
    if num_samples < 1 or max_rows < 1:
        raise ValueError(f"num_samples={num_samples} and max_rows={max_rows} must be at least 1")
    mean, log_var = (t.float() for t in model.encoder(x))
    chunk = max(1, max_rows // x.shape[0])
    total = torch.full((x.shape[0],), -math.inf, device=x.device)
    for start in range(0, num_samples, chunk):
        size = min(chunk, num_samples - start)
        z = reparameterise(mean, log_var, size)  # (size, batch, latent)
        params = model.decoder(z.flatten(0, 1)).unflatten(0, (size, x.shape[0]))
        # log w = log p(x|z) + log p(z) - log q(z|x)
        log_weights = (
            model.likelihood.log_prob(params, x) + standard_normal_log_density(z) - diagonal_normal_log_density(z, mean, log_var)
        )
        total = torch.logaddexp(total, torch.logsumexp(log_weights.float(), dim=0))
    return total - math.log(num_samples)
