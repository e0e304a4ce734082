"""The views of a trained model (aevb.models.views) and the latent paths they decode (aevb.components.latent_paths)."""

import lightning.pytorch as L
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from aevb.components.latent_paths import gaussian_quantile_grid, linear, slerp, traversal
from aevb.components.mixture_prior import MixturePrior
from aevb.errors import ConfigError
from aevb.models.iwae import IWAE
from aevb.models.mcem import MonteCarloEM
from aevb.models.vae import VAE
from aevb.models.wake_sleep import WakeSleep
from tiny_models import tiny

IMAGES = torch.bernoulli(torch.full((6, 1, 4, 4), 0.5), generator=torch.Generator().manual_seed(0))


@pytest.fixture
def vae() -> VAE:
    torch.manual_seed(0)
    return tiny(VAE, latent_dim=3).eval()


def mcem() -> MonteCarloEM:
    return tiny(MonteCarloEM, with_encoder=False, log_px=lambda *args: {}).eval()


def test_linear_path_runs_from_z1_to_z2_through_the_midpoint():
    z1, z2 = torch.tensor([1.0, -2.0, 0.5]), torch.tensor([3.0, 0.0, -0.5])
    path = linear(z1, z2, steps=5)
    assert path.shape == (5, 3)
    torch.testing.assert_close(path[0], z1)
    torch.testing.assert_close(path[2], (z1 + z2) / 2)
    torch.testing.assert_close(path[-1], z2)


def test_slerp_runs_along_the_arc_between_its_ends():
    z1, z2 = torch.tensor([[2.0, 0.0], [1.0, 1.0]]), torch.tensor([[0.0, 2.0], [-1.0, 1.0]])  # two pairs, 90 degrees apart
    path = slerp(z1, z2, steps=3)
    assert path.shape == (3, 2, 2)
    torch.testing.assert_close(path[0], z1)
    torch.testing.assert_close(path[-1], z2)
    torch.testing.assert_close(path[1, 0], torch.tensor([2**0.5, 2**0.5]))  # halfway round the circle of radius 2
    torch.testing.assert_close(path.norm(dim=-1), torch.tensor([2.0, 2**0.5]).expand(3, 2))  # on each pair's circle


def test_slerp_of_parallel_latents_is_the_straight_line():
    z1 = torch.tensor([1.0, 2.0])
    torch.testing.assert_close(slerp(z1, 3 * z1, steps=4), linear(z1, 3 * z1, steps=4))
    assert torch.isfinite(slerp(z1, -z1, steps=5)).all()


def test_traversal_changes_only_the_chosen_coordinate():
    z = torch.tensor([0.3, -1.2, 0.7])
    points = traversal(z, dim=1, values=torch.tensor([-2.0, 0.0, 2.0]))
    assert points.shape == (3, 3)
    torch.testing.assert_close(points[:, 1], torch.tensor([-2.0, 0.0, 2.0]))
    torch.testing.assert_close(points[:, [0, 2]], z[[0, 2]].expand(3, 2))
    with pytest.raises(ValueError, match="dim=3 is not a latent dimension"):
        traversal(z, dim=3, values=torch.zeros(2))


def test_the_manifold_grid_is_the_inverse_gaussian_cdf_of_an_even_grid():
    z = gaussian_quantile_grid(4)
    values = torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor([0.125, 0.375, 0.625, 0.875]))
    assert z.shape == (16, 2)
    torch.testing.assert_close(z[:4, 0], values)  # the top row: z_1 left to right at the top value of z_2
    torch.testing.assert_close(z[::4, 1], values.flip(0))
    torch.testing.assert_close(z[0], torch.stack([values[0], values[-1]]))  # top left corner
    torch.testing.assert_close(z[-1], torch.stack([values[-1], values[0]]))  # bottom right corner


def test_manifold_decodes_the_grid_and_needs_two_latent_dimensions(vae):
    model = tiny(VAE).eval()
    images = model.manifold(5)
    assert images.shape == (25, 1, 4, 4)
    torch.testing.assert_close(images, model.decode_mean(gaussian_quantile_grid(5)))
    with pytest.raises(ConfigError, match="model.latent_dim=2"):
        vae.manifold(5)
    mixture = tiny(VAE, prior=lambda latent_dim: MixturePrior(latent_dim, components=3), estimator="A")
    with pytest.raises(ConfigError, match="N\\(0, I\\) quantiles"):
        mixture.manifold(5)


def test_temperature_zero_decodes_the_prior_mean_for_every_sample(vae):
    samples = vae.sample(7, temperature=0.0)
    assert samples.shape == (7, 1, 4, 4)
    torch.testing.assert_close(samples, vae.decode_mean(torch.zeros(1, 3)).expand(7, 1, 4, 4))
    torch.manual_seed(0)
    mixture = tiny(VAE, prior=lambda latent_dim: MixturePrior(latent_dim, components=3), estimator="A").eval()
    prior_mean = (torch.softmax(mixture.prior.logits, 0) @ mixture.prior.means).detach()  # sum_k pi_k m_k
    torch.testing.assert_close(mixture.sample(4, temperature=0.0), mixture.decode_mean(prior_mean[None]).expand(4, 1, 4, 4))


def test_temperature_scales_the_draws_around_the_prior_mean(vae):
    draws = vae.prior.sample((5,), generator=torch.Generator().manual_seed(3))
    samples = vae.sample(5, temperature=0.5, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(samples, vae.decode_mean(0.5 * draws))
    with pytest.raises(ValueError, match="temperature=-1"):
        vae.sample(5, temperature=-1)


def test_encode_decode_and_reconstruct_are_the_posterior_mean_and_the_decoder_mean(vae):
    mean = vae.encoder(IMAGES)[0]
    torch.testing.assert_close(vae.encode(IMAGES), mean)
    torch.testing.assert_close(vae.encode(IMAGES[2]), mean[2])  # one image: no batch axis
    torch.testing.assert_close(vae.decode(mean), vae.likelihood.mean(vae.decoder(mean)))
    torch.testing.assert_close(vae.reconstruct(IMAGES), vae.decode_mean(mean))
    assert not vae.reconstruct(IMAGES).requires_grad
    with pytest.raises(ValueError, match=r"the model takes \(1, 4, 4\)"):
        vae.encode(torch.zeros(2, 1, 5, 5))


@pytest.mark.parametrize("method", ["linear", "slerp"])
def test_interpolation_ends_at_the_two_reconstructions(vae, method):
    path = vae.interpolate(IMAGES[0], IMAGES[1], steps=6, method=method)
    assert path.shape == (6, 1, 4, 4)
    torch.testing.assert_close(path[0], vae.reconstruct(IMAGES[0]))
    torch.testing.assert_close(path[-1], vae.reconstruct(IMAGES[1]))
    batch = vae.interpolate(IMAGES[0::2], IMAGES[1::2], steps=6, method=method)  # three paths at once
    assert batch.shape == (6, 3, 1, 4, 4)
    torch.testing.assert_close(batch[:, 0], path)


def test_linear_interpolation_passes_through_the_decoded_midpoint(vae):
    path = vae.interpolate(IMAGES[0], IMAGES[1], steps=3)
    torch.testing.assert_close(path[1], vae.decode((vae.encode(IMAGES[0]) + vae.encode(IMAGES[1])) / 2))
    with pytest.raises(ValueError, match="method='cubic' is not a latent path"):
        vae.interpolate(IMAGES[0], IMAGES[1], method="cubic")


def test_traverse_decodes_the_encoding_with_one_coordinate_set(vae):
    images = vae.traverse(IMAGES[4], dim=2, values=[-1.0, 0.0, 1.0, 2.0])
    assert images.shape == (4, 1, 4, 4)
    z = vae.encode(IMAGES[4]).expand(4, 3).clone()
    z[:, 2] = torch.tensor([-1.0, 0.0, 1.0, 2.0])
    torch.testing.assert_close(images, vae.decode_mean(z))


@pytest.mark.parametrize("model_class", [VAE, IWAE, WakeSleep])
def test_trainer_predict_gives_the_latent_means_of_every_batch(model_class):
    model = tiny(model_class)
    labels = torch.arange(len(IMAGES))
    batches = DataLoader(TensorDataset(IMAGES, labels), batch_size=4)  # (image, label) batches, as torchvision's
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    predicted = trainer.predict(model, batches)
    assert [p.shape for p in predicted] == [(4, 2), (2, 2)]
    torch.testing.assert_close(torch.cat(predicted), model.encoder(IMAGES)[0])


def test_a_model_without_a_recognition_model_samples_but_refuses_to_encode():
    model = mcem()
    assert not model.has_encoder
    assert model.sample(3).shape == (3, 1, 4, 4) and model.manifold(2).shape == (4, 1, 4, 4)
    for view in (lambda: model.encode(IMAGES), lambda: model.reconstruct(IMAGES), lambda: model.traverse(IMAGES[0], 0, [0.0]),
                 lambda: model.interpolate(IMAGES[0], IMAGES[1]), lambda: model.predict_step(IMAGES, 0)):  # fmt: skip
        with pytest.raises(ConfigError, match="needs a recognition model q\\(z\\|x\\), and MCEM has none.*use sample\\(\\)"):
            view()


def test_views_follow_the_model_to_its_device_and_dtype(vae):
    model = vae.double()
    assert model.sample(2).dtype == torch.float32  # the likelihood's mean is computed in fp32
    assert model.encode(IMAGES).dtype == torch.float64  # the images were moved to the model's dtype
