"""The estimators' precision: float64, or float32 on a device without float64 (MPS), named here by its device string."""

import warnings

import pytest
import torch

from aevb.estimators import precision
from aevb.estimators.appendix_d import reciprocal_importance_log_likelihood
from aevb.estimators.density_estimation import fit_density
from aevb.estimators.precision import float64_or_float32


@pytest.mark.parametrize("device", ["cpu", "cuda", "cuda:1", torch.device("cpu")])
def test_a_device_with_float64_gets_it_without_a_warning(device):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert float64_or_float32(device) is torch.float64


@pytest.mark.parametrize("device", ["mps", "mps:0", torch.device("mps")])
def test_mps_falls_back_to_float32_and_says_so(device):
    with pytest.warns(UserWarning, match="mps has no float64: .* float32"):
        assert float64_or_float32(device) is torch.float32


@pytest.mark.parametrize("samples_per_datapoint", [40, 6])  # a kernel density estimate; a diagonal Gaussian
def test_the_appendix_d_estimator_computes_in_the_precision_the_device_has(samples_per_datapoint, monkeypatch):
    samples, z = torch.randn(samples_per_datapoint, 3, 2), torch.randn(5, 3, 2)
    log_q, log_joint = torch.randn(8, 3), torch.randn(8, 3)
    assert fit_density(samples).log_prob(z).dtype == reciprocal_importance_log_likelihood(log_q, log_joint).dtype == torch.float64
    monkeypatch.setattr(precision, "WITHOUT_FLOAT64", ("cpu",))  # the CPU as MPS is: no float64
    with pytest.warns(UserWarning, match="cpu has no float64"):
        density = fit_density(samples)
        assert density.log_prob(z).dtype == reciprocal_importance_log_likelihood(log_q, log_joint).dtype == torch.float32
