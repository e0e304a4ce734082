"""aevb-figures: redraw the paper's Figures 2 to 5 from the runs of one or more sweeps.

  uv run aevb-figures outputs/figure2_mnist/<time> outputs/figure2_mnist_wake_sleep/<time> outputs/figure3_mnist/<time>

Figure 2: the lower bound on the training and test sets against training samples seen (log
axis), one panel per latent size, every algorithm in the sweeps overlaid (AEVB red, wake-sleep
green), with the paper's digitised values as markers. Figure 3: the estimated marginal
likelihood (App. D) of AEVB, wake-sleep and MCEM, one panel per training-set size. Figure 4:
the learned 2-D manifold of every AEVB run with N_z = 2. Figure 5: random samples of the AEVB
MNIST runs with N_z in {2, 5, 10, 20}. Each is written as PNG and PDF, and logged to
TensorBoard under <out>/tensorboard.
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
from aevb.paper import FIGURE_2, FIGURE_2_WAKE_SLEEP, FIGURE_3  # noqa: E402
from aevb.runs import Run, find_runs  # noqa: E402

TITLES = {"mnist": "MNIST", "frey_face": "Frey Face"}


COLOURS = {"AEVB": "tab:red", "wake-sleep": "tab:green", "MCEM": "tab:blue"}  # the paper's: AEVB red, wake-sleep green
SPLIT_STYLES = (("train", "-"), ("test", "--"))


def figure_2_runs(runs: list[Run]) -> list[Run]:
    """The runs Figure 2 draws: lower-bound curves on the whole training set and whole evaluation splits."""
    return [run for run in runs if run.evaluates_whole_splits and run.curve("lower_bound/train")]


def figure_3_runs(runs: list[Run]) -> list[Run]:
    """The runs Figure 3 draws: those with an estimated marginal likelihood."""
    return [run for run in runs if run.curve("marginal_likelihood/train")]


def figure_2(runs: list[Run], dataset: str) -> plt.Figure:
    """Lower bound per datapoint against training samples evaluated, one panel per latent size, every algorithm overlaid."""
    runs = [run for run in figure_2_runs(runs) if run.dataset == dataset]
    latent_sizes = sorted({run.latent_dim for run in runs})
    figure, axes = plt.subplots(1, len(latent_sizes), figsize=(3.2 * len(latent_sizes), 3.2), sharey=True, squeeze=False)
    for ax, latent_dim in zip(axes[0], latent_sizes, strict=True):
        for run in (run for run in runs if run.latent_dim == latent_dim):
            for split, style in SPLIT_STYLES:
                samples, values = zip(*run.curve(f"lower_bound/{split}"), strict=True)
                ax.plot(samples, values, style, color=COLOURS.get(run.algorithm), label=f"{run.algorithm} ({split})")
        paper = [(n, values[latent_dim]) for n, values in FIGURE_2.get(dataset, {}).items() if latent_dim in values]
        if paper:
            counts, pairs = zip(*paper, strict=True)
            ax.plot(counts, [train for train, _ in pairs], "k^", markersize=5, label="paper AEVB (train)")
            ax.plot(counts, [test for _, test in pairs], "kv", markersize=5, fillstyle="none", label="paper AEVB (test)")
        if any(run.algorithm == "wake-sleep" for run in runs):
            for n, values in FIGURE_2_WAKE_SLEEP.get(dataset, {}).items():
                if latent_dim in values:
                    ax.plot([n], [values[latent_dim]], "x", color="darkgreen", markersize=7, label="paper wake-sleep")
        ax.set_xscale("log")
        ax.set_title(f"{TITLES.get(dataset, dataset)}, $N_z$ = {latent_dim}")
        ax.set_xlabel("# training samples evaluated")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("lower bound per datapoint (nats)")
    bottom = {"mnist": -150, "frey_face": 0}.get(dataset)  # the paper's axes, widened to show every run's end
    if bottom is not None:
        lowest_end = min(run.curve(f"lower_bound/{split}")[-1][1] for run in runs for split, _ in SPLIT_STYLES)
        axes[0][0].set_ylim(bottom=min(bottom, lowest_end - 5))
    axes[0][-1].legend(loc="lower right", fontsize=6)
    figure.tight_layout()
    return figure


def figure_3(runs: list[Run]) -> plt.Figure:
    """Estimated marginal likelihood (App. D) against training samples evaluated, one panel per N_train."""
    runs = figure_3_runs(runs)
    train_sizes = sorted({run.train_size for run in runs})
    figure, axes = plt.subplots(1, len(train_sizes), figsize=(4.5 * len(train_sizes), 3.6), squeeze=False)
    for ax, train_size in zip(axes[0], train_sizes, strict=True):
        chosen = [run for run in runs if run.train_size == train_size]
        for run in chosen:
            for split, style in SPLIT_STYLES:
                samples, values = zip(*run.curve(f"marginal_likelihood/{split}"), strict=True)
                millions = [n / 1e6 for n in samples]
                ax.plot(millions, values, style, color=COLOURS.get(run.algorithm), label=f"{run.algorithm} ({split})")
        end = max(run.curve("marginal_likelihood/train")[-1][0] for run in chosen) / 1e6
        for algorithm, (train, test) in FIGURE_3.get(train_size, {}).items():  # the paper's values at its last sample count
            ax.plot([end], [train], ">", color=COLOURS[algorithm], markersize=6)
            ax.plot([end], [test], ">", color=COLOURS[algorithm], markersize=6, fillstyle="none")
        ax.set_title(f"MNIST, $N_{{train}}$ = {train_size:,}, $N_z$ = {chosen[0].latent_dim}")
        ax.set_xlabel("# training samples evaluated (millions)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("estimated log p(x) per datapoint (nats)")
    axes[0][-1].legend(loc="lower right", fontsize=6, title="> paper's end value (filled: train)", title_fontsize=6)
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
    figure_2_datasets = sorted({run.dataset for run in figure_2_runs(runs)})
    figures = {f"figure2_{dataset}": figure_2(runs, dataset) for dataset in figure_2_datasets}
    if figure_3_runs(runs):
        figures["figure3_mnist"] = figure_3(runs)
    for run in figure_2_runs(runs):
        wanted_4 = run.latent_dim == 2
        wanted_5 = run.dataset == "mnist" and run.latent_dim in (2, 5, 10, 20)
        if run.algorithm != "AEVB" or not run.checkpoint.is_file() or not (wanted_4 or wanted_5):
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
