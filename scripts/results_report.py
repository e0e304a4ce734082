"""Write docs/results.md from real sweeps: our numbers beside the paper's Figures 2 and 3, with the figures.

  uv run python scripts/results_report.py outputs/figure2_mnist/<time> outputs/figure2_frey_face/<time> \
      outputs/figure2_mnist_wake_sleep/<time> outputs/figure3_mnist/<time> \
      --figures docs/figures --notes docs/results_notes.md > docs/results.md

Every number comes from the runs' TensorBoard logs, metrics.json and eval.json (aevb-eval).
"""

import argparse
import platform
import sys
from pathlib import Path

import torch

from aevb.figures import TITLES, draw_all, figure_2_runs, figure_3_runs
from aevb.paper import FIGURE_2, FIGURE_2_WAKE_SLEEP, FIGURE_3, FIGURE_3_END_SAMPLES, TOLERANCE
from aevb.runs import Run, find_runs


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def comparison_table(runs: list[Run], dataset: str) -> list[str]:
    """Per latent size and per sample count where both we and the paper have a value."""
    lines = [
        "| N_z | samples | train | test | paper | train - paper | test - paper | within tolerance |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        for samples, values in FIGURE_2.get(dataset, {}).items():
            train, test = run.value_at("lower_bound/train", samples), run.value_at("lower_bound/test", samples)
            if run.latent_dim not in values or train is None:
                continue
            paper_train, paper_test = values[run.latent_dim]
            paper = fmt(paper_train) if paper_train == paper_test else f"{fmt(paper_train)} / {fmt(paper_test)}"
            ok = abs(train - paper_train) <= TOLERANCE[dataset] and abs(test - paper_test) <= TOLERANCE[dataset]
            lines.append(
                f"| {run.latent_dim} | {samples:.0e} | {fmt(train)} | {fmt(test)} | {paper} | "
                f"{train - paper_train:+.1f} | {test - paper_test:+.1f} | {'yes' if ok else '**no**'} |"
            )
    return lines


def wake_sleep_table(runs: list[Run], dataset: str) -> list[str]:
    """AEVB against wake-sleep at the same latent size and the same number of samples: the wake-sleep run's last."""
    lines = [
        "| N_z | samples | AEVB train | AEVB test | wake-sleep train | wake-sleep test | AEVB - wake-sleep (train / test) | "
        "paper wake-sleep |",
        "|---|---|---|---|---|---|---|---|",
    ]
    aevb = {run.latent_dim: run for run in runs if run.algorithm == "AEVB"}
    for run in (run for run in runs if run.algorithm == "wake-sleep" and run.curve("lower_bound/train")):
        samples = run.curve("lower_bound/train")[-1][0]
        ws = [run.value_at(f"lower_bound/{split}", samples) for split in ("train", "test")]
        ours = [
            aevb[run.latent_dim].value_at(f"lower_bound/{split}", samples) if run.latent_dim in aevb else None
            for split in ("train", "test")
        ]
        margin = " / ".join("-" if a is None else f"{a - w:+.1f}" for a, w in zip(ours, ws, strict=True))
        paper = ", ".join(
            f"{v[run.latent_dim]:.0f} at {n:.0e}" for n, v in FIGURE_2_WAKE_SLEEP.get(dataset, {}).items() if run.latent_dim in v
        )
        values = " | ".join(fmt(value) for value in (*ours, *ws))
        lines.append(f"| {run.latent_dim} | {samples:.2e} | {values} | {margin} | {paper or '-'} |")
    return lines


def final_table(runs: list[Run]) -> list[str]:
    lines = [
        "| N_z | algorithm | samples seen | train | val | test | test log p(x) (IS, k) | training time |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        if not run.finished:
            lines.append(f"| {run.latent_dim} | {run.algorithm} | (unfinished) | | | | | |")
            continue
        bounds, evaluation = run.metrics["lower_bound"], run.evaluation
        iwae = "-"
        if evaluation:
            estimate = evaluation["log_likelihood"]
            iwae = f"{estimate['mean']:.2f} +- {estimate['standard_error']:.2f} (k={estimate['num_importance_samples']})"
        lines.append(
            f"| {run.latent_dim} | {run.algorithm} | {run.metrics['samples_seen']:,} | {fmt(bounds.get('train'))} | "
            f"{fmt(bounds.get('val'))} | "
            f"{fmt(bounds.get('test'))} | {iwae} | {run.metrics['wall_clock_seconds'] / 60:.0f} min |"
        )
    return lines


def figure_3_table(runs: list[Run]) -> list[str]:
    lines = [
        "| N_train | algorithm | samples seen | train | test | paper at the end (train / test) | training time |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        if not run.finished:
            lines.append(f"| {run.train_size or '-'} | {run.algorithm} | (unfinished) | | | | |")
            continue
        ours, paper = run.metrics["marginal_likelihood"], FIGURE_3.get(run.train_size, {}).get(run.algorithm)
        paper_text = "-" if paper is None else f"{fmt(paper[0])} / {fmt(paper[1])} at {FIGURE_3_END_SAMPLES[run.train_size]:.1e}"
        lines.append(
            f"| {run.train_size:,} | {run.algorithm} | {run.metrics['samples_seen']:,} | {fmt(ours['train'])} | "
            f"{fmt(ours['test'])} | {paper_text} | {run.metrics['wall_clock_seconds'] / 60:.0f} min |"
        )
    return lines


def figure_3_verdict(runs: list[Run]) -> list[str]:
    """Does AEVB end above each baseline, as the paper reports? One line per N_train and baseline."""
    lines = []
    for train_size in sorted({run.train_size for run in runs if run.finished}):
        final = {
            run.algorithm: run.metrics["marginal_likelihood"] for run in runs if run.finished and run.train_size == train_size
        }
        if "AEVB" not in final:
            continue
        for baseline in ("wake-sleep", "MCEM"):
            if baseline not in final:
                continue
            parts = []
            for split in ("train", "test"):
                ours, theirs = final["AEVB"][split], final[baseline][split]
                verdict = "above" if ours > theirs else "**below**"
                paper, column = FIGURE_3.get(train_size), int(split == "test")
                margin = "" if paper is None else f" (paper: {paper['AEVB'][column] - paper[baseline][column]:+.1f})"
                parts.append(f"{split} {verdict} by {abs(ours - theirs):.1f} nats{margin}")
            lines.append(f"- N_train = {train_size:,}: AEVB against {baseline}: {'; '.join(parts)}.")
    return lines


def report(sweep_dirs: list[Path], figures_dir: Path, notes: str) -> str:
    runs = find_runs(*sweep_dirs)
    figures = draw_all(runs, figures_dir, tensorboard=False)  # docs want the files only
    figure_2_chosen, figure_3_chosen = figure_2_runs(runs), figure_3_runs(runs)
    out = [
        "# Results: Figures 2 and 3 of Kingma & Welling (2013), reproduced",
        "",
        f"Generated by `scripts/results_report.py` from {', '.join(f'`{d}`' for d in sweep_dirs)}; do not edit by hand.",
        f"Report machine: {platform.machine()}, torch {torch.__version__}, Python {platform.python_version()}.",
        "Lower bounds are per datapoint in nats (estimator B, L = 1, the whole split); paper values are digitised from "
        "Figure 2 (`src/aevb/paper.py`; MNIST +-1, Frey Face +-15 nats). Tolerance: 3 nats (MNIST), 50 (Frey Face).",
        "",
    ]
    for dataset in sorted({run.dataset for run in figure_2_chosen}):
        chosen = [run for run in figure_2_chosen if run.dataset == dataset]
        aevb = [run for run in chosen if run.algorithm == "AEVB"]
        out += [f"## Figure 2, {TITLES.get(dataset, dataset)}", "", "AEVB at the paper's sample counts:", ""]
        out += comparison_table(aevb, dataset)
        if any(run.algorithm == "wake-sleep" for run in chosen):
            out += [
                "",
                "AEVB against wake-sleep, at the wake-sleep run's last evaluation:",
                "",
                *wake_sleep_table(chosen, dataset),
            ]
        out += ["", "At the end of each run:", "", *final_table(chosen), ""]
        out += [f"![Figure 2, {TITLES.get(dataset, dataset)}]({figures_dir.name}/figure2_{dataset}.png)", ""]
    if figure_3_chosen:
        out += ["## Figure 3: estimated marginal likelihood (MNIST, 100 hidden units, N_z = 3)", ""]
        estimator, data = figure_3_chosen[0].config.model.marginal_likelihood, figure_3_chosen[0].config.data
        out += [
            f"log p(x) per datapoint by the paper's estimator (Appendix D: HMC, {estimator.num_samples} posterior samples, "
            f"{estimator.leapfrog_steps} leapfrog steps, {estimator.burn_in} burn-in moves), on the first {data.eval_limit} "
            "training and test images, at the end of each run:",
            "",
            *figure_3_table(figure_3_chosen),
            "",
            "Does AEVB end above both baselines, as the paper says?",
            "",
            *figure_3_verdict(figure_3_chosen),
            "",
            f"![Figure 3]({figures_dir.name}/figure3_mnist.png)",
            "",
        ]
    out += ["## Figures 4 and 5", ""]
    images = [path for path in figures if path.suffix == ".png" and path.name.startswith(("figure4", "figure5"))]
    out += [f"![{path.stem}]({figures_dir.name}/{path.name})" for path in images]
    out += ["", "PDF versions of every figure are beside the PNGs in `docs/figures/`.", ""]
    if notes:
        out += [notes.strip(), ""]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep_dirs", nargs="+", type=Path)
    parser.add_argument("--figures", type=Path, default=Path("docs/figures"), help="where the figures go (beside results.md)")
    parser.add_argument("--notes", type=Path, help="a markdown file appended as is (commands, explanations)")
    args = parser.parse_args()
    sys.stdout.write(report(args.sweep_dirs, args.figures, args.notes.read_text() if args.notes else ""))


if __name__ == "__main__":
    main()
