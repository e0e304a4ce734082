"""Annealed importance sampling on the linear Gaussian of test_importance_sampling, whose log p(x) is known exactly:
p(z) = N(0, I), p(x|z) = N(W z + b, s^2 I), so p(x) = N(b, W W^T + s^2 I)."""

import math

import pytest
import torch
from test_importance_sampling import X, exact_log_evidence, exact_posterior, linear_gaussian

from aevb.errors import ConfigError
from aevb.estimators.annealed_importance import AnnealedImportanceSampling, annealing_schedule
from aevb.estimators.appendix_d import AppendixD
from aevb.estimators.importance_sampling import ImportanceSampling
from aevb.estimators.log_px import check_model

MODEL = linear_gaussian(encoder=None)  # p(x, z) alone: AIS needs no recognition model


def test_with_one_temperature_it_is_importance_sampling_from_the_prior():
    # beta goes from 0 to 1 in one step: each chain's weight is p(x|z_0), z_0 ~ p(z)
    torch.manual_seed(0)
    estimate = AnnealedImportanceSampling(chains=40, temperatures=1)(MODEL, X)["log_px_ais"]
    torch.manual_seed(0)
    z = MODEL.prior.sample((40, len(X)))
    expected = torch.logsumexp(MODEL.log_joint(X, z) - MODEL.prior.log_prob(z), dim=0) - math.log(40)
    torch.testing.assert_close(estimate, expected, atol=1e-5, rtol=0)


def test_annealing_brings_a_few_chains_close_to_the_exact_log_evidence():
    # 64 prior draws alone miss by up to 0.4 nats here (test above, at temperatures=1); a weight that skipped the
    # steps of beta, or took them at the state after the move, misses by nats
    torch.manual_seed(0)
    terms = AnnealedImportanceSampling(chains=64, temperatures=30, leapfrog_steps=2)(MODEL, X)
    torch.testing.assert_close(terms["log_px_ais"], exact_log_evidence(X), atol=0.25, rtol=0)
    assert torch.all((terms["ais_acceptance"] > 0.4) & (terms["ais_acceptance"] < 1))


@pytest.mark.slow  # 2 s on one free core, much longer on a busy CPU
def test_many_temperatures_and_chains_recover_the_exact_log_evidence_without_bias():
    # Averaged over 3 repeats of each datapoint, its error stays within 0.035 nats over 10 seeds. A step size tuned on
    # each chain's own acceptance (which ties it to the chain's state, so the move no longer leaves f_t invariant)
    # lands 0.07 to 0.13 nats high.
    torch.manual_seed(0)
    x = X.repeat(3, 1, 1, 1)
    estimator = AnnealedImportanceSampling(chains=256, temperatures=200, leapfrog_steps=5, schedule="linear")
    estimate = estimator(MODEL, x)["log_px_ais"].view(3, len(X)).mean(0)
    torch.testing.assert_close(estimate, exact_log_evidence(X), atol=0.05, rtol=0)


def test_the_chains_are_annealed_in_groups_that_bound_the_memory(monkeypatch):
    # 3 datapoints and at most 7 (chain, datapoint) pairs at once: groups of 2 chains, the last of 1
    estimator = AnnealedImportanceSampling(chains=7, temperatures=2, leapfrog_steps=1, max_rows=7)
    anneal, sizes = estimator.anneal, []
    monkeypatch.setattr(estimator, "anneal", lambda model, x, chains: sizes.append(chains) or anneal(model, x, chains))
    assert torch.isfinite(estimator(MODEL, X)["log_px_ais"]).all() and sizes == [2, 2, 2, 1]


def test_the_schedules_run_from_the_prior_to_the_posterior():
    for schedule in ("sigmoid", "linear"):
        betas = annealing_schedule(10, schedule)
        assert len(betas) == 11 and betas[0] == 0 and abs(betas[-1] - 1) < 1e-12
        assert all(a < b for a, b in zip(betas[:-1], betas[1:], strict=True))
    sigmoid = annealing_schedule(10, "sigmoid")
    assert sigmoid[1] < 0.1 < sigmoid[6] - sigmoid[5]  # small steps at the ends, large ones in the middle


def test_it_runs_inside_inference_mode_as_evaluation_does():
    torch.manual_seed(0)
    with torch.inference_mode():
        terms = AnnealedImportanceSampling(chains=4, temperatures=3)(MODEL, X)
    assert terms["log_px_ais"].shape == terms["ais_acceptance"].shape == (len(X),)
    assert torch.isfinite(terms["log_px_ais"]).all()


def test_an_estimator_that_needs_q_refuses_a_model_without_one_naming_the_fix():
    check_model(AnnealedImportanceSampling(), MODEL)
    check_model(AppendixD(), MODEL)
    with pytest.raises(ConfigError, match="estimator=ais"):
        check_model(ImportanceSampling(), MODEL)
    check_model(ImportanceSampling(), linear_gaussian(exact_posterior))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [({"chains": 0}, "chains=0"), ({"temperatures": 0}, "temperatures=0"), ({"schedule": "cosine"}, "schedule='cosine'"),
     ({"target_acceptance": 1.0}, "target_acceptance")],
)  # fmt: skip
def test_bad_settings_are_refused_naming_the_key(arguments, message):
    with pytest.raises(ValueError, match=message):
        AnnealedImportanceSampling(**arguments)


def test_each_estimator_names_its_output_and_describes_its_settings():
    assert AnnealedImportanceSampling(chains=16, temperatures=500).describe() == "ais_c16_t500"
    assert ImportanceSampling(importance_samples=5000).describe() == "is_k5000"
    assert AppendixD(posterior_samples=50, leapfrog_steps=4).describe() == "hmc_l50_s4"
    assert [e.name for e in (ImportanceSampling(), AppendixD(), AnnealedImportanceSampling())] == [
        "log_px_is", "log_px_hmc", "log_px_ais"]  # fmt: skip
