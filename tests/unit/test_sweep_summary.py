"""The table that ends a sweep, from each job's status.json and metrics.json as aevb.runs.directory.Run writes them."""

from aevb.runs.directory import Run
from aevb.runs.sweep import summary, table


def test_the_summary_lists_every_job_in_order_with_its_state_samples_bounds_and_reason(tmp_path):
    finished, resumed, failed = (Run(tmp_path / name) for name in ("0_a", "1_b", "2_c"))
    finished.write_status("finished")
    finished.write_metrics(
        {"samples_seen": 2000, "selection_term": "lower_bound", "lower_bound": {"train": -120.5, "test": -121.25}}
    )
    resumed.write_status("resumed", resumed_from=1000)
    resumed.write_metrics(
        {"samples_seen": 3000, "selection_term": "lower_bound", "lower_bound": {"train": -110.0, "test": -111.0}}
    )
    failed.write_status("failed", reason="model.latent_dim=0 must be at least 1")
    (tmp_path / "10_d").mkdir()  # started no run yet
    rows = summary(tmp_path)
    assert [row["job"] for row in rows] == ["0_a", "1_b", "2_c", "10_d"]  # job order, not name order
    assert [row["state"] for row in rows] == ["finished", "resumed", "failed", "not started"]
    lines = table(rows).splitlines()
    assert lines[0].split() == ["job", "state", "samples", "train", "test"]
    assert lines[1].split() == ["0_a", "finished", "2,000", "-120.50", "-121.25"]
    assert lines[2].split()[:4] == ["1_b", "resumed", "at", "1,000"]
    assert lines[4].strip() == "reason: model.latent_dim=0 must be at least 1"


def test_a_job_resumed_from_no_checkpoint_is_listed_as_started_again(tmp_path):
    again = Run(tmp_path / "0_a")  # stopped before its first checkpoint, then trained from the start
    again.write_status("resumed")
    again.write_metrics({"samples_seen": 2000, "selection_term": "lower_bound", "lower_bound": {"train": -120.5}})
    assert table(summary(tmp_path)).splitlines()[1].split() == ["0_a", "resumed", "2,000", "-120.50"]


def test_a_job_stopped_early_says_why(tmp_path):
    early = Run(tmp_path / "0_a")
    early.write_status("finished", stopped_early="Monitored metric lower_bound/val did not improve in the last 3 records.")
    early.write_metrics({"samples_seen": 2000, "selection_term": "lower_bound", "lower_bound": {"val": -120.5}})
    lines = table(summary(tmp_path)).splitlines()
    assert lines[2].strip() == "reason: stopped early: Monitored metric lower_bound/val did not improve in the last 3 records."
