"""The estimators of log p(x) on short real MNIST runs, from the command line: aevb-eval estimator=ais scores a VAE
and an MCEM run (which has no q(z|x)), aevb-train model/log_px=ais runs AIS at every evaluation, and AIS at enough
temperatures agrees with importance sampling at large k."""

import json

import pytest
import torch

from aevb.build import load_model
from aevb.estimators.annealed_importance import AnnealedImportanceSampling
from aevb.estimators.importance_sampling import ImportanceSampling
from aevb.evaluate import load_datamodule
from processes import run_entry_point, scalars

QUICK = ["trainer.enable_progress_bar=false", "trainer.max_epochs=1", "data.val_size=500"]
SMALL_AIS = ["estimator.chains=2", "estimator.temperatures=10", "estimator.leapfrog_steps=2"]


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory, data_dir):
    """AEVB on 30,000 MNIST images (a bound of about -135 nats)."""
    run_dir = tmp_path_factory.mktemp("vae")
    run_entry_point("aevb-train", f"hydra.run.dir={run_dir}", f"paths.data_dir={data_dir}", *QUICK,
                    "trainer.limit_train_batches=300", "data.eval_limit=200")  # fmt: skip
    return run_dir


@pytest.fixture(scope="module")
def mcem_run(tmp_path_factory, data_dir):
    """MCEM scored by a small AIS at every evaluation (model/log_px=ais)."""
    run_dir = tmp_path_factory.mktemp("mcem")
    small = [f"model.log_px.{setting.removeprefix('estimator.')}" for setting in SMALL_AIS]
    run_entry_point("aevb-train", f"hydra.run.dir={run_dir}", f"paths.data_dir={data_dir}", *QUICK, "model=mcem",
                    "model/log_px=ais", *small, "data.train_limit=500", "data.eval_limit=50")  # fmt: skip
    return run_dir


def evaluate_with_ais(run_dir, data_dir) -> tuple[dict, str]:
    result = run_entry_point("aevb-eval", f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}", f"paths.data_dir={data_dir}",
                             "limit=20", "estimator=ais", *SMALL_AIS, f"hydra.run.dir={run_dir / 'eval'}")  # fmt: skip
    return json.loads((run_dir / "eval_test_ais_c2_t10_limit20.json").read_text()), result.stdout


@pytest.mark.slow
def test_aevb_train_with_log_px_ais_scores_and_selects_mcem_by_it(mcem_run):
    metrics = json.loads((mcem_run / "metrics.json").read_text())
    assert metrics["selection_term"] == "log_px_ais" and "lower_bound" not in metrics
    assert -800 < metrics["log_px_ais"]["train"] < 0 and 0 < metrics["ais_acceptance"]["train"] <= 1
    assert [step for step, _ in scalars(mcem_run)["log_px_ais/train"]] == [metrics["samples_seen"]]


@pytest.mark.slow
def test_aevb_eval_with_ais_scores_an_mcem_run(mcem_run, data_dir):
    evaluation, stdout = evaluate_with_ais(mcem_run, data_dir)
    assert evaluation["estimator"]["name"] == "log_px_ais" and evaluation["estimator"]["settings"]["chains"] == 2
    assert "lower_bound" not in evaluation and -800 < evaluation["log_px_ais"]["mean"] < 0
    assert "log p(x), ais_c2_t10" in stdout


@pytest.mark.slow
def test_aevb_eval_with_ais_scores_a_vae_run_beside_its_bound(vae_run, data_dir):
    evaluation, _ = evaluate_with_ais(vae_run, data_dir)
    assert evaluation["num_datapoints"] == 20 and -250 < evaluation["lower_bound"]["mean"] < -90
    assert -250 < evaluation["log_px_ais"]["mean"] < 0


@pytest.mark.slow
def test_ais_at_enough_temperatures_agrees_with_importance_sampling_at_large_k(vae_run, data_dir):
    # Both are stochastic lower bounds on log p(x) that rise to it. Here importance sampling with k = 5000 lies about
    # 4.7 nats above the ELBO, and AIS with 200 temperatures within 0.2 nats of it on average (each datapoint within
    # 1.2); with 50 temperatures AIS is 1.5 nats lower. 0.5 nats is a tenth of the bound's gap.
    checkpoint = vae_run / "checkpoints" / "last.ckpt"
    model = load_model(checkpoint)
    x = load_datamodule(checkpoint, str(data_dir)).eval_splits["test"][:10]
    torch.manual_seed(0)
    importance_sampled = ImportanceSampling(importance_samples=5000)(model, x)["log_px_is"].mean()
    annealed = {}
    for temperatures in (50, 200):
        estimator = AnnealedImportanceSampling(chains=8, temperatures=temperatures, leapfrog_steps=5)
        annealed[temperatures] = estimator(model, x)["log_px_ais"].mean()
    with torch.no_grad():
        bound = model.bound_terms(x).lower_bound.mean()
    assert bound + 2 < importance_sampled
    assert abs(annealed[200] - importance_sampled) < 0.5
    assert annealed[50] < annealed[200]
