"""Importance weights w = p(x, z) / q(z|x) with z ~ q(z|x): the IWAE objective (training) and the importance-sampled
estimate of log p(x) (evaluation, aevb.estimators.importance_sampling) are both made of them."""

import math
from collections.abc import Callable

import torch
from torch import Tensor

from aevb.components.likelihoods import Likelihood
from aevb.components.posteriors import DiagonalNormalPosterior
from aevb.components.priors import Prior
from aevb.estimators.sgvb import decoded_samples


def log_importance_weights(
    x: Tensor,
    posterior: DiagonalNormalPosterior,
    decode: Callable[[Tensor], Tensor],
    likelihood: Likelihood,
    prior: Prior,
    num_samples: int,
    eps: Tensor | None = None,
) -> Tensor:
    """log w for `num_samples` reparameterised draws from the posterior q(z|x): shape (k, batch).
    eps: the draws of N(0, I) behind them, shape (k, batch, latent), when the caller holds them (see sgvb)."""
    z, params = decoded_samples(posterior, decode, num_samples, eps)  # z: (k, batch, latent)
    # log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x)
    return likelihood.log_prob(params, x) + prior.log_prob(z) - posterior.log_prob(z)


def importance_weighted_bound(log_weights: Tensor) -> Tensor:
    """The k-sample bound per datapoint from log weights of shape (k, batch), in fp32."""
    # L_k = log 1/k sum_k w_k <= log p(x); L_1 is the ELBO, L_k rises with k   (Burda et al. 2016, eq. 8 and Theorem 1)
    return torch.logsumexp(log_weights.float(), dim=0) - math.log(log_weights.shape[0])
