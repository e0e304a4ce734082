"""Search done right: aevb-train returns the model-selection value (validation; train where there is none) to Hydra,
and hparams_search=optuna runs a real Optuna study on it."""

import json

import pytest
import yaml

from aevb.errors import ConfigError
from aevb.train import optimized_value
from processes import run_entry_point


def test_the_value_returned_to_a_sweeper_is_validation_or_else_train_never_test():
    assert optimized_value({"selection_term": "lower_bound", "lower_bound": {"train": -1, "val": -2, "test": -3}}) == -2
    assert optimized_value({"selection_term": "lower_bound", "lower_bound": {"train": -1, "test": -3}}) == -1
    marginal = {"selection_term": "marginal_likelihood", "marginal_likelihood": {"val": -5, "test": -6}, "lower_bound": {}}
    assert optimized_value(marginal) == -5


def test_optimized_metric_names_any_evaluated_term_and_a_wrong_name_lists_them():
    metrics = {"selection_term": "lower_bound", "lower_bound": {"train": -1, "val": -2}, "kl": {"train": 3, "val": 4},
               "checkpoints": {"last": "last.ckpt"}}  # fmt: skip
    assert optimized_value(metrics, "kl/val") == 4
    with pytest.raises(ConfigError, match=r"optimized_metric=kl/test .* model_selection/score, lower_bound/train, "
                                          r"lower_bound/val, kl/train, kl/val$"):  # fmt: skip
        optimized_value(metrics, "kl/test")


@pytest.mark.slow
def test_a_two_trial_optuna_study_maximises_the_validation_bound(tmp_path, data_dir):
    run_entry_point("aevb-train", "-m", "hparams_search=optuna", "hydra.sweeper.n_trials=2", "debug=frey_blink",
                    "data.val_size=200", f"hydra.sweep.dir={tmp_path}", f"paths.data_dir={data_dir}")  # fmt: skip
    results = yaml.safe_load((tmp_path / "optimization_results.yaml").read_text())
    trials = [json.loads(path.read_text()) for path in sorted(tmp_path.glob("*/metrics.json"))]
    assert len(trials) == 2
    best = max(trials, key=lambda metrics: metrics["lower_bound"]["val"])
    assert results["best_value"] == best["lower_bound"]["val"] != best["lower_bound"]["test"]
    configs = [yaml.safe_load(path.read_text()) for path in sorted(tmp_path.glob("*/config.yaml"))]
    assert {(c["optimizer"]["lr"], c["model"]["latent_dim"]) for c in configs} >= {
        (results["best_params"]["optimizer.lr"], results["best_params"]["model.latent_dim"])
    }
