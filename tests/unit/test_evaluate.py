"""aevb-eval's estimates on a small model: the bound, an estimate of log p(x) above it, and their errors."""

import pytest
import torch

from aevb.errors import ConfigError
from aevb.estimators.annealed_importance import AnnealedImportanceSampling
from aevb.estimators.importance_sampling import ImportanceSampling
from aevb.evaluate import BATCH_SIZES, batch_size_for, evaluate, mean_and_standard_error, rows_that_fit
from aevb.models.mcem import MonteCarloEM
from aevb.models.vae import VAE
from tiny_models import tiny


def test_the_importance_sampled_estimate_lies_above_the_bound_and_both_are_reported_with_their_settings():
    torch.manual_seed(0)
    model = tiny(VAE, bound_samples=2)
    images = torch.bernoulli(torch.full((60, 1, 4, 4), 0.3))
    estimator = ImportanceSampling(importance_samples=200, max_rows=1000)
    results = evaluate(model.eval(), estimator, images, batch_size=25, seed=0)
    bound, log_px = results["lower_bound"], results["log_px_is"]
    assert results["num_datapoints"] == 60 and bound["estimator"] == "B" and bound["num_samples"] == 2
    assert results["estimator"] == {"name": "log_px_is", "description": "is_k200"}
    assert bound["mean"] < log_px["mean"] < 0  # log p(x) >= the bound; both are log-probabilities of binary images
    assert 0 < log_px["standard_error"] < 1 and 0 < bound["standard_error"] < 1
    assert evaluate(model, estimator, images, 25, seed=0)["log_px_is"] == log_px  # seeded: the same estimate


def test_a_model_without_q_is_scored_by_ais_with_its_diagnostics_and_refused_by_importance_sampling():
    torch.manual_seed(0)
    model = tiny(MonteCarloEM, with_encoder=False, log_px=lambda *args: {}).eval()
    images = torch.bernoulli(torch.full((10, 1, 4, 4), 0.3))
    results = evaluate(model, AnnealedImportanceSampling(chains=4, temperatures=5, leapfrog_steps=2), images, 5, seed=0)
    assert "lower_bound" not in results and results["estimator"]["description"] == "ais_c4_t5"
    assert results["log_px_ais"]["mean"] < 0 and 0 < results["ais_acceptance"]["mean"] <= 1
    with pytest.raises(ConfigError, match="estimator=ais"):
        evaluate(model, ImportanceSampling(), images, 5, seed=0)


def test_the_standard_error_is_the_sample_deviation_over_root_n():
    values = torch.tensor([1.0, 2.0, 4.0, 5.0])
    result = mean_and_standard_error(values)
    assert result["mean"] == 3.0 and abs(result["standard_error"] - values.double().std().item() / 2) < 1e-12


def test_an_evaluation_is_named_by_what_it_computed_and_a_limited_one_never_replaces_a_full_one(tmp_path):
    import json

    from aevb.runs.directory import Run

    def results(split, description, limit, mean, name="log_px_is"):
        return {"split": split, "limit": limit, "estimator": {"name": name, "description": description}, name: {"mean": mean}}

    run = Run(tmp_path)
    old = {"split": "test", "limit": None, "log_likelihood": {"num_importance_samples": 100, "mean": -90.0}}
    (tmp_path / "eval.json").write_text(json.dumps(old))  # the key and the file name before the renames
    assert run.evaluation["log_px_is"]["mean"] == -90.0 and run.evaluation["estimator"]["description"] == "is_k100"
    old["log_marginal_likelihood"] = old.pop("log_likelihood")
    old["log_marginal_likelihood"]["num_importance_samples"] = 2000
    (tmp_path / "eval_test_k2000.json").write_text(json.dumps(old))  # named by k, before estimators had names
    assert run.evaluation["log_px_is"]["mean"] == -90.0 and run.evaluation["estimator"]["description"] == "is_k2000"
    full = run.write_evaluation(results("test", "is_k5000", None, -88.0))
    quick = run.write_evaluation(results("test", "is_k5000", 100, -70.0))
    other = run.write_evaluation(results("val", "is_k5000", None, -80.0))
    ais = run.write_evaluation(results("test", "ais_c16_t500", None, -87.0, name="log_px_ais"))
    assert [path.name for path in (full, quick, other, ais)] == [
        "eval_test_is_k5000.json", "eval_test_is_k5000_limit100.json", "eval_val_is_k5000.json",
        "eval_test_ais_c16_t500.json"]  # fmt: skip
    run.write_evaluation(results("test", "is_k1000", None, -89.0))
    assert run.evaluation["log_px_is"]["mean"] == -88.0  # the whole test split, importance sampling first, the largest k
    assert [path.name for path in run.full_evaluations] == ["eval_test_is_k5000.json", "eval_test_k2000.json",
        "eval_test_is_k1000.json", "eval_test_ais_c16_t500.json", "eval.json"]  # fmt: skip


def test_batch_size_auto_is_the_device_types_and_a_wrong_one_names_the_fix():
    assert batch_size_for("auto", torch.device("cpu")) == BATCH_SIZES["cpu"] == 100
    assert batch_size_for("auto", torch.device("cuda", 1)) == BATCH_SIZES["cuda"]
    assert batch_size_for("auto", torch.device("mps")) == BATCH_SIZES["cpu"]
    assert batch_size_for(7, torch.device("cpu")) == 7
    for wrong in (0, "many"):
        with pytest.raises(ConfigError, match="or auto"):
            batch_size_for(wrong, torch.device("cpu"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="a GPU's free memory")
def test_on_a_gpu_the_estimators_rows_grow_to_fill_its_memory_and_the_estimate_stays_within_its_error():
    torch.manual_seed(0)
    model = tiny(VAE).cuda().eval()
    images = torch.bernoulli(torch.full((200, 1, 4, 4), 0.3))
    estimator = ImportanceSampling(importance_samples=500, max_rows=1000)
    rows = rows_that_fit(model, estimator, images)
    assert rows > 1000 and estimator.max_rows == 1000  # the probe left the setting as it was
    small = evaluate(model, estimator, images, 100, seed=0)["log_px_is"]
    estimator.max_rows = rows
    filled = evaluate(model, estimator, images, 100, seed=0)["log_px_is"]
    assert abs(filled["mean"] - small["mean"]) < 3 * small["standard_error"]
