"""scripts/bench.py runs end to end and reports a ratio; its speed is measured there, never asserted here."""

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import bench  # noqa: E402


def test_bench_trains_both_ways_and_prints_the_ratio(capsys, data_dir):
    bench.main(["--samples", "3000", "--repeats", "1", "--threads", "1", "--data-dir", str(data_dir)])
    out = capsys.readouterr().out.replace(",", "")
    pattern = r"framework (\d+) samples/s\s+plain loop (\d+) samples/s\s+ratio ([\d.]+)"
    framework, plain, ratio = map(float, re.search(pattern, out).groups())
    assert framework > 0 and plain > 0 and abs(ratio - framework / plain) < 0.01  # the throughputs are printed rounded
    assert "datapoints/s" in out and "peak resident memory" in out
