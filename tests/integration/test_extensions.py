"""The house extended: a new objective (model=iwae) and a new prior (model/prior=mixture), each one file and one
config, train, resume, evaluate with aevb-eval and draw figures as the paper's models do."""

import json

import pytest
import torch

from aevb.runs.directory import Run
from processes import run_entry_point, scalars

QUICK = ["trainer.enable_progress_bar=false", "trainer.limit_train_batches=10", "data.val_size=500", "data.eval_limit=500"]


def train_and_resume(run_dir, data_dir, *overrides):
    """Two epochs in run_dir/first, then a third from its last.ckpt in run_dir (as after a kill at the second)."""
    common = (f"paths.data_dir={data_dir}", *QUICK, *overrides)
    run_entry_point("aevb-train", f"hydra.run.dir={run_dir / 'first'}", *common, "trainer.max_epochs=2")
    first = json.loads((run_dir / "first" / "metrics.json").read_text())
    checkpoint = run_dir / "first" / "checkpoints" / "last.ckpt"
    run_entry_point("aevb-train", f"hydra.run.dir={run_dir}", *common, "trainer.max_epochs=3", f"ckpt_path={checkpoint}")
    return first, json.loads((run_dir / "metrics.json").read_text())


def evaluate(run_dir, data_dir):
    run_entry_point(
        "aevb-eval", f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}", f"paths.data_dir={data_dir}", "limit=200",
        "importance_samples=50", f"hydra.run.dir={run_dir / 'eval'}",
    )  # fmt: skip
    return json.loads((run_dir / "eval_test_k50_limit200.json").read_text())


@pytest.mark.slow
def test_iwae_trains_resumes_evaluates_and_is_labelled_iwae(tmp_path, data_dir):
    first, resumed = train_and_resume(tmp_path, data_dir, "model=iwae", "model.importance_samples=3")
    assert first["samples_seen"] == 2000 and resumed["samples_seen"] == 3000 and resumed["resumed_from"] == 2000
    assert resumed["selection_term"] == "importance_weighted_bound"
    for split, bound in resumed["importance_weighted_bound"].items():  # L_3 above the ELBO of the same model
        assert resumed["lower_bound"][split] < bound < -90
    tags = scalars(tmp_path)
    assert [step for step, _ in tags["importance_weighted_bound/test"]] == [3000]
    hparams = (tmp_path / "config.yaml").read_text()
    assert "aevb.models.iwae.IWAE" in hparams and Run(tmp_path).algorithm == "IWAE"
    evaluation = evaluate(tmp_path, data_dir)
    assert evaluation["log_marginal_likelihood"]["mean"] > evaluation["lower_bound"]["mean"]


@pytest.mark.slow
def test_a_mixture_prior_trains_resumes_evaluates_and_keeps_its_learned_parameters(tmp_path, data_dir):
    overrides = ("model/prior=mixture", "model.prior.components=3", "model.estimator=A")
    first, resumed = train_and_resume(tmp_path, data_dir, *overrides)
    assert resumed["samples_seen"] == 3000 and resumed["resumed_from"] == 2000
    assert -400 < resumed["lower_bound"]["test"] < -90
    state = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert state["prior.means"].shape == (3, 20) and state["prior.logits"].abs().sum() > 0  # it learned its weights
    evaluation = evaluate(tmp_path, data_dir)
    assert evaluation["log_marginal_likelihood"]["mean"] > evaluation["lower_bound"]["mean"] - 1
    assert (tmp_path / "samples.png").stat().st_size > 1000  # the image grids draw from the mixture


@pytest.mark.slow
def test_estimator_b_under_a_mixture_is_refused_naming_the_fix(tmp_path, data_dir):
    result = run_entry_point(
        "aevb-train", f"hydra.run.dir={tmp_path}", f"paths.data_dir={data_dir}", "model/prior=mixture", "trainer.max_epochs=1",
        check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "model.estimator=B needs KL" in result.stderr and "use model.estimator=A" in result.stderr
