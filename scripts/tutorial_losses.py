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
import torch.nn.functional as F

from aevb.build import load_model
from aevb.evaluate import load_datamodule


def cross_entropy(model, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """-log p(x|z) summed over the pixels, per image, for targets in [0, 1] (binary or grey)."""
    logits = model.decoder(z).float()
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


@torch.no_grad()
def tutorial_losses(model, binary: torch.Tensor, grey: torch.Tensor, seed: int = 0) -> dict[str, float]:
    torch.manual_seed(seed)
    mean, log_var = model.encoder(binary)
    kl = 0.5 * (mean.pow(2) + log_var.exp() - 1 - log_var).sum(1)  # KL(q(z|x) || N(0, I)), eq. 10
    eps = torch.randn_like(mean)
    right = cross_entropy(model, binary, mean + (0.5 * log_var).exp() * eps)  # z = mu + sigma * eps (eq. 10)
    keras_z = cross_entropy(model, binary, mean + log_var.exp() * eps)  # the example's sampling line: sigma^2 * eps
    pixels = binary[0].numel()
    grey_mean, grey_log_var = model.encoder(grey)
    grey_kl = 0.5 * (grey_mean.pow(2) + grey_log_var.exp() - 1 - grey_log_var).sum(1)
    grey_ce = cross_entropy(model, grey, grey_mean + (0.5 * grey_log_var).exp() * torch.randn_like(grey_mean))
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
