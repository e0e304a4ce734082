"""Training throughput of aevb-train against a plain PyTorch loop doing the same work, in one process.

  uv run python scripts/bench.py [--samples 200000] [--repeats 3] [--threads 2]

Both train the paper's MNIST model (one tanh layer of 500 units, N_z = 20, M = 100, L = 1,
estimator B, N(0, 0.01^2) initialisation, the weight prior, the authors' Adagrad with warm-up)
for the same number of samples on the same in-memory, dynamically binarised training images:

  framework: the composed `experiment=aevb_mnist` config through Lightning's Trainer, with the
             evaluations, logger, checkpoints and progress bar switched off;
  plain:     a hand-written loop: a seeded permutation, a Bernoulli draw per minibatch, the
             SGVB loss, backward, optimiser step.

Repeats alternate between the two, so that a change of load on a shared machine hits both.
Prints samples/s (median of the repeats) for each and their ratio, the importance-sampled
evaluation's throughput (k = 1000), and the peak resident memory of the process.
"""

import argparse
import math
import resource
import statistics
import time
from pathlib import Path

import lightning.pytorch as L
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from aevb.config import CONFIG_DIR, PROJECT_ROOT, trainer_arguments
from aevb.models.marginal_likelihood import importance_sampled_log_likelihood

OUTPUT_DIR = Path("/tmp/aevb-bench")  # Lightning's default_root_dir; nothing is written there with logging off


def model_and_data(cfg):
    """A fresh model (with its optimizer factory) and set-up datamodule, as aevb-train builds them."""
    datamodule = instantiate(cfg.data)
    model = instantiate(cfg.model, data_shape=datamodule.data_shape, optimizer=instantiate(cfg.optimizer))
    datamodule.setup("fit")
    return model, datamodule


def framework_run(cfg, samples: int) -> float:
    """Seconds for `samples` training samples through the framework's Trainer."""
    model, datamodule = model_and_data(cfg)
    arguments = trainer_arguments(cfg)
    arguments.update(logger=False, callbacks=[], enable_checkpointing=False, enable_progress_bar=False, limit_val_batches=0)
    trainer = instantiate(arguments)
    start = time.perf_counter()
    trainer.fit(model, datamodule=datamodule)
    seconds = time.perf_counter() - start
    assert model.samples_seen == math.ceil(samples / cfg.data.batch_size) * cfg.data.batch_size
    return seconds


def plain_run(cfg, samples: int) -> float:
    """Seconds for the same samples through a hand-written loop over the same model and optimiser."""
    model, datamodule = model_and_data(cfg)
    images = datamodule.splits["train"]
    optimizer = model.make_optimizer(model.parameter_groups(num_train=len(images)))
    generator = torch.Generator().manual_seed(cfg.seed)
    batch_size, steps = cfg.data.batch_size, math.ceil(samples / cfg.data.batch_size)
    start = time.perf_counter()
    order, position = torch.randperm(len(images), generator=generator), 0
    for _ in range(steps):
        if position + batch_size > len(images):  # a new epoch
            order, position = torch.randperm(len(images), generator=generator), 0
        x = torch.bernoulli(images[order[position : position + batch_size]], generator=generator)
        position += batch_size
        terms = model.bound_terms(x)
        loss = -terms.lower_bound.mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=200_000, help="training samples per timed run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--data-dir", default=str(PROJECT_ROOT / "data"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    L.seed_everything(0, verbose=False)
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        overrides = ["experiment=aevb_mnist", f"trainer.max_samples={args.samples}", f"paths.data_dir={args.data_dir}"]
        cfg = compose("train", overrides=[*overrides, f"paths.output_dir={OUTPUT_DIR}"])
    framework, plain = [], []
    for _ in range(args.repeats):
        framework.append(args.samples / framework_run(cfg, args.samples))
        plain.append(args.samples / plain_run(cfg, args.samples))
    ours, theirs = statistics.median(framework), statistics.median(plain)
    print(f"{args.samples:,} samples, M = {cfg.data.batch_size}, {args.threads} threads, median of {args.repeats}:")
    print(f"  framework {ours:,.0f} samples/s   plain loop {theirs:,.0f} samples/s   ratio {ours / theirs:.3f}")
    print(f"  each repeat: framework {[round(v) for v in framework]}, plain {[round(v) for v in plain]}")

    model, datamodule = model_and_data(cfg)
    model.eval()
    images = datamodule.eval_splits["test"][:100]
    start = time.perf_counter()
    importance_sampled_log_likelihood(model, images, num_samples=1000)
    print(f"  importance-sampled log p(x), k = 1000: {len(images) / (time.perf_counter() - start):,.1f} datapoints/s")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    print(f"  peak resident memory of this process: {peak:,.0f} MB")


if __name__ == "__main__":
    main()
