"""aevb-bench: training throughput of aevb-train against a plain PyTorch loop doing the same work, in one process.

  uv run aevb-bench [--samples 30000] [--repeats 15] [--device cpu|cuda] [--precision bf16-mixed] [--compile]

Both train the paper's MNIST model (`experiment=aevb_mnist`: one tanh layer of 500 units,
N_z = 20, M = 100, L = 1, estimator B, N(0, 0.01^2) initialisation, the weight prior, the
authors' Adagrad with warm-up) for the same number of samples, on the same device, from the
same dynamically binarised training images held in one tensor on that device:

  framework: the composed config through Lightning's Trainer, with the evaluations, logger,
             checkpoints and progress bar switched off;
  plain:     a hand-written loop: a seeded permutation, a Bernoulli draw per minibatch, the
             model's SGVB loss, backward, optimiser step (under autocast, with a gradient
             scaler for 16-mixed, as Lightning does).

The first `--warmup` minibatches of each run (set-up, torch.compile) are not timed. The two
alternate, each pair in the opposite order to the last, so that a change of load on a shared
machine hits both; the ratio is the median over pairs of framework / plain. Also printed: the
importance-sampled evaluation's throughput (k = 1000) and the peak memory.
"""

import argparse
import gc
import math
import resource
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import lightning.pytorch as L
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig

from aevb.build import build_datamodule, datamodule_and_model
from aevb.errors import AevbError
from aevb.estimators.marginal_likelihood import importance_sampled_log_likelihood
from aevb.hydra_glue import CONFIG_DIR, absolute_directory_variables
from aevb.lightning_adapter import silence_foreign_noise
from aevb.run_checks import trainer_arguments

ACCELERATORS = {"cpu": "cpu", "cuda": "gpu"}


def benchmark_config(
    samples: int, device: str, precision: str, compile_networks: bool, steps_per_call: int | None, data_dir: str | None
) -> DictConfig:
    overrides = [
        "experiment=aevb_mnist",
        *([f"data.steps_per_call={steps_per_call}"] if steps_per_call else []),
        f"trainer.max_samples={samples}",
        f"trainer.accelerator={ACCELERATORS[device]}",
        "trainer.devices=1",
        f"trainer.precision={precision}",
        f"model.compile={str(compile_networks).lower()}",
        *([f"paths.data_dir={Path(data_dir).resolve()}"] if data_dir else []),
        "paths.output_dir=/tmp/aevb-bench",  # nothing is written there with logging and checkpoints off
    ]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose("train", overrides=overrides)


def model_and_data(cfg: DictConfig):
    """A fresh model (with its optimizer factory) and set-up datamodule, as aevb-train builds them."""
    datamodule, model = datamodule_and_model(cfg)
    return model, datamodule


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class SteadyStateTimer(L.Callback):
    """Seconds per weight update, from the first call of training_step after `warmup` updates to the end of training."""

    def __init__(self, warmup: int):
        self.warmup, self.start, self.first_step, self.seconds_per_step = warmup, None, 0, 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.start is None and trainer.global_step >= self.warmup:
            synchronise(pl_module.device)
            self.start, self.first_step = time.perf_counter(), trainer.global_step

    def on_train_end(self, trainer, pl_module) -> None:
        synchronise(pl_module.device)
        self.seconds_per_step = (time.perf_counter() - self.start) / (trainer.global_step - self.first_step)


def framework_run(cfg: DictConfig, warmup: int) -> tuple[float, L.LightningModule]:
    """Seconds per timed minibatch through the framework's Trainer, and the trained model."""
    model, datamodule = model_and_data(cfg)
    timer = SteadyStateTimer(warmup)
    arguments = trainer_arguments(cfg)
    arguments.update(logger=False, callbacks=[timer], enable_checkpointing=False, enable_progress_bar=False, limit_val_batches=0)
    trainer = instantiate(arguments)
    trainer.fit(model, datamodule=datamodule)
    assert trainer.global_step == arguments["max_steps"], "the framework trained for another number of minibatches"
    return timer.seconds_per_step, model


def plain_run(cfg: DictConfig, warmup: int, device: torch.device) -> tuple[float, L.LightningModule]:
    """Seconds per timed minibatch through a hand-written loop over the same model, optimiser and device, and the
    trained model."""
    model, datamodule = model_and_data(cfg)
    model.to(device)
    model.configure_model()  # torch.compile of the networks, with model.compile=true
    images = datamodule.splits["train"].to(device)
    optimizer = model.make_optimizer(model.parameter_groups(num_train=len(images)))
    precision = cfg.trainer.precision
    autocast = torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16-mixed" else torch.float16)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "16-mixed")
    generator = torch.Generator(device).manual_seed(cfg.seed)
    batch_size, steps = cfg.data.batch_size, math.ceil(cfg.trainer.max_samples / cfg.data.batch_size)
    order, position = torch.randperm(len(images), generator=generator, device=device), 0
    for step in range(steps):
        if step == warmup:
            synchronise(device)
            start = time.perf_counter()
        if position + batch_size > len(images):  # a new epoch
            order, position = torch.randperm(len(images), generator=generator, device=device), 0
        x = torch.bernoulli(images[order[position : position + batch_size]], generator=generator)
        position += batch_size
        with autocast if precision != "32-true" else nullcontext():
            loss = -model.bound_terms(x).lower_bound.mean()
        optimizer.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    synchronise(device)
    return (time.perf_counter() - start) / (steps - warmup), model


@torch.no_grad()
def bound_on(model, images: torch.Tensor) -> float:
    """The lower bound per datapoint of a trained model on `images`: both loops did the same work if their models score
    alike (they see the same number of minibatches, in other orders)."""
    model.to(images.device).eval()
    torch.manual_seed(0)
    return model.bound_terms(images).lower_bound.mean().item()


def first_test_images(cfg: DictConfig, device: torch.device, datapoints: int = 1000) -> torch.Tensor:
    """The first test images of the benchmark's data (their fixed binarisation), on `device`."""
    datamodule = build_datamodule(cfg)
    datamodule.setup()
    return datamodule.eval_splits["test"][:datapoints].to(device)


def evaluation_throughput(cfg: DictConfig, device: torch.device, datapoints: int = 100, k: int = 1000) -> float:
    """Datapoints per second of the importance-sampled estimate of log p(x) with k samples."""
    model, datamodule = model_and_data(cfg)
    model.to(device).eval()
    images = datamodule.eval_splits["test"][:datapoints].to(device)
    synchronise(device)
    start = time.perf_counter()
    importance_sampled_log_likelihood(model, images, num_samples=k)
    synchronise(device)
    return datapoints / (time.perf_counter() - start)


def peak_memory(device: torch.device) -> str:
    resident = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    text = f"peak resident memory of this process {resident:,.0f} MB"
    if device.type == "cuda":
        text += f", peak GPU memory allocated {torch.cuda.max_memory_allocated(device) / 2**20:,.0f} MB"
    return text


def run_benchmark(argv: list[str] | None = None) -> dict:
    """Parse the arguments, run the benchmark, print it, and return the medians and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=30_000, help="training samples per run, timed after the warm-up")
    parser.add_argument("--repeats", type=int, default=15, help="pairs of runs (framework, plain)")
    parser.add_argument("--warmup", type=int, default=20, help="minibatches of each run left out of the timing")
    parser.add_argument("--device", choices=sorted(ACCELERATORS), default="cpu")
    parser.add_argument("--precision", choices=["32-true", "16-mixed", "bf16-mixed"], default="32-true")
    parser.add_argument("--compile", action="store_true", help="torch.compile the encoder and decoder (model.compile=true)")
    parser.add_argument(
        "--steps-per-call", type=int, help="minibatches per call of training_step (data.steps_per_call; the preset: 10)"
    )
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="CPU threads (torch.set_num_threads)")
    parser.add_argument("--data-dir", help="MNIST's directory (default: paths.data_dir, i.e. $AEVB_DATA_DIR or ./data)")
    args = parser.parse_args(argv)
    if args.samples < 100 * (args.warmup + 1):
        parser.error(f"--samples {args.samples} leaves no minibatch to time after --warmup {args.warmup}")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: this machine has no CUDA device")
    torch.set_num_threads(args.threads)
    L.seed_everything(0, verbose=False)
    device = torch.device(args.device)
    cfg = benchmark_config(args.samples, args.device, args.precision, args.compile, args.steps_per_call, args.data_dir)

    framework, plain = [], []  # samples/s
    trained = {}  # the last model of each loop
    batch_size = cfg.data.batch_size
    for repeat in range(args.repeats):
        runs = [("framework", lambda: framework_run(cfg, args.warmup)), ("plain", lambda: plain_run(cfg, args.warmup, device))]
        for name, run in runs if repeat % 2 == 0 else runs[::-1]:
            trained.pop(name, None)
            gc.collect()  # the last run's model and data, before the next is built
            seconds, trained[name] = run()
            (framework if name == "framework" else plain).append(batch_size / seconds)
    ratios = [a / b for a, b in zip(framework, plain, strict=True)]
    images = first_test_images(cfg, device)  # read once, for both models
    result = {
        "framework": statistics.median(framework),
        "plain": statistics.median(plain),
        "ratio": statistics.median(ratios),
        "evaluation": evaluation_throughput(cfg, device),
        "test_bound": {name: bound_on(model, images) for name, model in trained.items()},
    }
    setting = f"{args.device}, {args.precision}{', compiled' if args.compile else ''}, {args.threads} threads"
    setting += f", {cfg.data.steps_per_call} minibatches per call of training_step"
    print(f"\n{args.samples:,} samples a run, M = {batch_size}, {setting}; median of {args.repeats} pairs of runs:")
    print(f"  framework {result['framework']:,.0f} samples/s   plain loop {result['plain']:,.0f} samples/s")
    print(f"  ratio framework / plain {result['ratio']:.3f}  (each pair: {' '.join(f'{r:.3f}' for r in ratios)})")
    print(f"  each run: framework {[round(v) for v in framework]}, plain {[round(v) for v in plain]}")
    bounds = result["test_bound"]
    print(f"  the same work: test bound framework {bounds['framework']:.2f}, plain {bounds['plain']:.2f} nats")
    print(f"  importance-sampled log p(x), k = 1000: {result['evaluation']:,.1f} datapoints/s")
    print(f"  {peak_memory(device)}")
    return result


def main() -> None:
    absolute_directory_variables()
    silence_foreign_noise()
    try:
        run_benchmark()
    except AevbError as error:  # a missing or damaged data file: its message names the file and the fix
        sys.exit(f"aevb-bench: {error}")


if __name__ == "__main__":
    main()
