"""Where a model's lower bound goes, latent dimension by latent dimension: for diagnosing runs (wake-sleep at N_z = 200).

  uv run python scripts/latent_diagnostics.py <run>/checkpoints/best.ckpt <run>/checkpoints/last.ckpt [--split test]

For each checkpoint: the bound and its two terms, E_q[log p(x|z)] and KL(q(z|x) || p(z)), on the split; the active
units (Burda et al. 2016: dimensions whose posterior mean varies over the data, Cov_x(E_q[z_j]) > 0.01); the
KL of each dimension, largest first; and the mean posterior variance of the active and the inactive dimensions.
"""

import argparse

import torch

from aevb.build import load_model
from aevb.components.distributions import kl_to_standard_normal
from aevb.evaluate import load_datamodule


@torch.no_grad()
def diagnose(ckpt_path: str, split: str, data_dir: str | None) -> dict:
    model, datamodule = load_model(ckpt_path), load_datamodule(ckpt_path, data_dir)
    x = datamodule.eval_splits[split]
    terms = model.bound_terms(x)
    posterior = model.posterior(x)
    mean, log_var = posterior.mean, posterior.log_var
    kl_per_dimension = kl_to_standard_normal(mean.unsqueeze(-1), log_var.unsqueeze(-1)).mean(0)  # (latent,)
    activity = mean.var(0)
    active = activity > 0.01
    variance = log_var.exp().mean(0)
    return {
        "samples_seen": model.samples_seen,
        "lower_bound": terms.lower_bound.mean().item(),
        "log_likelihood": terms.log_likelihood.mean().item(),
        "kl": terms.kl.mean().item(),
        "active_units": int(active.sum()),
        "kl_of_active": kl_per_dimension[active].sum().item(),
        "kl_of_inactive": kl_per_dimension[~active].sum().item(),
        "largest_kl": sorted(kl_per_dimension.tolist(), reverse=True)[:8],
        "posterior_variance_active": variance[active].mean().item() if active.any() else float("nan"),
        "posterior_variance_inactive": variance[~active].mean().item() if (~active).any() else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--split", default="test")
    parser.add_argument("--data-dir", help="where the data files are, if not where the run found them")
    args = parser.parse_args()
    for path in args.checkpoints:
        result = diagnose(path, args.split, args.data_dir)
        print(path)
        for key, value in result.items():
            print(f"  {key}: {[round(v, 2) for v in value] if isinstance(value, list) else round(value, 3)}")


if __name__ == "__main__":
    main()
