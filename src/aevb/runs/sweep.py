"""What became of each job of a sweep: every job writes status.json, and the sweep ends with a table of them.

uv run python -m aevb.runs.sweep outputs/multirun/<sweep>    # the table at any time, e.g. while it runs
"""

import json
import sys
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from aevb.runs.atomic import replace_text
from aevb.runs.directory import FINISHED, Run


def job_directories(sweep_dir: Path) -> list[Path]:
    """The job directories of a sweep (<num>_<overrides>), in job order."""
    jobs = [path for path in sweep_dir.iterdir() if path.is_dir() and path.name.split("_")[0].isdigit()]
    return sorted(jobs, key=lambda path: int(path.name.split("_")[0]))


def summary(sweep_dir: Path) -> list[dict]:
    """One row per job: its directory, state, samples seen, final selection term per split, a failure's reason (or why it
    stopped early), and the run's tags."""
    rows = []
    for job in job_directories(sweep_dir):
        run = Run(job)
        status, metrics = run.status, run.metrics
        row = {"job": job.name, "state": status["state"]}
        if metrics is not None:
            row |= {
                "samples_seen": metrics["samples_seen"],
                "term": metrics["selection_term"],
                **metrics[metrics["selection_term"]],
            }
        if "reason" in status:
            row["reason"] = status["reason"]
        if "stopped_early" in status:  # callbacks=early_stopping
            row["reason"] = f"stopped early: {status['stopped_early']}"
        if status.get("resumed_from") is not None:
            row["resumed_from"] = status["resumed_from"]
        if run.started and run.tags:
            row["tags"] = run.tags
        rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    if not rows:
        return "no jobs"
    splits = [split for split in ("train", "val", "test") if any(split in row for row in rows)]
    # resumed with no resumed_from: started again from the beginning (killed or stopped before its first checkpoint)
    resumed_at = [f" at {row['resumed_from']:,}" if row["state"] == "resumed" and "resumed_from" in row else "" for row in rows]
    states = [row["state"] + at for row, at in zip(rows, resumed_at, strict=True)]
    width, state_width = max(len(row["job"]) for row in rows), max(len(state) for state in ["state", *states])
    tagged = any("tags" in row for row in rows)  # a last column, when a job has tags
    header = f"{'job':<{width}}  {'state':<{state_width}}  {'samples':>12}  " + "  ".join(f"{s:>9}" for s in splits)
    lines = [header + ("  tags" if tagged else "")]
    for row, state in zip(rows, states, strict=True):
        samples = f"{row['samples_seen']:>12,}" if "samples_seen" in row else f"{'-':>12}"
        values = "  ".join(f"{row[s]:9.2f}" if s in row else f"{'-':>9}" for s in splits)
        tags = f"  {','.join(row.get('tags', [])) or '-'}" if tagged else ""
        lines.append(f"{row['job']:<{width}}  {state:<{state_width}}  {samples}  {values}{tags}".rstrip())
        if "reason" in row:
            lines.append(f"{'':<{width}}  reason: {row['reason']}")
    return "\n".join(lines)


class SweepSummary(Callback):
    """At the end of a multirun: print each job's state, write summary.json, and exit non-zero if any job failed."""

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        rows = summary(sweep_dir)
        replace_text(sweep_dir / "summary.json", json.dumps(rows, indent=2))
        failed = [row["job"] for row in rows if row["state"] not in FINISHED]
        print(f"\nSweep {sweep_dir}: {len(rows) - len(failed)} of {len(rows)} jobs finished\n{table(rows)}")
        if failed:
            print(
                f"\nNot finished: {', '.join(failed)}. Re-running the same command resumes them and skips the finished "
                "jobs (a failure that names a setting needs that setting changed first)."
            )
            sys.exit(1)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(table(summary(Path(sys.argv[1]))))
