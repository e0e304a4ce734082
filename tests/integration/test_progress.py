"""Signs of life: a log line per evaluation (samples of the target, the bound on each split, the rate, the time left),
in the run's log file too; a progress bar that counts samples and names the split it evaluates; bars off by
themselves when output is not a terminal; none of Lightning's start-up tips."""

import logging
import re

import pytest

from aevb.callbacks.progress import duration
from aevb.train import train
from aevb.training.run_checks import trainer_arguments
from compose import compose_train
from processes import run_entry_point

LINE = re.compile(
    r"(?P<done>[\d,]+) / (?P<target>[\d,]+) samples \((?P<percent>\d+)%\) \| lower bound: train (?P<train>-?[\d.]+), "
    r"test (?P<test>-?[\d.]+) \| (?P<rate>[\d,]+) samples/s \| (?P<left>.+) left"
)


@pytest.mark.parametrize(("seconds", "text"), [(12.4, "12 s"), (600, "10 min"), (3 * 3600, "3.0 h"), (5 * 86400, "5.0 days")])
def test_time_left_reads_as_a_person_would_say_it(seconds, text):
    assert duration(seconds) == text


def test_a_run_logs_a_line_per_evaluation_with_the_bounds_rate_and_time_left(tmp_path, data_dir, caplog):
    cfg = compose_train(["debug=frey_blink", "trainer.max_epochs=2"], tmp_path, data_dir)
    with caplog.at_level(logging.INFO, logger="aevb.progress"):
        metrics = train(cfg)
    lines = [LINE.search(record.getMessage()) for record in caplog.records if record.name == "aevb.progress"]
    assert all(lines) and len(lines) == 2
    assert [(m["done"], m["target"], m["percent"]) for m in lines] == [("200", "400", "50"), ("400", "400", "100")]
    assert float(lines[-1]["test"]) == pytest.approx(metrics["lower_bound"]["test"], abs=0.01)
    assert int(lines[0]["rate"].replace(",", "")) > 0 and lines[-1]["left"] == "0 s"


def test_a_paper_preset_logs_its_progress_against_its_length(tmp_path, data_dir, caplog):
    overrides = ["experiment=aevb_frey_face", "trainer.max_samples=4000", "callbacks.evaluation_schedule.start_samples=2000",
                 "step_size_selection=none"]  # fmt: skip
    with caplog.at_level(logging.INFO, logger="aevb.progress"):
        train(compose_train(overrides, tmp_path, data_dir))
    messages = [record.getMessage() for record in caplog.records if record.name == "aevb.progress"]
    assert messages and all(" / 4,000 samples (" in message and " left" in message for message in messages)


def test_the_progress_bar_counts_samples_and_names_the_split_it_evaluates(tmp_path, data_dir, capsys):
    cfg = compose_train(["debug=frey_blink", "trainer.max_epochs=2", "trainer.enable_progress_bar=true"], tmp_path, data_dir)
    train(cfg)
    output = capsys.readouterr()
    bars = output.out + output.err
    assert "samples=400" in bars and "Evaluating test" in bars and "Evaluating train" in bars
    assert "DataLoader" not in bars


def test_bars_switch_off_when_output_is_not_a_terminal(tmp_path, data_dir):
    cfg = compose_train(["trainer.enable_progress_bar=auto"], tmp_path, data_dir)  # pytest captures: not a terminal
    assert trainer_arguments(cfg)["enable_progress_bar"] is False


@pytest.mark.slow
def test_the_log_lines_reach_the_runs_log_file_and_lightnings_tips_do_not_show(tmp_path, data_dir):
    result = run_entry_point("aevb-train", f"hydra.run.dir={tmp_path}", f"paths.data_dir={data_dir}", "debug=frey_blink")
    assert LINE.search((tmp_path / "train.log").read_text())
    assert "Tip:" not in result.stdout + result.stderr and "LeafSpec" not in result.stdout + result.stderr
