"""Write docs/results.md and the figures of curves from the committed run records (docs/runs/), beside the paper's.

  uv run python scripts/results_report.py                          # from docs/runs/: docs/results.md, docs/figures/
  uv run python scripts/results_report.py --export SWEEP_DIR ...   # first export those sweeps' runs to docs/runs/

A record (aevb.runs.records.RunRecord) is a run's config, final metrics, aevb-eval estimate, step-size choice and curves, as
JSON, without checkpoints or event files. Figures 2 and 3 and every number here are made from the records alone;
Figures 4 and 5 need the decoder's weights, so they are drawn (by --export) from the runs' checkpoints and kept.
"""

import argparse
import platform
import statistics
from collections import defaultdict
from pathlib import Path

import torch

from aevb.figures import TITLES, draw_all, figure_2_runs, figure_3_runs, repeats
from aevb.paper.curves import UNCERTAINTY, paper_curve
from aevb.paper.targets import MEASURED_POINTS, TEST_ONLY, TOLERANCE
from aevb.runs.curves import first_reaching, interpolate
from aevb.runs.records import export_records, find_records, find_runs
from aevb.runs.results import RunResults

ROOT = Path(__file__).resolve().parents[1]
SPLITS = ("train", "test")


def fmt(value: float | None, spread: float | None = None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if not spread else f"{value:.1f} ±{spread / 2:.1f}"


def panels(runs: list[RunResults]) -> dict[tuple, list[list[RunResults]]]:
    """The runs of each curve of a figure, (dataset, algorithm, N_z, N_train), as their variants (aevb.figures.repeats:
    runs that differ only in their seeds together, the probe's pick first, then those at other settings)."""
    curves = defaultdict(list)
    for run in runs:
        curves[(run.dataset, run.algorithm, run.latent_dim, run.train_size)].append(run)
    return {key: repeats(alike) for key, alike in curves.items()}


def mean_and_spread(values: list[float | None]) -> tuple[float | None, float | None]:
    """The mean over seeds and the range (max - min); None if a seed has no value."""
    if not values or any(value is None for value in values):
        return None, None
    return statistics.fmean(values), (max(values) - min(values) if len(values) > 1 else None)


def paper_value(figure: int, dataset: str, algorithm: str, split: str, samples: float, log_x: bool = True, **panel):
    curve = paper_curve(figure, dataset, algorithm, split, **panel)
    return None if curve is None else interpolate(zip(curve.samples, curve.values, strict=True), samples, log_x)


def sample_factor(group: list[RunResults], split: str, samples: float, value: float) -> str:
    """The paper's sample count over ours at which our curve first reaches the paper's value (the geometric mean over
    seeds): 1 is the paper's pace, 0.5 means we need twice its samples; "<f" where a seed has not reached it by its
    last evaluation (f: the paper's count over that last one)."""
    curves = [run.curve(f"lower_bound/{split}") for run in group]
    reached = [first_reaching(curve, value) for curve in curves]
    if None in reached:
        last = min(curve[-1][0] for curve, at in zip(curves, reached, strict=True) if at is None)
        return f"<{samples / last:.2g}"
    return f"{statistics.geometric_mean(samples / at for at in reached):.2g}"


def inside_envelope(runs: list[RunResults], split: str, samples: float, paper: float, uncertainty: float) -> bool | None:
    """Whether the paper's value lies between the lowest and the highest of our runs (every seed and step size) at
    `samples`, widened by the digitisation uncertainty; over the runs that reach `samples` (a variant still training
    neither widens nor voids it), None where none does."""
    values = [value for run in runs if (value := run.value_near(f"lower_bound/{split}", samples)) is not None]
    if not values:
        return None
    return min(values) - uncertainty <= paper <= max(values) + uncertainty


def protocol_at(variants: list[list[RunResults]], samples: float) -> list[RunResults]:
    """The runs that stand for the paper's protocol at `samples`: the curve's first variant (panels: the probe's pick,
    the most seeds), or past its last evaluation the first other variant at the probe's pick that got there (a seed
    trained on to 1e8)."""
    candidates = [variants[0], *(group for group in variants[1:] if group[0].step_size_selection)]
    reached = (group for group in candidates if all(run.value_near("lower_bound/test", samples) is not None for run in group))
    return next(reached, variants[0])


def fidelity_table(runs: list[RunResults], dataset: str) -> tuple[list[str], dict[str, int]]:
    """Ours (the probe's pick: mean ± half the seeds' range; protocol_at) against the paper's curve at the paper's measured points
    (log-interpolated between evaluations on both sides), with the tolerance, the envelope of all our runs of the curve
    and the sample-axis factor; returns the lines and how many points are inside the tolerance and inside the envelope
    on every split compared (test alone where the paper's training value is not a measurement, TEST_ONLY), of how
    many."""
    tolerance, uncertainty = TOLERANCE[dataset], UNCERTAINTY[dataset]
    lines = [
        f"| N_z | algorithm | seeds | samples | ours train | ours test | paper train | paper test | train - paper | "
        f"test - paper | inside ±{tolerance:g} | inside envelope (runs) | sample factor train / test |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    counts = dict.fromkeys(("inside", "enveloped", "total"), 0)
    for (_, algorithm, latent_dim, _), variants in sorted(panels(runs).items(), key=lambda item: (item[0][2], item[0][1])):
        every = [run for variant in variants for run in variant]
        for samples in MEASURED_POINTS[dataset]:
            group = protocol_at(variants, samples)
            splits = ("test",) if samples in TEST_ONLY[dataset] else SPLITS
            ours = {split: mean_and_spread([run.value_near(f"lower_bound/{split}", samples) for run in group])
                    for split in splits}  # fmt: skip
            paper = {split: paper_value(2, dataset, algorithm, split, samples, latent_dim=latent_dim) for split in splits}
            if ours["test"][0] is None or None in paper.values():
                continue
            differences = {split: ours[split][0] - paper[split] for split in splits}
            ok = all(abs(difference) <= tolerance for difference in differences.values())
            enveloped = all(inside_envelope(every, split, samples, paper[split], uncertainty) for split in splits)
            counts["inside"] += ok
            counts["enveloped"] += enveloped
            counts["total"] += 1
            factors = " / ".join(sample_factor(group, split, samples, paper[split]) if split in splits else "-"
                                 for split in SPLITS)  # fmt: skip
            cells = [
                " | ".join(fmt(*ours[split]) if split in splits else "-" for split in SPLITS),
                " | ".join(fmt(paper[split]) if split in splits else "(not compared)" for split in SPLITS),
                " | ".join(f"{differences[split]:+.1f}" if split in splits else "-" for split in SPLITS),
            ]
            lines.append(
                f"| {latent_dim} | {algorithm} | {len(group)} | {samples:.3g} | {' | '.join(cells)} | "
                f"{'yes' if ok else '**no**'} | {'yes' if enveloped else '**no**'} ({len(every)}) | {factors} |"
            )
    return lines, counts


def step_size_table(runs: list[RunResults]) -> list[str]:
    """Each run's step-size probe: every candidate's score on the training split and the winner."""
    lines = [
        "| data | N_train | algorithm | N_z | seed | criterion | probe samples | scores (lr: value) | chosen |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in sorted(runs, key=lambda run: (run.dataset, run.train_size or 0, run.algorithm, run.latent_dim, run.seed)):
        record = run.step_size_selection
        if record is None:
            continue
        scores = ", ".join(f"{lr}: {'diverged' if value is None else f'{value:.1f}'}" for lr, value in record["scores"].items())
        lines.append(
            f"| {TITLES.get(run.dataset, run.dataset)} | {run.train_size:,} | {run.algorithm} | {run.latent_dim} | {run.seed} | "
            f"{record['criterion']} | {record['probe_samples']:,} | {scores} | **{record['winner']:g}** |"
        )
    return lines


def wake_sleep_table(runs: list[RunResults]) -> list[str]:
    """AEVB against wake-sleep at the same latent size and the same number of samples, the wake-sleep run's last: the
    seed-0 runs of each algorithm at the probe's pick (not those at the other step sizes)."""
    lines = [
        "| N_z | samples | AEVB train | AEVB test | wake-sleep train | wake-sleep test | AEVB - wake-sleep (train / test) |",
        "|---|---|---|---|---|---|---|",
    ]
    picked = {(algorithm, latent_dim): run for (_, algorithm, latent_dim, _), variants in panels(runs).items()
              for run in variants[0] if run.seed == 0}  # fmt: skip
    aevb = {latent_dim: run for (algorithm, latent_dim), run in picked.items() if algorithm == "AEVB"}
    for run in (run for (algorithm, _), run in sorted(picked.items(), key=lambda item: item[0][1])
                if algorithm == "wake-sleep" and run.curve("lower_bound/train")):  # fmt: skip
        samples = run.curve("lower_bound/train")[-1][0]
        ws = [run.value_near(f"lower_bound/{split}", samples) for split in ("train", "test")]
        ours = [aevb[run.latent_dim].value_near(f"lower_bound/{split}", samples) if run.latent_dim in aevb else None
                for split in ("train", "test")]  # fmt: skip
        margin = " / ".join("-" if a is None else f"{a - w:+.1f}" for a, w in zip(ours, ws, strict=True))
        lines.append(f"| {run.latent_dim} | {samples:.3g} | {' | '.join(fmt(v) for v in (*ours, *ws))} | {margin} |")
    return lines


def final_table(runs: list[RunResults]) -> list[str]:
    lines = [
        "| N_z | algorithm | seed | lr | samples seen | train | val | test | test log p(x) (estimator) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        lr = run.config.optimizer.lr
        if not run.finished:
            last = run.curve("lower_bound/train")
            progress = f"(running: {last[-1][0]:,} so far)" if last else "(not started)"
            lines.append(f"| {run.latent_dim} | {run.algorithm} | {run.seed} | {lr:g} | {progress} | | | | |")
            continue
        bounds, evaluation = run.metrics["lower_bound"], run.evaluation
        estimate = "-"
        if evaluation:
            value = evaluation[evaluation["estimator"]["name"]]
            estimate = f"{value['mean']:.2f} ± {value['standard_error']:.2f} ({evaluation['estimator']['description']})"
        lines.append(
            f"| {run.latent_dim} | {run.algorithm} | {run.seed} | {lr:g} | {run.metrics['samples_seen']:,} | "
            f"{fmt(bounds.get('train'))} | {fmt(bounds.get('val'))} | {fmt(bounds.get('test'))} | {estimate} |"
        )
    return lines


def step_size(run: RunResults) -> str:
    """The run's step size, and whether the paper's protocol picked it."""
    return f"{run.config.optimizer.lr:g}" + (" (picked)" if run.step_size_selection else " (fixed)")


def figure_3_table(runs: list[RunResults]) -> list[str]:
    """Ours at our last evaluation against the paper's curve at the same sample count, and the paper's end value."""
    lines = [
        "| N_train | algorithm | step size | binarisation | samples | ours train | ours test | paper at these samples "
        "(train / test) | difference | paper at its end (train / test) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in sorted(runs, key=lambda run: (run.train_size, run.algorithm, run.config.data.binarize, run.config.optimizer.lr)):
        points = run.curve("log_px_hmc/train")
        if not points:
            continue
        samples = points[-1][0]
        ours = [run.value_at(f"log_px_hmc/{split}", samples) for split in ("train", "test")]
        panel = {"n_train": run.train_size}
        paper = [paper_value(3, "mnist", run.algorithm, split, samples, log_x=False, **panel) for split in ("train", "test")]
        end = [paper_curve(3, "mnist", run.algorithm, split, **panel) for split in ("train", "test")]
        end_text = "-" if None in end else f"{fmt(end[0].values[-1])} / {fmt(end[1].values[-1])} at {end[0].samples[-1]:.2g}"
        difference = " / ".join("-" if p is None or o is None else f"{o - p:+.1f}" for o, p in zip(ours, paper, strict=True))
        lines.append(
            f"| {run.train_size:,} | {run.algorithm} | {step_size(run)} | {run.config.data.binarize} | {samples:.3g} | "
            f"{fmt(ours[0])} | {fmt(ours[1])} | "
            f"{fmt(paper[0])} / {fmt(paper[1])} | {difference} | {end_text} |"
        )
    return lines


def report(runs: list[RunResults], source: str, figures_dir: Path, notes: str) -> str:
    draw_all(runs, figures_dir, tensorboard=False)  # docs want the files only; Figures 4-5 only where weights are
    figure_2_chosen, figure_3_chosen = figure_2_runs(runs), figure_3_runs(runs)
    sections, counts = [], []
    for dataset in ("frey_face", "mnist"):  # Frey Face first: its runs are the longer ones
        chosen = [run for run in figure_2_chosen if run.dataset == dataset]
        if not chosen:
            continue
        table, count = fidelity_table(chosen, dataset)
        counts.append(f"{TITLES[dataset]} {count['inside']} of {count['total']} (inside our envelope: {count['enveloped']})")
        sections += [f"## Figure 2, {TITLES[dataset]}", "", "At the paper's measured points:", "", *table, "",
                     f"**{count['inside']} of {count['total']} points inside ±{TOLERANCE[dataset]:g} nats on every split "
                     f"compared; {count['enveloped']} inside the envelope of our runs.**", ""]  # fmt: skip
        if any(run.algorithm == "wake-sleep" for run in chosen):
            sections += [
                "AEVB against wake-sleep, at the wake-sleep run's last evaluation (seed 0, each at the step size "
                "the probe picked):",
                "",
            ]
            sections += [*wake_sleep_table(chosen), ""]
        sections += ["At the end of each run:", "", *final_table(chosen), ""]
        sections += [f"![Figure 2, {TITLES[dataset]}]({figures_dir.name}/figure2_{dataset}.png)", ""]
    out = [
        "# Results: Figures 2 and 3 of Kingma & Welling (2013), reproduced",
        "",
        f"Generated by `uv run python scripts/results_report.py` from the run records in `{source}`; do not edit by hand.",
        f"Report machine: {platform.machine()}, torch {torch.__version__}, Python {platform.python_version()}.",
        "Lower bounds are per datapoint in nats (estimator B, L = 1, the whole split). The paper's values are read off "
        "its digitised curves (`src/aevb/paper/data/paper_curves.csv`, docs/paper_digitisation.md; uncertainty "
        f"MNIST ±{UNCERTAINTY['mnist']:g}, Frey Face ±{UNCERTAINTY['frey_face']:g}, Figure 3 ±{UNCERTAINTY['figure3']:g} "
        "nats) at the same number of training samples; ours are interpolated (in log samples) between the evaluations on "
        "either side. Where several seeds exist, ours is their mean ± half their range, over each seed's run at the step "
        "size its own probe picked (seeds may pick different ones); the envelope is the range of every run of a curve "
        "(each seed, each step size), widened by the digitisation uncertainty: the paper inside it is a value some run "
        "of ours also reaches there.",
        "",
        f"Points of Figure 2 inside the tolerance, on every split compared: {'; '.join(counts) or 'none compared'}.",
        "",
        "Only points the paper measured are compared: on Frey Face its evaluations from about 5.6e5 samples (before it "
        "the paper draws one straight segment), and there the test split alone (its first training value sits 140 to "
        "175 nats below its test value, as a running mean of minibatch bounds would; `aevb.paper.targets.TEST_ONLY`). "
        "The sample factor is the paper's sample count over ours at which our curve first reaches the paper's value "
        "(geometric mean over seeds): 1 is the paper's pace, 0.5 means we need twice its samples, <f that a seed has "
        "not reached it by its last evaluation (f: the paper's count over that one).",
        "",
        *sections,
    ]
    if figure_3_chosen:
        estimator, data = figure_3_chosen[0].config.model.log_px, figure_3_chosen[0].config.data
        out += [
            "## Figure 3: estimated marginal likelihood (MNIST, 100 hidden units, N_z = 3)",
            "",
            f"log p(x) per datapoint by the paper's estimator (Appendix D: HMC, {estimator.posterior_samples} posterior samples, "
            f"{estimator.leapfrog_steps} leapfrog steps, {estimator.burn_in} burn-in moves), on the first {data.eval_limit} "
            "training and test images. Binarisation: of the training images, a fresh sample each minibatch (dynamic) or "
            "one kept fixed (static); the evaluation images are binarised once in both. The paper is read at our last "
            "sample count (its curves are linear in samples); "
            "its end values are at its own last sample count, drawn there in the figure:",
            "",
            *figure_3_table(figure_3_chosen),
            "",
            f"![Figure 3]({figures_dir.name}/figure3_mnist.png)",
            "",
        ]
    selection = step_size_table(runs)
    if len(selection) > 2:
        out += ["## Step sizes chosen", "", "The paper's protocol (`step_size_selection=paper`, section 5): each "
                "candidate trained from the same start on the same minibatches; the best training-split value wins.", "",
                *selection, ""]  # fmt: skip
    images = sorted(path.name for path in figures_dir.glob("figure[45]_*.png"))
    if images:
        out += ["## Figures 4 and 5", "", *(f"![{Path(name).stem}]({figures_dir.name}/{name})" for name in images), ""]
    out += ["PDF versions of every figure are beside the PNGs in `docs/figures/`.", ""]
    if notes:
        out += [notes.strip(), ""]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export", nargs="+", type=Path, metavar="SWEEP_DIR", help="export these runs to --records first")
    parser.add_argument("--records", type=Path, default=ROOT / "docs" / "runs", help="the committed run records")
    parser.add_argument("--figures", type=Path, default=ROOT / "docs" / "figures", help="where the figures go")
    parser.add_argument("--notes", type=Path, default=ROOT / "docs" / "results_notes.md", help="markdown appended as is")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results.md")
    args = parser.parse_args()
    if args.export:
        runs = find_runs(*args.export)
        export_records(runs, args.records)
        draw_all(runs, args.figures, tensorboard=False)  # Figures 4 and 5 from the checkpoints, while they are here
    records = find_records(args.records)
    source = args.records.relative_to(ROOT) if args.records.is_relative_to(ROOT) else args.records
    notes = args.notes.read_text() if args.notes and args.notes.is_file() else ""
    args.out.write_text(report(records, str(source), args.figures, notes))
    print(f"{args.out}: {len(records)} runs")


if __name__ == "__main__":
    main()
