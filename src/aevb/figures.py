"""aevb-figures: redraw the paper's Figures 2 to 5 from the runs of one or more sweeps.

  uv run aevb-figures outputs/figure2_mnist/<time> outputs/figure2_mnist_wake_sleep/<time> outputs/figure3_mnist/<time>

Figure 2: the lower bound on the training and test sets against training samples seen (log axis), one panel per
latent size, every algorithm in the sweeps overlaid (AEVB red, wake-sleep green), with the paper's digitised curves
faint beneath (aevb.paper.curves); runs that differ only in their seeds as their mean in a band of their range, runs
that differ in a setting (a step size) labelled by it, in a faint envelope. Figure 3: the estimated marginal likelihood
(App. D) of AEVB, wake-sleep and MCEM, one panel per training-set size, with the paper's curves to their own end (6e7
and 6.8e7 samples). Figure 4: the learned 2-D manifold of a finished AEVB run with N_z = 2. Figure 5: random samples
of finished AEVB MNIST runs with N_z in {2, 5, 10, 20}; where several runs qualify (seeds), the first is drawn and the
others are named. Each is written as PNG and PDF, and logged to TensorBoard under <out>/tensorboard.
"""

import argparse
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402
from torch.utils.tensorboard import SummaryWriter  # noqa: E402

from aevb.build import load_model  # noqa: E402
from aevb.config.hydra_glue import defines_no_run  # noqa: E402
from aevb.paper.curves import paper_curve  # noqa: E402
from aevb.paper.targets import FIGURE_3, LATENT_SIZES  # noqa: E402
from aevb.runs.records import find_runs  # noqa: E402
from aevb.runs.results import RunResults  # noqa: E402
from aevb.runs.resume import flatten  # noqa: E402
from aevb.tracking.image_tiles import tile  # noqa: E402

TITLES = {"mnist": "MNIST", "frey_face": "Frey Face"}


# the paper's: AEVB red, wake-sleep green
COLOURS = {"AEVB": "tab:red", "wake-sleep": "tab:green", "MCEM": "tab:blue"}  # any other algorithm: matplotlib's next
SPARE_COLOURS = [
    "tab:orange",
    "tab:purple",
    "tab:brown",
    "tab:pink",
    "tab:olive",
    "tab:cyan",
    "tab:gray",
    "gold",
    "navy",
    "teal",
    "maroon",
    "magenta",
]  # variants, in the order first met in a figure
SPLIT_STYLES = (("train", "-"), ("test", "--"))


def figure_2_runs(runs: list) -> list:
    """The runs Figure 2 draws: lower-bound curves on the whole training set and whole evaluation splits."""
    return [run for run in runs if run.evaluates_whole_splits and run.curve("lower_bound/train")]


def figure_3_runs(runs: list) -> list:
    """The runs Figure 3 draws: those with the Appendix D estimate of log p(x)."""
    return [run for run in runs if run.curve("log_px_hmc/train")]


PAPER_STYLE = {"alpha": 0.35, "linewidth": 2.5}  # the paper's curves: faint and wide, under ours


def draw_paper_curves(ax, figure: int, dataset: str, scale: float = 1.0, **panel) -> None:
    """The paper's digitised curves of one panel (aevb.paper.curves), faint, in its colours and line styles; the
    stretch the paper interpolated between sparse evaluations (early Frey Face) dotted."""
    for algorithm in ("AEVB", "wake-sleep", "MCEM"):
        for split, style in SPLIT_STYLES:
            curve = paper_curve(figure, dataset, algorithm, split, **panel)
            if curve is None:
                continue
            x = [n / scale for n in curve.samples]
            measured = [i for i, flag in enumerate(curve.interpolated) if not flag]
            early = [i for i, flag in enumerate(curve.interpolated) if flag] + measured[:1]
            label = f"paper {algorithm} ({split})" if split == "train" else None
            ax.plot([x[i] for i in measured], [curve.values[i] for i in measured], style, color=COLOURS[algorithm],
                    label=label, **PAPER_STYLE)  # fmt: skip
            if len(early) > 1:
                ax.plot([x[i] for i in early], [curve.values[i] for i in early], ":", color=COLOURS[algorithm], **PAPER_STYLE)


PICKED = "picked"  # the step size of a run whose probe chose it (aevb.step_size): its outcome, not a setting


def settings(run: RunResults) -> dict:
    """A run's config as {dotted key: value}, without where it ran and how it was labelled
    (aevb.config.hydra_glue.NOT_DEFINING_A_RUN); the step size reads PICKED where the paper's protocol chose it, so that
    seeds whose probes picked different step sizes are one curve, the protocol's, apart from runs at a fixed one."""
    config = flatten(OmegaConf.to_container(run.config, resolve=True))
    if run.step_size_selection:
        config["optimizer.lr"] = PICKED
    return {key: value for key, value in config.items() if not defines_no_run(key)}


def is_seed(key: str) -> bool:
    """Whether a setting is a random seed (seed, data.shuffle_seed): runs that differ only in these are repeats."""
    return "seed" in key.rpartition(".")[2]


PANEL_KEYS = ("model.latent_dim", "data.train_limit")  # what tells a figure's panels apart, not a curve's variants


def differing_keys(each: list[dict]) -> list[str]:
    """The settings other than seeds whose values differ among the runs' `each` (settings), shallower keys first; a
    key that varies as one already named is left out, as is a key some runs lack (their configs predate it: records of
    older code are compared on what they hold), the model (the algorithm has its colour) and the panel's keys
    (PANEL_KEYS)."""
    shared = set.intersection(*(set(config) for config in each)) if each else set()
    keys = sorted(shared - {*PANEL_KEYS, "model._target_"}, key=lambda key: (key.count("."), key))
    differing, partitions = [], set()
    for key in (key for key in keys if not is_seed(key)):
        values = [repr(config[key]) for config in each]
        partition = tuple(values.index(value) for value in values)  # which runs share a value
        if len(set(values)) > 1 and partition not in partitions:
            differing.append(key)
            partitions.add(partition)
    return differing


def short_names(keys: list[str]) -> dict[str, str]:
    """Each key by its last part (lr), unless two of `keys` share it."""
    last = [key.rpartition(".")[2] for key in keys]
    return {key: name if last.count(name) == 1 else key for key, name in zip(keys, last, strict=True)}


def repeats(runs: list) -> list[list]:
    """`runs` grouped into runs that differ in nothing but their seeds (and panel): the paper protocol's pick first (a
    group whose step size the probe chose, then the one with the most seeds), then the others in the order first met."""
    each = [settings(run) for run in runs]
    keys, groups = differing_keys(each), {}
    for run, config in zip(runs, each, strict=True):
        groups.setdefault(tuple(repr(config[key]) for key in keys), []).append(run)
    return sorted(groups.values(), key=lambda group: (group[0].step_size_selection is None, -len(group)))


def variant_styles(runs: list) -> dict[str, tuple[str, str]]:
    """Each run's legend label and colour, the same in every panel of a figure. Per algorithm, runs that differ in
    nothing but their seeds and their panel are one variant; the first (repeats: the paper protocol's pick) is
    "ours <algorithm>" in the algorithm's colour, and each other is named by the settings in which it differs from
    that one ("ours AEVB (lr=0.02)") and has a colour of its own."""
    by_algorithm: dict[str, list] = {}
    for run in runs:
        by_algorithm.setdefault(run.algorithm, []).append(run)
    styles, spare = {}, iter(SPARE_COLOURS * len(runs))
    for algorithm, alike in by_algorithm.items():
        variants = repeats(alike)
        each = [settings(group[0]) for group in variants]
        keys = differing_keys(each)
        short, reference = short_names(keys), each[0]
        for index, (group, config) in enumerate(zip(variants, each, strict=True)):
            changed = ", ".join(f"{short[key]}={config[key]}" for key in keys if config[key] != reference[key])
            colour = COLOURS[algorithm] if index == 0 and algorithm in COLOURS else next(spare)
            styles.update({run.name: (f"ours {algorithm}" + (f" ({changed})" if changed else ""), colour) for run in group})
    return styles


def spread(runs: list, tag: str) -> tuple[list[float], list[float], list[float], list[float]]:
    """At the samples every run evaluated: the samples, and the mean, lowest and highest of the runs' values."""
    curves = [dict(run.curve(tag)) for run in runs]
    samples = sorted(set.intersection(*(set(curve) for curve in curves)))
    values = [[curve[n] for curve in curves] for n in samples]
    return samples, [sum(v) / len(v) for v in values], [min(v) for v in values], [max(v) for v in values]


BAND_ALPHA, ENVELOPE_ALPHA = 0.25, 0.08  # the seeds' spread around their mean; the range over an algorithm's variants


def draw_runs(ax, runs: list, tag: str, styles: dict[str, tuple[str, str]], scale: float = 1.0) -> None:
    """Our curves of `tag` (train solid, test dashed), each variant in its label and colour (variant_styles). Runs of a
    variant that differ only in their seeds are one line, their mean, in a band from their lowest to their highest
    value; where an algorithm has several variants in the panel, a faint band spans all of its runs, the envelope; a
    one-point run is a marker."""
    by_algorithm: dict[str, dict[tuple, list]] = {}
    for run in runs:
        by_algorithm.setdefault(run.algorithm, {}).setdefault(styles[run.name], []).append(run)
    for algorithm, variants in by_algorithm.items():
        for (label, colour), group in variants.items():
            for split, style in SPLIT_STYLES:
                if not all(run.curve(f"{tag}/{split}") for run in group):
                    continue
                samples, mean, low, high = spread(group, f"{tag}/{split}")
                x = [n / scale for n in samples]
                ax.plot(x, mean, style, color=colour, linewidth=1.2, marker="o" if len(x) == 1 else None, markersize=3,
                        label=f"{label} ({split})")  # fmt: skip
                if len(group) > 1:
                    ax.fill_between(x, low, high, color=colour, alpha=BAND_ALPHA, linewidth=0)
        alike = [run for group in variants.values() for run in group]
        for split, _ in SPLIT_STYLES if len(variants) > 1 else ():
            if all(run.curve(f"{tag}/{split}") for run in alike):
                samples, _, low, high = spread(alike, f"{tag}/{split}")
                ax.fill_between([n / scale for n in samples], low, high, color=COLOURS.get(algorithm, "tab:gray"),
                                alpha=ENVELOPE_ALPHA, linewidth=0)  # fmt: skip


def figure_2(runs: list, dataset: str) -> plt.Figure:
    """Lower bound per datapoint against training samples evaluated, one panel per latent size, every algorithm
    overlaid, the paper's curves faint beneath."""
    runs = [run for run in figure_2_runs(runs) if run.dataset == dataset]
    latent_sizes = sorted({run.latent_dim for run in runs} | set(LATENT_SIZES.get(dataset, ())))
    styles = variant_styles(runs)
    size = (3.2 * len(latent_sizes), 3.4)
    figure, axes = plt.subplots(1, len(latent_sizes), figsize=size, sharex=True, sharey=True, squeeze=False)
    for ax, latent_dim in zip(axes[0], latent_sizes, strict=True):
        draw_paper_curves(ax, 2, dataset, latent_dim=latent_dim)
        draw_runs(ax, [run for run in runs if run.latent_dim == latent_dim], "lower_bound", styles)
        ax.set_xscale("log")
        ax.set_title(f"{TITLES.get(dataset, dataset)}, $N_z$ = {latent_dim}")
        ax.set_xlabel("# training samples evaluated")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("lower bound per datapoint (nats)")
    bottom, top = {"mnist": (-150, -95), "frey_face": (0, 1600)}.get(dataset, (None, None))  # the paper's axes
    curves = [run.curve(f"lower_bound/{split}") for run in runs for split, _ in SPLIT_STYLES]
    ends = [curve[-1][1] for curve in curves if curve]
    if bottom is not None:
        axes[0][0].set_ylim(min([bottom, *(end - 5 for end in ends)]), max([top, *(end + 5 for end in ends)]))
    legend_below(figure, axes)
    return figure


def figure_3(runs: list) -> plt.Figure:
    """Estimated marginal likelihood (App. D) against training samples evaluated, one panel per N_train, with the
    paper's curves (to its own end, 6e7 and 6.8e7 samples) faint beneath."""
    runs = figure_3_runs(runs)
    train_sizes = sorted({run.train_size for run in runs} | set(FIGURE_3))
    styles = variant_styles(runs)
    figure, axes = plt.subplots(1, len(train_sizes), figsize=(4.5 * len(train_sizes), 3.8), squeeze=False)
    for ax, train_size in zip(axes[0], train_sizes, strict=True):
        draw_paper_curves(ax, 3, "mnist", scale=1e6, n_train=train_size)
        draw_runs(ax, [run for run in runs if run.train_size == train_size], "log_px_hmc", styles, scale=1e6)
        ax.set_title(f"MNIST, $N_{{train}}$ = {train_size:,}, $N_z$ = 3")
        ax.set_xlabel("# training samples evaluated (millions)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("estimated log p(x) per datapoint (nats)")
    legend_below(figure, axes)
    return figure


def legend_below(figure: plt.Figure, axes) -> None:
    """One legend for the whole figure, under the panels, readable at print size: an entry per curve, drawn as its
    training line (its test line is the dashed twin), the figure made taller by the legend's height."""
    handles, columns = {}, max(1, min(6, int(figure.get_figwidth() / 2.8)))  # about 2.8 inches a label
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if not label.endswith(" (test)"):
                handles.setdefault(label.removesuffix(" (train)"), handle)
    handles = dict(sorted(handles.items(), key=lambda item: not item[0].startswith("paper")))  # the paper's first
    figure.legend(
        handles.values(),
        handles.keys(),
        loc="lower center",
        ncol=columns,
        fontsize=8,
        frameon=False,
        title="solid: train, dashed: test; faint: the paper (dotted where it interpolated)\n"
        "dark band: the range of a curve's seeds; faint band: of all an algorithm's runs (the envelope)",
        title_fontsize=8,
    )
    legend_height = 0.2 * (math.ceil(len(handles) / columns) + 2) + 0.15  # inches: the rows and the title's two
    height = figure.get_figheight() + legend_height
    figure.set_figheight(height)
    figure.tight_layout(rect=(0, legend_height / height, 1, 1))


def image_figure(images: torch.Tensor, nrow: int, title: str) -> plt.Figure:
    grid = tile(images, per_row=nrow, padding=1)
    figure, ax = plt.subplots(figsize=(6, 6 * grid.shape[1] / grid.shape[2]))
    ax.imshow(grid.permute(1, 2, 0).numpy(), cmap="gray", vmin=0, vmax=1)
    ax.set_title(title)
    ax.axis("off")
    figure.tight_layout()
    return figure


def figure_4(run: RunResults, model, points_per_axis: int = 20) -> plt.Figure | None:
    """The learned manifold: decoder means over a 2-D grid of latent values; None (and said) under a prior other than
    N(0, I), whose quantiles the grid's inverse Gaussian CDF would not be."""
    if not model.prior.is_standard_normal:
        print(f"aevb-figures: no Figure 4 from {run.name}: its grid is of N(0, I) quantiles, and its prior is {model.prior!r}")
        return None
    title = f"{TITLES.get(run.dataset, run.dataset)}: learned 2-D manifold"
    return image_figure(model.manifold(points_per_axis), points_per_axis, title)


def figure_5(run: RunResults, model, num_samples: int = 100, seed: int = 0) -> plt.Figure:
    """Decoder means of random draws z ~ p(z)."""
    samples = model.sample(num_samples, generator=torch.Generator().manual_seed(seed))
    return image_figure(samples, 10, f"{TITLES.get(run.dataset, run.dataset)}, $N_z$ = {run.latent_dim}: samples")


def draw_all(runs: list[RunResults], output_dir: Path, tensorboard: bool = True) -> list[Path]:
    """Every figure the runs allow, as PNG and PDF in output_dir; also logged to TensorBoard in output_dir/tensorboard."""
    figure_2_datasets = sorted({run.dataset for run in figure_2_runs(runs)})
    figures = {f"figure2_{dataset}": figure_2(runs, dataset) for dataset in figure_2_datasets}
    if figure_3_runs(runs):
        figures["figure3_mnist"] = figure_3(runs)
    for run in figure_2_runs(runs):
        wanted_4 = run.latent_dim == 2
        wanted_5 = run.dataset == "mnist" and run.latent_dim in (2, 5, 10, 20)
        if run.algorithm != "AEVB" or not run.finished or not run.checkpoint.is_file() or not (wanted_4 or wanted_5):
            continue
        name_4, name_5 = f"figure4_{run.dataset}", f"figure5_mnist_{run.latent_dim}d"
        if (name_4 in figures or not wanted_4) and (name_5 in figures or not wanted_5):
            print(f"aevb-figures: {name_4 if wanted_4 else name_5} is drawn from another run already; {run.name} left out")
            continue
        model = load_model(run.checkpoint)  # once per run, for whichever figures need it
        if wanted_4 and name_4 not in figures and (manifold := figure_4(run, model)) is not None:
            figures[name_4] = manifold
        if wanted_5 and name_5 not in figures:
            figures[name_5] = figure_5(run, model)
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
    try:
        runs = find_runs(*args.sweep_dirs)
    except FileNotFoundError as error:
        parser.exit(1, f"aevb-figures: {error}\n")
    if not runs:
        parser.error(f"no runs with a config.yaml and tensorboard/ under {', '.join(map(str, args.sweep_dirs))}")
    for path in draw_all(runs, args.out or args.sweep_dirs[0] / "figures"):
        print(path)
