"""The VampPrior: the mixture of the model's own posteriors at learned pseudo-inputs, against torch.distributions, and
a model that builds it from its encoder: one encoder, initialised and decayed as a network, once."""

import functools

import pytest
import torch
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

from aevb.components.mixture_prior import MixturePrior
from aevb.components.networks import MLPEncoder
from aevb.components.vamp_prior import VampPrior
from aevb.errors import ConfigError
from aevb.estimators.appendix_d import AppendixD
from aevb.models.mcem import MonteCarloEM
from aevb.models.vae import VAE
from tiny_models import tiny


def vamp(components=4, latent=2, seed=0):
    torch.manual_seed(seed)
    prior = VampPrior(latent, MLPEncoder((1, 2, 2), latent, hidden_dim=8), (1, 2, 2), components=components)
    with torch.no_grad():  # pseudo-inputs apart from each other, as training leaves them
        prior.pseudo_inputs.uniform_(-2, 2)
    return prior


def reference(prior: VampPrior) -> MixtureSameFamily:
    mean, log_var = (t.detach() for t in prior.encoder(prior.pseudo_inputs))
    components = Independent(Normal(mean, torch.exp(0.5 * log_var)), 1)
    return MixtureSameFamily(Categorical(logits=torch.zeros(prior.components)), components)


def test_it_scores_as_the_equal_weight_mixture_of_the_encoders_posteriors_at_the_pseudo_inputs():
    prior = vamp()
    z = torch.randn(6, 5, 2) * 2
    torch.testing.assert_close(prior.log_prob(z), reference(prior).log_prob(z))


def test_its_samples_and_mean_are_the_mixtures():
    prior = vamp()
    draws = prior.sample((200_000,), generator=torch.Generator().manual_seed(0))
    assert draws.shape == (200_000, 2)
    torch.testing.assert_close(draws.mean(0), reference(prior).mean, atol=0.02, rtol=0)
    torch.testing.assert_close(draws.var(0), reference(prior).variance, atol=0.03, rtol=0.02)
    torch.testing.assert_close(prior.mean(), reference(prior).mean)
    again = prior.sample((3, 4), generator=torch.Generator().manual_seed(1))
    assert again.shape == (3, 4, 2)
    assert torch.equal(again, prior.sample((3, 4), generator=torch.Generator().manual_seed(1)))


def test_the_pseudo_inputs_start_near_the_middle_of_the_datas_range_and_inside_it():
    torch.manual_seed(0)
    prior = VampPrior(3, MLPEncoder((1, 4, 4), 3, hidden_dim=8), (1, 4, 4), value_range=(0.0, 1.0), components=50)
    assert prior.pseudo_inputs.shape == (50, 1, 4, 4)
    assert prior.pseudo_inputs.min() >= 0 and prior.pseudo_inputs.max() <= 1
    assert prior.pseudo_inputs.mean().item() == pytest.approx(0.5, abs=0.002)
    assert prior.pseudo_inputs.std().item() == pytest.approx(0.01, rel=0.1)


def vamp_vae(**options):
    return tiny(VAE, estimator="A", prior=functools.partial(VampPrior, components=5), **options)


def test_the_model_gives_it_its_own_encoder_and_trains_the_pseudo_inputs_through_it():
    model = vamp_vae()
    assert model.prior.encoder is model.encoder
    loss, _ = model.training_loss(torch.bernoulli(torch.full((6, 1, 4, 4), 0.5)))
    loss.backward()
    assert model.prior.pseudo_inputs.grad.abs().sum() > 0 and model.encoder.net[0].weight.grad.abs().sum() > 0


def test_a_shared_encoder_is_a_network_once_initialised_and_decayed_and_the_pseudo_inputs_are_the_priors_own():
    torch.manual_seed(0)
    model = vamp_vae(init_std=0.01, weight_prior=True)
    encoder = list(model.encoder.parameters())
    assert len(model.prior_parameters()) == 1 and model.prior_parameters()[0] is model.prior.pseudo_inputs
    network = model.network_parameters()
    assert all(sum(p is q for q in network) == 1 for p in encoder)
    assert not any(p is model.prior.pseudo_inputs for p in network)
    for parameter in encoder:  # drawn from N(0, init_std^2), biases too
        assert parameter.std().item() == pytest.approx(0.01, rel=0.5) and parameter.abs().max() < 0.06
    assert (model.prior.pseudo_inputs - 0.5).abs().max() < 0.06  # where the prior put them, not redrawn
    decayed, undecayed = model.parameter_groups(num_train=100)
    assert decayed["weight_decay"] == 0.01 and undecayed["weight_decay"] == 0.0
    assert all(sum(p is q for q in decayed["params"]) == 1 for p in encoder if p.ndim > 1)
    assert any(p is model.prior.pseudo_inputs for p in undecayed["params"])
    grouped = decayed["params"] + undecayed["params"]
    assert len(grouped) == len({id(p) for p in grouped}) == len(list(model.parameters()))  # each parameter once
    optimizer = torch.optim.SGD(model.parameter_groups(num_train=100), lr=0.1)  # refuses a parameter in two groups
    assert sum(len(group["params"]) for group in optimizer.param_groups) == len(grouped)


def test_standard_and_mixture_priors_keep_their_parameter_names_and_order():
    """Existing runs' checkpoints are loaded by these names and their optimiser states by this order."""
    networks = [f"{net}.net.{layer}.{kind}" for net in ("decoder", "encoder") for layer in (0, 2) for kind in ("weight", "bias")]
    assert [name for name, _ in tiny(VAE).named_parameters()] == networks
    mixture = tiny(VAE, estimator="A", prior=functools.partial(MixturePrior, components=3))
    assert [name for name, _ in mixture.named_parameters()] == ["prior.means", "prior.log_vars", "prior.logits", *networks]
    assert set(mixture.state_dict()) == {"prior.means", "prior.log_vars", "prior.logits", *networks}


def test_estimator_b_is_refused_naming_the_fix():
    with pytest.raises(ConfigError, match=r"model.estimator=B needs KL.*VampPrior\(components=5.*use model.estimator=A"):
        tiny(VAE, prior=functools.partial(VampPrior, components=5))


def test_a_model_without_an_encoder_is_refused_naming_the_cause_and_the_fix():
    with pytest.raises(
        ConfigError, match=r"VampPrior is made of the recognition model q\(z\|x\), and MCEM has none.*standard_normal"
    ):
        tiny(MonteCarloEM, with_encoder=False, prior=functools.partial(VampPrior, components=5), log_px=AppendixD())
