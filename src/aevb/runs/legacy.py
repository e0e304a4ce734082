"""Reading what runs of earlier versions wrote: their saved configs in today's spelling."""

from omegaconf import DictConfig, OmegaConf

from aevb.schema import RENAMED_KEYS

# Where classes lived before the layout of components/, estimators/ and models/: a saved config naming the old
# place is read as naming the new one, so runs started before the move resume, evaluate and draw as before.
MOVED_MODULES = {
    "aevb.models.distributions": "aevb.components.distributions",
    "aevb.models.likelihoods": "aevb.components.likelihoods",
    "aevb.models.networks": "aevb.components.networks",
    "aevb.models.elbo": "aevb.estimators.sgvb",
    "aevb.models.marginal_likelihood": "aevb.estimators.marginal_likelihood",
    "aevb.models.hmc": "aevb.estimators.hmc",
    "aevb.models.density_estimation": "aevb.estimators.density_estimation",
}
STANDARD_NORMAL_PRIOR = {"_target_": "aevb.components.priors.StandardNormal", "_partial_": True}


def saved_config(config: DictConfig | dict) -> DictConfig:
    """A run's saved config in today's spelling: moved targets and renamed keys (aevb.schema.RENAMED_KEYS) renamed,
    and the prior of runs that predate model.prior (all were N(0, I)) written out."""

    def renamed(node):
        if isinstance(node, dict):
            node = {key: renamed(value) for key, value in node.items()}
            target = node.get("_target_")
            if isinstance(target, str) and target.rpartition(".")[0] in MOVED_MODULES:
                module, _, name = target.rpartition(".")
                node["_target_"] = f"{MOVED_MODULES[module]}.{name}"
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
