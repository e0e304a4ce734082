"""aevb-eval's estimates on a small model: the bound, the importance-sampled log p(x) above it, and their errors."""

import torch

from aevb.evaluate import evaluate, mean_and_standard_error
from aevb.models.vae import VAE
from tiny_models import tiny


def test_the_importance_sampled_estimate_lies_above_the_bound_and_both_are_reported_with_their_settings():
    torch.manual_seed(0)
    model = tiny(VAE, bound_samples=2)
    images = torch.bernoulli(torch.full((60, 1, 4, 4), 0.3))
    results = evaluate(model.eval(), images, importance_samples=200, batch_size=25, max_rows=1000, seed=0)
    bound, log_px = results["lower_bound"], results["log_marginal_likelihood"]
    assert results["num_datapoints"] == 60 and bound["estimator"] == "B" and bound["num_samples"] == 2
    assert log_px["num_importance_samples"] == 200
    assert bound["mean"] < log_px["mean"] < 0  # log p(x) >= the bound; both are log-probabilities of binary images
    assert 0 < log_px["standard_error"] < 1 and 0 < bound["standard_error"] < 1
    assert evaluate(model, images, 200, 25, 1000, seed=0)["log_marginal_likelihood"] == log_px  # seeded: the same estimate


def test_the_standard_error_is_the_sample_deviation_over_root_n():
    values = torch.tensor([1.0, 2.0, 4.0, 5.0])
    result = mean_and_standard_error(values)
    assert result["mean"] == 3.0 and abs(result["standard_error"] - values.double().std().item() / 2) < 1e-12


def test_an_evaluation_is_named_by_what_it_computed_and_a_limited_one_never_replaces_a_full_one(tmp_path):
    import json

    from aevb.runs.directory import Run

    def results(split, k, limit, mean):
        return {"split": split, "limit": limit, "log_marginal_likelihood": {"num_importance_samples": k, "mean": mean}}

    run = Run(tmp_path)
    old = results("test", 100, None, -90.0)
    old["log_likelihood"] = old.pop("log_marginal_likelihood")  # the key and the file name before the renames
    (tmp_path / "eval.json").write_text(json.dumps(old))
    assert run.evaluation["log_marginal_likelihood"]["mean"] == -90.0
    full = run.write_evaluation(results("test", 5000, None, -88.0))
    quick = run.write_evaluation(results("test", 5000, 100, -70.0))
    other = run.write_evaluation(results("val", 5000, None, -80.0))
    assert [path.name for path in (full, quick, other)] == ["eval_test_k5000.json", "eval_test_k5000_limit100.json",
                                                             "eval_val_k5000.json"]  # fmt: skip
    run.write_evaluation(results("test", 1000, None, -89.0))
    assert run.evaluation["log_marginal_likelihood"]["mean"] == -88.0  # the whole test split, the largest k
