"""Time the importance-sampled log p(x) of aevb-eval against one-datapoint-at-a-time evaluation.

  uv run python scripts/bench_iwae.py CKPT [--datapoints 100] [--k 5000] [--repeats 3]

Both run in this process on the same model, data and k: the vectorised, chunked estimator that
aevb-eval uses (100 datapoints and up to 8,192 (sample, datapoint) rows at once), and a loop
over datapoints, each scored with its k samples in batches of 100 (as pythae's get_nll does).
Prints the median seconds of each and their ratio.
"""

import argparse
import statistics
import time

import torch

from aevb.build import load_model
from aevb.estimators.importance_sampling import importance_sampled_log_likelihood
from aevb.evaluate import load_datamodule


def seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ckpt")
    parser.add_argument("--datapoints", type=int, default=100)
    parser.add_argument("--k", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    model = load_model(args.ckpt)
    images = load_datamodule(args.ckpt).eval_splits["test"][: args.datapoints]

    def vectorised():
        return torch.cat([importance_sampled_log_likelihood(model, batch, args.k) for batch in images.split(100)])

    def per_datapoint():
        return torch.stack([importance_sampled_log_likelihood(model, x[None], args.k, max_rows=100)[0] for x in images])

    ours, loop = seconds(vectorised, args.repeats), seconds(per_datapoint, args.repeats)
    print(f"{args.datapoints} datapoints, k={args.k}, {torch.get_num_threads()} threads, median of {args.repeats}:")
    print(f"  vectorised (aevb-eval): {ours:.2f} s   one datapoint at a time: {loop:.2f} s   ratio {loop / ours:.1f}x")
    print(f"  aevb-eval on 10,000 datapoints at this rate: {ours * 10_000 / args.datapoints / 60:.1f} min")


if __name__ == "__main__":
    main()
