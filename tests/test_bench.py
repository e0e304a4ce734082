"""aevb-bench runs end to end and reports its ratio; speed is measured there, never asserted here."""

import re
import statistics

from aevb import bench


def test_bench_trains_both_ways_and_prints_the_ratio(capsys, data_dir):
    result = bench.run_benchmark(
        ["--samples", "3000", "--repeats", "3", "--warmup", "5", "--threads", "1", "--data-dir", str(data_dir)]
    )
    out = capsys.readouterr().out.replace(",", "")
    framework, plain = map(float, re.search(r"framework (\d+) samples/s\s+plain loop (\d+) samples/s", out).groups())
    assert framework > 0 and plain > 0 and abs(framework - result["framework"]) <= 1 and abs(plain - result["plain"]) <= 1
    pairs = [float(r) for r in re.search(r"each pair: ([\d. ]+)\)", out).group(1).split()]
    assert len(pairs) == 3 and abs(result["ratio"] - statistics.median(pairs)) < 1e-3  # the median over pairs
    assert f"ratio framework / plain {result['ratio']:.3f}" in out
    assert result["evaluation"] > 0 and "datapoints/s" in out and "peak resident memory" in out
