"""Reading what runs of earlier versions wrote: their saved configs, metrics, curves and evaluations in today's
spelling."""

from omegaconf import DictConfig, OmegaConf

from aevb.config.schema import RENAMED_KEYS

# Where classes lived before the layout of components/, estimators/ and models/, and before the top level was grouped
# into config/, training/, tracking/ and runs/: a saved config naming the old place is read as naming the new one, so
# runs started before a move resume, evaluate and draw as before.
MOVED_MODULES = {
    "aevb.models.distributions": "aevb.components.distributions",
    "aevb.models.likelihoods": "aevb.components.likelihoods",
    "aevb.models.networks": "aevb.components.networks",
    "aevb.models.elbo": "aevb.estimators.sgvb",
    "aevb.models.marginal_likelihood": "aevb.estimators.marginal_likelihood",
    "aevb.models.hmc": "aevb.estimators.hmc",
    "aevb.models.density_estimation": "aevb.estimators.density_estimation",
    "aevb.optim": "aevb.training.optim",
    "aevb.loggers": "aevb.tracking.loggers",
    "aevb.sectioned_tensorboard": "aevb.tracking.sectioned_tensorboard",
    "aevb.sweep": "aevb.runs.sweep",
}
MOVED_CLASSES = {"aevb.estimators.marginal_likelihood.HMCMarginalLikelihood": "aevb.estimators.appendix_d.AppendixD"}
STANDARD_NORMAL_PRIOR = {"_target_": "aevb.components.priors.StandardNormal", "_partial_": True}


def saved_config(config: DictConfig | dict) -> DictConfig:
    """A run's saved config in today's spelling: moved targets and renamed keys (aevb.config.schema.RENAMED_KEYS) renamed,
    and the prior of runs that predate model.prior (all were N(0, I)) written out."""

    def renamed(node):
        if isinstance(node, dict):
            node = {key: renamed(value) for key, value in node.items()}
            target = node.get("_target_")
            if isinstance(target, str) and target.rpartition(".")[0] in MOVED_MODULES:
                module, _, name = target.rpartition(".")
                node["_target_"] = f"{MOVED_MODULES[module]}.{name}"
            if node.get("_target_") in MOVED_CLASSES:
                node["_target_"] = MOVED_CLASSES[node["_target_"]]
            return node
        if isinstance(node, list):
            return [renamed(value) for value in node]
        return node

    plain = renamed(OmegaConf.to_container(config) if isinstance(config, DictConfig) else config)
    for old, new in RENAMED_KEYS.items():
        *parents, old_key = old.split(".")
        node = plain
        for parent in parents:
            node = node.get(parent) if isinstance(node, dict) else None
        if isinstance(node, dict) and old_key in node:
            node[new.rsplit(".", 1)[-1]] = node.pop(old_key)
    if isinstance(plain.get("model"), dict) and "prior" not in plain["model"]:
        plain["model"]["prior"] = dict(STANDARD_NORMAL_PRIOR)
    return OmegaConf.create(plain)


# Names of runs written before the estimator protocol (aevb.estimators.log_px): the Appendix D estimate of log p(x) was
# "marginal_likelihood" in metrics and curves (its acceptance's TensorBoard tag under it), and aevb-eval's importance-
# sampled estimate "log_marginal_likelihood" (before that "log_likelihood") with its k, in eval_<split>_k<k>.json.
RENAMED_TERMS = {"marginal_likelihood/hmc_acceptance": "hmc_acceptance", "marginal_likelihood": "log_px_hmc"}


def todays_name(name: str) -> str:
    """A term or curve name, "<term>" or "<term>/<split>", in today's spelling."""
    for old, new in RENAMED_TERMS.items():
        if name == old or name.startswith(f"{old}/"):
            return new + name.removeprefix(old)
    return name


def in_todays_names(results: dict | None) -> dict | None:
    """Metrics, curves or a step-size record, by name, in today's names (their selection term and criterion too)."""
    if results is None:
        return None
    results = {todays_name(name): value for name, value in results.items()}
    for key in ("selection_term", "criterion"):
        if isinstance(results.get(key), str):
            results[key] = todays_name(results[key])
    return results


def todays_evaluation(evaluation: dict | None) -> dict | None:
    """aevb-eval's output in today's form: the estimate under its estimator's name, the estimator described."""
    if evaluation is None or "estimator" in evaluation:
        return evaluation
    estimate = evaluation.pop("log_marginal_likelihood", None) or evaluation.pop("log_likelihood")
    k = estimate.pop("num_importance_samples", None) or estimate.pop("num_samples")
    evaluation["estimator"] = {"name": "log_px_is", "description": f"is_k{k}", "settings": {"importance_samples": k}}
    return {**evaluation, "log_px_is": estimate}
