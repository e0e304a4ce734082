"""What a CUDA graph leaves to the host in each training call: Lightning's loop, the minibatches and their noise drawn
from Python, their copy into the graph's inputs, each update's bookkeeping. One host thread does that for a run, and
for every job of a stacked sweep in turn, so it bounds the calls per second on any device, however fast the device.

  uv run python scripts/host_time.py [--device cpu|cuda] [--calls 300]

Trains the paper's MNIST model shrunk until its arithmetic is nothing (N_z = 1, one hidden unit, minibatches of one
image), its calls recorded (model.cuda_graph: rehearse on a CPU, true on CUDA), at data.steps_per_call = 10 and 100.
Each call is timed in the steady state, less what runs inside the recorded call other than the copying of its inputs:
on CUDA the replay, on a CPU the rehearsal, which runs the call as written. Prints the host time per call at each
setting, the fixed part of a call and the part per minibatch, and the samples per second a host thread can serve at
M = 100 (docs/performance.md).
"""

import argparse
import time

from aevb.bench import benchmark_config, framework_run, updated
from aevb.training.captured_calls import CapturedCalls, Recording

MINIBATCHES = (10, 100)  # data.steps_per_call: two settings give the fixed and the per-minibatch host time
WARMUP_CALLS = 5  # beyond the eager warm-up calls and the recording


class RecordedCallTimes:
    """Seconds inside each recorded call, less the copying of its inputs: the work a replay takes off the host. Made
    once: it wraps CapturedCalls and Recording for the rest of the process."""

    def __init__(self):
        self.inside: list[float] = []
        self.loading = 0.0  # of the call under way
        call, load = CapturedCalls.__call__, Recording.load

        def timed_load(recording, inputs):
            start = time.perf_counter()
            load(recording, inputs)
            self.loading += time.perf_counter() - start

        def timed_call(calls, key, inputs, function):
            start, self.loading = time.perf_counter(), 0.0
            outputs = call(calls, key, inputs, function)
            self.inside.append(time.perf_counter() - start - self.loading)
            return outputs

        CapturedCalls.__call__, Recording.load = timed_call, timed_load


def host_seconds_per_call(times: RecordedCallTimes, device: str, minibatches: int, calls: int, data_dir: str | None):
    """Seconds per call of the host's work, and of the work inside the recorded call left out of it."""
    cfg = benchmark_config(minibatches * (WARMUP_CALLS + calls), device, "32-true", False, minibatches, data_dir)
    cuda_graph = "rehearse" if device == "cpu" else True
    tiny = {"model.latent_dim": 1, "model.decoder.hidden_dim": 1, "data.batch_size": 1, "model.cuda_graph": cuda_graph}
    times.inside.clear()
    seconds_per_update, _ = framework_run(updated(cfg, tiny), warmup=minibatches * WARMUP_CALLS)
    inside = sum(times.inside[-calls:]) / calls
    return seconds_per_update * minibatches - inside, inside


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--calls", type=int, default=300, help="timed calls at each setting")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    times = RecordedCallTimes()
    measured = {n: host_seconds_per_call(times, args.device, n, args.calls, args.data_dir) for n in MINIBATCHES}
    (few, many), (short, long) = MINIBATCHES, (measured[n][0] for n in MINIBATCHES)
    per_minibatch = (long - short) / (many - few)
    fixed = short - few * per_minibatch
    for n, (host, inside) in measured.items():
        serves = f"at M = 100 a host thread serves at most {100 * n / host:,.0f} samples/s"
        left_out = f"left out: the recorded call's own work, {1e3 * inside:.3f} ms"
        print(f"data.steps_per_call={n:<4} host time per call {1e3 * host:7.3f} ms: {serves} ({left_out})")
    print(f"fixed per call {1e3 * fixed:.3f} ms, per minibatch {1e6 * per_minibatch:.1f} us")


if __name__ == "__main__":
    main()
