"""aevb-bench runs end to end and compares like with like; speed is measured there, never asserted here."""

import statistics

import pytest
import torch

from aevb import bench


@pytest.fixture(autouse=True)
def threads_as_they_were():
    """aevb-bench sets torch's CPU threads (--threads) for the process; the tests after these train with the usual
    count (the pinned weights differ with 1 thread on AVX512 kernels)."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
def test_bench_trains_the_same_model_both_ways_and_reports_the_median_ratio(capsys, data_dir):
    # 150 minibatches: past the Adagrad warm-up (100 minibatches without a step), so both loops move the weights
    result = bench.run_benchmark(
        ["--samples", "15000", "--repeats", "2", "--warmup", "5", "--threads", "1", "--data-dir", str(data_dir)]
    )
    bounds = result["test_bound"]
    untrained = -543  # 784 ln 2 nats: every pixel at probability 1/2
    gains = [bounds[name] - untrained for name in ("framework", "plain")]
    assert min(gains) > 100  # both trained
    # the same work (the same number of updates of the same model and optimiser), in other minibatch orders: the
    # bounds agree to a few percent of what training gained (a loop doing half the updates gains far less)
    assert abs(gains[0] - gains[1]) < 0.05 * max(gains)
    out = capsys.readouterr().out
    pairs = [float(r) for r in out.split("each pair: ")[1].split(")")[0].split()]
    assert len(pairs) == 2 and result["ratio"] == pytest.approx(statistics.median(pairs), abs=1e-3)
    assert result["framework"] > 0 and result["plain"] > 0 and result["evaluation"] > 0


@pytest.mark.slow
def test_bench_puts_each_reference_mode_beside_the_frameworks_runner_of_that_mode(capsys, data_dir):
    arguments = ["--reference", "all", "--stack", "2", "--samples", "15000", "--repeats", "2", "--warmup", "5"]
    result = bench.run_benchmark([*arguments, "--threads", "1", "--data-dir", str(data_dir)])
    out = capsys.readouterr().out
    stacked = result["modes"]["stacked"]
    row = next(line.split() for line in out.splitlines() if line.strip().startswith("stacked (R = 2)"))
    assert float(row[-1]) == pytest.approx(stacked["ratio"], abs=1e-3)
    assert stacked["ratio"] == pytest.approx(statistics.median(stacked["ratios"])) and len(stacked["ratios"]) == 2
    assert "graph: skipped" in out and "stacked_graph: skipped" in out  # CUDA only
    # one run trained alone, two stacked and two side by side, for as many updates each: the same gain, up to seed noise
    untrained = -543
    gains = [result["modes"][mode]["test_bound"][side] - untrained for mode in ("eager", "stacked") for side in bench.SIDES]
    gains.append(result["modes"]["side_by_side"]["test_bound"]["reference"] - untrained)
    assert min(gains) > 100
    assert max(gains) - min(gains) < 0.05 * max(gains)
    # stacking's gain over the framework's runs one after another
    stacking = float(out.split("stacked framework / eager framework ")[1].split()[0])
    medians = {mode: result["modes"][mode]["median"]["framework"] for mode in ("eager", "stacked")}
    assert stacking == pytest.approx(medians["stacked"] / medians["eager"], abs=1e-3)
    # side by side: each round's runs at once against one run before them; the printed gain is the rounds' median
    side_by_side = result["modes"]["side_by_side"]
    assert len(side_by_side["gains"]) == 2 and "framework" not in side_by_side["median"]
    printed = float(out.split("side_by_side / one run on all 1 threads ")[1].split()[0])
    assert printed == pytest.approx(statistics.median(side_by_side["gains"]), abs=1e-3) == side_by_side["gain_over_one_run"]


def test_reference_takes_one_mode_several_with_commas_or_all_and_names_the_choices_when_wrong(capsys):
    assert bench.reference_modes("eager,stacked") == ["eager", "stacked"]
    assert bench.reference_modes("all") == list(bench.REFERENCE_MODES)
    with pytest.raises(SystemExit):
        bench.run_benchmark(["--reference", "eager,graf"])
    assert "unknown mode graf: choose from eager, graph, stacked, stacked_graph, side_by_side or all" in capsys.readouterr().err


def test_each_device_runs_the_modes_it_can_and_says_why_it_skips_the_others():
    modes = list(bench.REFERENCE_MODES)
    on_cpu, notes = bench.modes_to_run(modes, torch.device("cpu"))
    assert on_cpu == ["eager", "stacked", "side_by_side"]
    assert [note.split(":")[0] for note in notes] == ["graph", "stacked_graph"]
    on_gpu, notes = bench.modes_to_run(modes, torch.device("cuda"))
    assert on_gpu == ["eager", "graph", "stacked", "stacked_graph"]
    assert notes == ["side_by_side: skipped, it measures a CPU's cores (--device cpu)"]
