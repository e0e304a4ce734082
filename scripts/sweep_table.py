"""Print one line per job of a sweep: its overrides, samples seen and final lower bounds.

uv run python scripts/sweep_table.py outputs/multirun/<sweep>
"""

import json
import sys
from pathlib import Path


def rows(sweep_dir: Path) -> list[dict]:
    """The finished jobs under `sweep_dir` (those that wrote metrics.json), in job order."""
    found = []
    for metrics_file in sorted(sweep_dir.glob("*/metrics.json"), key=lambda p: int(p.parent.name.split("_")[0])):
        metrics = json.loads(metrics_file.read_text())
        found.append({"job": metrics_file.parent.name, "samples_seen": metrics["samples_seen"], **metrics["lower_bound"]})
    return found


def table(sweep_dir: Path) -> str:
    found = rows(sweep_dir)
    if not found:
        return f"no finished jobs (*/metrics.json) under {sweep_dir}"
    splits = [s for s in ("train", "val", "test") if any(s in row for row in found)]
    width = max(len(row["job"]) for row in found)
    lines = [f"{'job':<{width}}  {'samples':>12}  " + "  ".join(f"{s:>9}" for s in splits)]
    for row in found:
        bounds = "  ".join(f"{row[s]:9.2f}" if s in row else f"{'-':>9}" for s in splits)
        lines.append(f"{row['job']:<{width}}  {row['samples_seen']:>12,}  {bounds}")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(table(Path(sys.argv[1])))
