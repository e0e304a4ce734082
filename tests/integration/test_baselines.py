"""The paper's baselines: wake-sleep (on the VAE's networks) and Monte Carlo EM (App. E), trained for real."""

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from aevb.components.likelihoods import Gaussian
from aevb.components.networks import MLPDecoder, MLPEncoder
from aevb.data.facts import DataFacts
from aevb.errors import ConfigError
from aevb.evaluate import run_eval
from aevb.models.mcem import MonteCarloEM
from aevb.models.wake_sleep import WakeSleep
from aevb.train import train
from compose import compose_train
from processes import scalars
from tiny_models import tiny

# A few seconds of real MNIST: the model's own defaults (Adam, PyTorch's initialisation).
SHORT = ["trainer.max_epochs=3", "trainer.limit_train_batches=40", "data.val_size=0", "data.eval_limit=1000"]
# The App. D estimator, cut down so that an evaluation takes about a second.
SMALL_ESTIMATOR = ["debug=small_estimator"]


def small_wake_sleep():
    return tiny(WakeSleep)


def test_wake_trains_only_the_generative_model_and_sleep_only_the_recognition_model():
    torch.manual_seed(0)
    model = small_wake_sleep()
    x = torch.bernoulli(torch.full((5, 1, 4, 4), 0.3))
    _, scalars = model.training_loss(x)
    encoder, decoder = list(model.encoder.parameters()), list(model.decoder.parameters())
    for phase, trained, fixed in (("wake_log_joint", decoder, encoder), ("sleep_log_q", encoder, decoder)):
        gradients = torch.autograd.grad(scalars[phase], trained + fixed, allow_unused=True, retain_graph=True)
        assert all(g is not None and g.abs().sum() > 0 for g in gradients[: len(trained)]), phase
        assert all(g is None for g in gradients[len(trained) :]), phase


def sleep_inputs(model: WakeSleep, x: torch.Tensor) -> torch.Tensor:
    """What the encoder sees in the sleep phase of one training_loss: the dreams (its second call; the first is wake)."""
    seen = []
    handle = model.encoder.register_forward_hook(lambda module, args, output: seen.append(args[0].detach()))
    model.training_loss(x)
    handle.remove()
    return seen[1]


def test_the_sleep_phase_fits_the_encoder_to_dreams_drawn_from_the_decoder():
    torch.manual_seed(0)
    model = small_wake_sleep()
    torch.nn.init.zeros_(model.decoder.net[-1].weight)
    torch.nn.init.constant_(model.decoder.net[-1].bias, 1.0)  # p(x|z) = Bernoulli(sigmoid(1)) for every z and pixel
    dreams = sleep_inputs(model, torch.zeros(20000, 1, 4, 4))  # the data does not enter the dreams
    assert set(dreams.unique().tolist()) == {0.0, 1.0}
    assert dreams.mean().item() == pytest.approx(torch.sigmoid(torch.tensor(1.0)).item(), abs=0.01)


@pytest.mark.parametrize("clip", [False, True])
def test_gaussian_dreams_are_clipped_to_the_data_range_on_request(clip):
    torch.manual_seed(0)
    model = WakeSleep(data=DataFacts(shape=(1, 4, 4)), latent_dim=2, encoder=lambda **kw: MLPEncoder(hidden_dim=8, **kw),
                      decoder=lambda **kw: MLPDecoder(hidden_dim=8, **kw), likelihood=Gaussian(), optimizer=None,
                      clip_dreams=clip)  # fmt: skip
    dreams = sleep_inputs(model, torch.rand(2000, 1, 4, 4))  # sigma about 1 at initialisation: far outside [0, 1]
    inside = ((dreams >= 0) & (dreams <= 1)).float().mean().item()
    assert inside == 1.0 if clip else inside < 0.6
    if clip:
        assert 0 < (dreams == 0).float().mean().item() < 0.5 and 0 < (dreams == 1).float().mean().item() < 0.5


@pytest.mark.slow
def test_a_short_wake_sleep_run_improves_its_bound(tmp_path, data_dir):
    cfg = compose_train(["model=wake_sleep", *SHORT], tmp_path, data_dir)
    metrics = train(cfg)
    curves = scalars(tmp_path)
    bounds = [value for _, value in curves["lower_bound/train"]]
    assert len(bounds) == 3 and bounds[0] < bounds[1] < bounds[2]  # better after every epoch
    # far above an untrained model's -543 (784 ln 2); the same tags as AEVB, so the curves overlay
    assert bounds[-1] > -250 and metrics["lower_bound"]["test"] > -250
    assert {"minibatch/wake_log_joint", "minibatch/sleep_log_q", "kl/test"} <= set(curves)
    assert metrics["selection_term"] == "lower_bound"


@pytest.mark.slow
def test_a_short_mcem_run_improves_its_log_px_and_keeps_its_chains(tmp_path, data_dir):
    overrides = ["model=mcem", "data.train_limit=500", "model.step_size_tuning=per_chain", *SHORT, *SMALL_ESTIMATOR]
    cfg = compose_train(overrides, tmp_path, data_dir)
    metrics = train(cfg)
    # 5 batches of 100 per epoch (train_limit 500), 5 weight updates each: 2500 samples evaluated per epoch
    assert metrics["samples_seen"] == 3 * 2500 and metrics["selection_term"] == "log_px_hmc"
    assert "lower_bound" not in metrics  # no recognition model, so no bound
    curve = scalars(tmp_path)["log_px_hmc/train"]
    assert [samples for samples, _ in curve] == [2500, 5000, 7500]
    values = [value for _, value in curve]
    assert values[0] < values[-1] and values[-1] > -300  # from about -543 at the start
    assert 0.6 < metrics["hmc_acceptance"]["test"] < 1
    checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    chains = checkpoint["mcem_chains"]["z"]
    assert chains.shape == (500, 3) and torch.isfinite(chains).all()
    assert checkpoint["mcem_chains"]["step_size"].std() > 0  # each chain tuned its own step size
    # aevb-eval's importance sampling needs q(z|x): an MCEM checkpoint is refused, naming the estimators that need none
    importance_sampling = {"_target_": "aevb.estimators.importance_sampling.ImportanceSampling"}
    eval_cfg = OmegaConf.create({"device": "cpu", "ckpt_path": str(tmp_path / "checkpoints" / "last.ckpt"),
                                 "estimator": importance_sampling})  # fmt: skip
    with pytest.raises(ConfigError, match="has none: use an estimator that needs only p\\(x, z\\), estimator=ais"):
        run_eval(eval_cfg)


@pytest.mark.slow
def test_mcem_can_tune_one_step_size_for_every_chain(tmp_path, data_dir):
    overrides = ["model=mcem", "data.train_limit=500", *SHORT, *SMALL_ESTIMATOR]  # shared: the default
    metrics = train(compose_train(overrides, tmp_path, data_dir))
    step_size = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)["mcem_chains"]["step_size"]
    assert step_size.shape == (1, 1) and step_size.item() != 0.05  # tuned at every minibatch, from 0.05
    assert metrics["log_px_hmc"]["train"] > -300


@pytest.mark.slow
def test_mcem_resumes_its_chains_from_a_checkpoint(tmp_path, data_dir):
    overrides = ["model=mcem", "data.train_limit=300", *SHORT, *SMALL_ESTIMATOR]
    first = compose_train([*overrides, "trainer.max_epochs=1"], tmp_path / "a", data_dir)
    train(first)
    last = tmp_path / "a" / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(last, weights_only=True)
    resumed = compose_train([*overrides, "trainer.max_epochs=2", f"ckpt_path={last}"], tmp_path / "b", data_dir)
    model = instantiate(resumed.model, data=DataFacts(shape=(1, 28, 28)), optimizer=instantiate(resumed.optimizer))
    model.on_load_checkpoint(checkpoint)
    assert torch.equal(model.chains, checkpoint["mcem_chains"]["z"])  # the saved chains, not fresh draws from the prior
    assert train(resumed)["samples_seen"] == 2 * 1500  # continued from 1500, not restarted


def test_mcem_needs_an_estimator_of_log_px():
    with pytest.raises(ValueError, match="model/log_px=hmc"):
        tiny(MonteCarloEM, with_encoder=False, log_px=None)


def test_one_mcem_minibatch_moves_its_chains_then_takes_weight_updates_on_them():
    torch.manual_seed(0)
    model = tiny(MonteCarloEM, with_encoder=False, log_px=lambda *args: {}, weight_updates=3, leapfrog_steps=2)
    model.chains, model.step_sizes = torch.randn(10, 2), torch.full((1, 1), 0.05)
    x, index = torch.bernoulli(torch.full((4, 1, 4, 4), 0.5)), torch.tensor([1, 3, 5, 7])
    before = model.chains.clone()
    (moved_x, z), scalars = model.prepare_minibatch((x, index))  # the E-step
    assert torch.equal(moved_x, x) and torch.equal(model.chains[index], z)
    assert torch.equal(model.chains[[0, 2, 4, 6, 8, 9]], before[[0, 2, 4, 6, 8, 9]])  # only the drawn datapoints' chains
    assert 0 <= scalars["hmc_acceptance"] <= 1 and model.step_sizes.shape == (1, 1)
    loss, _ = model.training_loss((x, z))  # the M-step's objective: -log p(x, z) per datapoint
    torch.testing.assert_close(loss, -model.log_joint(x, z).mean())
