"""What the two tutorials' own losses say of a trained model, beside the true bound it was trained on.

    uv run python scripts/tutorial_losses.py <run>/checkpoints/last.ckpt [--data-dir data] [--images 10000]

On the test split, in nats per image (numbers for docs/tutorial_models.md):
- the lower bound (beta = 1, log-densities summed over the 784 pixels) on the binarised images, as aevb logs it;
- the Keras example's loss (Chollet, section 8.4): the cross-entropy averaged over the pixels plus 5e-4 times the
  KL (its `-5e-4 * mean(1 + log_var - mu^2 - exp(log_var))` over the two latent dimensions is 5e-4 KL), with z drawn
  as mu + exp(log_var) * eps, the variance where the standard deviation belongs; shown also times 784, on the
  scale of the bound, and with the noise scaled rightly;
- the PyTorch tutorials' loss: the summed cross-entropy against the grey intensities plus the KL. A Bernoulli has
  no density at a grey value, so this is not the negative of a bound on any log-likelihood of the images.
"""

import argparse

import torch

from aevb.build import load_model
from aevb.evaluate import load_datamodule


def reconstruction_and_kl(model, x: torch.Tensor, eps: torch.Tensor, keras_noise: bool = False):
    """Per image: -log p(x|z) summed over the pixels (the cross-entropy, for targets binary or grey) at
    z = mu + sigma * eps (eq. 10), or at the Keras example's z = mu + sigma^2 * eps; and KL(q(z|x) || p(z)), the
    tutorials' p(z) being N(0, I)."""
    posterior = model.posterior(x)
    z = posterior.mean + posterior.log_var.exp() * eps if keras_noise else posterior.rsample(1, eps.unsqueeze(0))[0]
    return -model.likelihood.log_prob(model.decoder(z), x), posterior.kl_to(model.prior)


@torch.no_grad()
def tutorial_losses(model, binary: torch.Tensor, grey: torch.Tensor, seed: int = 0) -> dict[str, float]:
    torch.manual_seed(seed)
    eps = torch.randn(len(binary), model.latent_dim)
    right, kl = reconstruction_and_kl(model, binary, eps)
    keras_z, _ = reconstruction_and_kl(model, binary, eps, keras_noise=True)  # the same eps, scaled as the example does
    grey_ce, grey_kl = reconstruction_and_kl(model, grey, torch.randn_like(eps))
    pixels = binary[0].numel()
    return {
        "lower bound (binarised, beta = 1)": -(right + kl).mean().item(),
        "Keras loss as written (mean over pixels + 5e-4 KL, sigma^2 noise)": (keras_z / pixels + 5e-4 * kl).mean().item(),
        "Keras loss x 784 (sum over pixels + 0.392 KL, sigma^2 noise)": (keras_z + 5e-4 * pixels * kl).mean().item(),
        "Keras loss x 784 with the noise scaled by sigma": (right + 5e-4 * pixels * kl).mean().item(),
        "reconstruction term with sigma^2 noise (the example's)": -keras_z.mean().item(),
        "reconstruction term with sigma noise (the bound's)": -right.mean().item(),
        "KL (nats)": kl.mean().item(),
        "PyTorch tutorial loss on grey intensities (summed BCE + KL)": (grey_ce + grey_kl).mean().item(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("--data-dir", default=None, help="where the data files are (default: the run's own)")
    parser.add_argument("--images", type=int, default=10_000, help="how many test images (default: all 10,000)")
    args = parser.parse_args()
    model = load_model(args.checkpoint)
    datamodule = load_datamodule(args.checkpoint, args.data_dir)
    binary, grey = datamodule.eval_splits["test"][: args.images], datamodule.splits["test"][: args.images]
    for name, value in tutorial_losses(model, binary.float(), grey.float()).items():
        print(f"{value:12.4f}  {name}")


if __name__ == "__main__":
    main()
