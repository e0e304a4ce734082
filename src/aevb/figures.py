"""aevb-figures: redraw the paper's Figures 2, 4 and 5 from the runs of one or more sweeps.

  uv run aevb-figures outputs/figure2_mnist/<time> outputs/figure2_frey_face/<time>

Figure 2: the lower bound on the training and test sets against training samples seen (log
axis), one panel per latent size, with the paper's digitised values as markers. Figure 4: the
learned 2-D manifold of every N_z = 2 run. Figure 5: random samples of the MNIST runs with
N_z in {2, 5, 10, 20}. Each is written as PNG and PDF, and logged to TensorBoard under
<out>/tensorboard.
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torch.utils.tensorboard import SummaryWriter  # noqa: E402
from torchvision.utils import make_grid  # noqa: E402

from aevb.evaluate import load_model  # noqa: E402
from aevb.paper import FIGURE_2  # noqa: E402
from aevb.runs import Run, find_runs  # noqa: E402

TITLES = {"mnist": "MNIST", "frey_face": "Frey Face"}


def figure_2(runs: list[Run], dataset: str) -> plt.Figure:
    """Lower bound per datapoint against training samples evaluated, one panel per latent size."""
    runs = [run for run in runs if run.dataset == dataset and run.curve("lower_bound/train")]
    figure, axes = plt.subplots(1, len(runs), figsize=(3.2 * len(runs), 3.2), sharey=True, squeeze=False)
    for ax, run in zip(axes[0], runs, strict=True):
        for split, style in (("train", "-"), ("test", "--")):
            samples, values = zip(*run.curve(f"lower_bound/{split}"), strict=True)
            ax.plot(samples, values, style, color="tab:red", label=f"AEVB ({split})")
        paper = [(n, values[run.latent_dim]) for n, values in FIGURE_2.get(dataset, {}).items() if run.latent_dim in values]
        if paper:
            counts, pairs = zip(*paper, strict=True)
            ax.plot(counts, [train for train, _ in pairs], "k^", markersize=5, label="paper (train)")
            ax.plot(counts, [test for _, test in pairs], "kv", markersize=5, fillstyle="none", label="paper (test)")
        ax.set_xscale("log")
        ax.set_title(f"{TITLES.get(dataset, dataset)}, $N_z$ = {run.latent_dim}")
        ax.set_xlabel("# training samples evaluated")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("lower bound per datapoint (nats)")
    bottom = {"mnist": -150, "frey_face": 0}.get(dataset)  # the paper's axes, widened to show every run's end
    if bottom is not None:
        lowest_end = min(min(run.curve("lower_bound/train")[-1][1], run.curve("lower_bound/test")[-1][1]) for run in runs)
        axes[0][0].set_ylim(bottom=min(bottom, lowest_end - 5))
    axes[0][-1].legend(loc="lower right", fontsize=7)
    figure.tight_layout()
    return figure


def manifold_latents(points_per_axis: int) -> torch.Tensor:
    """Linearly spaced points on the unit square through the inverse Gaussian CDF (App. A, Figure 4)."""
    quantiles = (torch.arange(points_per_axis, dtype=torch.float64) + 0.5) / points_per_axis
    values = torch.distributions.Normal(0.0, 1.0).icdf(quantiles).float()
    rows, columns = torch.meshgrid(values.flip(0), values, indexing="ij")  # z_2 grows upwards, z_1 rightwards
    return torch.stack([columns, rows], dim=-1).reshape(-1, 2)


def image_figure(images: torch.Tensor, nrow: int, title: str) -> plt.Figure:
    grid = make_grid(images.float().cpu().clamp(0, 1), nrow=nrow, padding=1, pad_value=1.0)
    figure, ax = plt.subplots(figsize=(6, 6 * grid.shape[1] / grid.shape[2]))
    ax.imshow(grid.permute(1, 2, 0).numpy(), cmap="gray", vmin=0, vmax=1)
    ax.set_title(title)
    ax.axis("off")
    figure.tight_layout()
    return figure


@torch.no_grad()
def figure_4(run: Run, model, points_per_axis: int = 20) -> plt.Figure:
    """The learned manifold: decoder means over a 2-D grid of latent values."""
    images = model.decode_mean(manifold_latents(points_per_axis))
    return image_figure(images, points_per_axis, f"{TITLES.get(run.dataset, run.dataset)}: learned 2-D manifold")


@torch.no_grad()
def figure_5(run: Run, model, num_samples: int = 100, seed: int = 0) -> plt.Figure:
    """Decoder means of random draws z ~ N(0, I)."""
    z = torch.randn(num_samples, model.latent_dim, generator=torch.Generator().manual_seed(seed))
    return image_figure(model.decode_mean(z), 10, f"{TITLES.get(run.dataset, run.dataset)}, $N_z$ = {run.latent_dim}: samples")


def draw_all(runs: list[Run], output_dir: Path, tensorboard: bool = True) -> list[Path]:
    """Every figure the runs allow, as PNG and PDF in output_dir; also logged to TensorBoard in output_dir/tensorboard."""
    figures = {f"figure2_{dataset}": figure_2(runs, dataset) for dataset in sorted({run.dataset for run in runs})}
    for run in runs:
        wanted_4 = run.latent_dim == 2
        wanted_5 = run.dataset == "mnist" and run.latent_dim in (2, 5, 10, 20)
        if not run.checkpoint.is_file() or not (wanted_4 or wanted_5):
            continue
        model = load_model(run.checkpoint)  # once per run, for whichever figures need it
        if wanted_4:
            figures[f"figure4_{run.dataset}"] = figure_4(run, model)
        if wanted_5:
            figures[f"figure5_mnist_{run.latent_dim}d"] = figure_5(run, model)
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    writer = SummaryWriter(str(output_dir / "tensorboard")) if tensorboard else None
    for name, figure in figures.items():
        for suffix in ("png", "pdf"):
            metadata = {"CreationDate": None} if suffix == "pdf" else None  # the same figure gives the same bytes
            figure.savefig(output_dir / f"{name}.{suffix}", dpi=150, metadata=metadata)
            written.append(output_dir / f"{name}.{suffix}")
        if writer:
            writer.add_figure(f"figures/{name}", figure)
        plt.close(figure)
    if writer:
        writer.close()
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="aevb-figures", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("sweep_dirs", nargs="+", type=Path, help="sweep (or run) directories written by aevb-train")
    parser.add_argument("--out", type=Path, help="where to write the figures (default: <first sweep dir>/figures)")
    args = parser.parse_args(argv)
    runs = find_runs(*args.sweep_dirs)
    if not runs:
        parser.error(f"no runs with a config.yaml and tensorboard/ under {', '.join(map(str, args.sweep_dirs))}")
    for path in draw_all(runs, args.out or args.sweep_dirs[0] / "figures"):
        print(path)
