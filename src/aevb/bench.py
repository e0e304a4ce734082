"""aevb-bench: training throughput of aevb-train against plain PyTorch loops doing the same work, in one process.

  uv run aevb-bench [--samples 30000] [--repeats 15] [--device cpu|cuda] [--precision bf16-mixed] [--compile]
                    [--reference eager|graph|stacked|stacked_graph|side_by_side[,...]|all] [--stack 20]

Both sides train the paper's MNIST model (`experiment=aevb_mnist`: one tanh layer of 500 units,
N_z = 20, M = 100, L = 1, estimator B, N(0, 0.01^2) initialisation, the weight prior, the
authors' Adagrad with warm-up) for the same number of samples a run, on the same device, from the
same dynamically binarised training images held in one tensor on that device:

  framework: the composed config through Lightning's Trainer, with the evaluations, logger,
             checkpoints and progress bar switched off (FRAMEWORK_MODES: the modes it has a runner for; in
             graph modes each training call replays a recorded CUDA graph, model.cuda_graph=true, which the
             other modes switch off; in stacked_graph a group's call is one graph for all R runs);
  reference: a loop written by hand, in one of the modes of --reference:
    eager          the model's SGVB loss, backward and optimiser step from Python (the "plain" loop: a
                   seeded permutation, a Bernoulli draw per minibatch; under autocast, with a gradient
                   scaler for 16-mixed, as Lightning does);
    graph          the model as tensor operations (aevb.reference_loops), data.steps_per_call updates
                   captured as one CUDA graph and replayed (CUDA only);
    stacked        --stack R independent runs as one batched model, every parameter with a leading axis of R;
    stacked_graph  those R runs captured as a CUDA graph (CUDA only);
    side_by_side   R eager hand-written runs at once, each on a thread of its own with one torch thread, against one
                   such run on all threads just before: what running jobs side by side could gain on this CPU.
  The default is eager; several modes go with commas; `all` runs every mode the device has. The modes
  other than eager train in fp32, uncompiled. CUDA-only modes are skipped, with a note, on a CPU, and
  side_by_side on a GPU. With several modes, each mode's row is printed as soon as it is measured.

The first `--warmup` minibatches of each run (set-up, torch.compile, a graph's capture) are not
timed. Where the framework has the mode, the two alternate, each pair in the opposite order to the
last, so that a change of load on a shared machine hits both; the ratio is the median over pairs of
framework / reference. Also printed: each mode's trained test bound (the same work gives the same
bound, up to seed noise), the importance-sampled evaluation's throughput (k = 1000) and the peak memory.
"""

import argparse
import gc
import math
import resource
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import lightning.pytorch as L
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch import Tensor

from aevb import reference_loops
from aevb.build import build_datamodule, datamodule_and_model
from aevb.config.hydra_glue import CONFIG_DIR, absolute_directory_variables, updated
from aevb.errors import AevbError
from aevb.estimators.importance_sampling import importance_sampled_log_likelihood
from aevb.lightning_adapter import silence_foreign_noise
from aevb.reference_loops import synchronise
from aevb.stacking.sweep import seat_for, train_together
from aevb.training.run_checks import trainer_arguments

ACCELERATORS = {"cpu": "cpu", "cuda": "gpu"}
CUDA_ONLY = ("graph", "stacked_graph")
CPU_ONLY = ("side_by_side",)  # a question of a CPU's cores


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
    model.stacked_gradients = seat_for(model, str(cfg.trainer.precision))  # in framework_stacked's runs
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
    alike (they see the same number of minibatches, in other orders). The global random state is left as it was."""
    model.to(images.device).eval()
    with torch.random.fork_rng(devices=[images.device] if images.device.type == "cuda" else []):
        torch.manual_seed(0)
        return model.bound_terms(images).lower_bound.mean().item()


def first_test_images(cfg: DictConfig, device: torch.device, datapoints: int = 1000) -> torch.Tensor:
    """The first test images of the benchmark's data (their fixed binarisation), on `device`."""
    datamodule = build_datamodule(cfg)
    datamodule.setup()
    return datamodule.eval_splits["test"][:datapoints].clone().to(device)


@dataclass(frozen=True)
class Job:
    """What the runner of a mode is given."""

    cfg: DictConfig
    device: torch.device
    warmup: int  # minibatches of each run left out of the timing
    stack: int  # R: the runs that a stacked mode trains at once
    test_images: Tensor  # what the trained bound is measured on (first_test_images)


@dataclass(frozen=True)
class Measurement:
    samples_per_second: float  # of all the runs trained at once
    test_bound: float  # the trained lower bound per test datapoint, in nats (the mean over runs trained at once)
    alone: float | None = None  # side_by_side: the samples/s of one run on all threads, measured just before


def framework_alone(job: Job, cuda_graph: bool) -> Measurement:
    """One run of the framework, its training calls run as written or replayed as CUDA graphs (model.cuda_graph)."""
    seconds, model = framework_run(updated(job.cfg, {"model.cuda_graph": cuda_graph}), job.warmup)
    return Measurement(job.cfg.data.batch_size / seconds, bound_on(model, job.test_images))


def framework_stacked(job: Job, cuda_graph: bool) -> Measurement:
    """R runs of the framework (seeds seed, seed + 1, ...) trained together as hydra/launcher=stacked trains a sweep's
    jobs, batched on every device: meeting once an update, or with cuda_graph once a call, each group's call replayed
    as one CUDA graph; the rate of all of them, timed by the slowest."""
    configs = [updated(job.cfg, {"seed": job.cfg.seed + r, "model.cuda_graph": cuda_graph}) for r in range(job.stack)]
    runs = {r: partial(framework_run, cfg, job.warmup) for r, cfg in enumerate(configs)}
    trained = train_together(runs, batched=True)
    seconds = max(seconds for seconds, _ in trained)
    bounds = [bound_on(model, job.test_images) for _, model in trained]
    return Measurement(job.stack * job.cfg.data.batch_size / seconds, statistics.mean(bounds))


def plain_eager(job: Job) -> Measurement:
    seconds, model = plain_run(job.cfg, job.warmup, job.device)
    return Measurement(job.cfg.data.batch_size / seconds, bound_on(model, job.test_images))


def hand_written_loop(job: Job) -> Callable[..., reference_loops.Result]:
    """aevb.reference_loops.train for the model, optimiser and data of the benchmark's config, to call with `runs` and
    `capture` (and `seed`, the config's by default)."""
    cfg = job.cfg
    datamodule = build_datamodule(cfg)
    datamodule.setup("fit")
    setting = reference_loops.Setting(
        batch_size=cfg.data.batch_size,
        hidden=cfg.model.decoder.hidden_dim,
        latent=cfg.model.latent_dim,
        init_std=cfg.model.init_std,
        lr=cfg.optimizer.lr,
        warmup_steps=cfg.optimizer.warmup_steps,
        eps=cfg.optimizer.eps,
    )
    return partial(
        reference_loops.train,
        datamodule.splits["train"].to(job.device),
        job.test_images,
        updates=math.ceil(cfg.trainer.max_samples / cfg.data.batch_size),
        setting=setting,
        seed=cfg.seed,
        steps_per_call=cfg.data.steps_per_call,
        warmup=job.warmup,
    )


def hand_written(job: Job, runs: int | None, capture: bool) -> Measurement:
    result = hand_written_loop(job)(runs=runs, capture=capture)
    return Measurement(result.samples_per_second, statistics.mean(result.test_bounds))


def side_by_side(job: Job) -> Measurement:
    """--stack R runs of the eager hand-written loop at once, each on a thread of its own with one torch thread (as R
    processes of one thread would run), after one such run on all of the process's threads: how much running jobs side
    by side could gain over one after another on this CPU. Both timed from the call to the last run's end, so the
    rates count all of each run (its untimed warm-up too), and samples/s of all is every run's samples over that time."""
    train, threads = hand_written_loop(job), torch.get_num_threads()
    samples = train.keywords["updates"] * job.cfg.data.batch_size
    start = time.perf_counter()
    train(runs=None, capture=False)
    alone = samples / (time.perf_counter() - start)

    def one_of(run: int) -> reference_loops.Result:
        torch.set_num_threads(1)  # this thread's own count
        return train(runs=None, capture=False, seed=job.cfg.seed + run)

    start = time.perf_counter()
    with ThreadPoolExecutor(job.stack) as pool:
        results = list(pool.map(one_of, range(job.stack)))
    together = job.stack * samples / (time.perf_counter() - start)
    torch.set_num_threads(threads)
    return Measurement(together, statistics.mean(bound for result in results for bound in result.test_bounds), alone)


Runner = Callable[[Job], Measurement]
SIDES = ("framework", "reference")
REFERENCE_MODES: dict[str, Runner] = {
    "eager": plain_eager,
    "graph": lambda job: hand_written(job, runs=None, capture=True),
    "stacked": lambda job: hand_written(job, runs=job.stack, capture=False),
    "stacked_graph": lambda job: hand_written(job, runs=job.stack, capture=True),
    "side_by_side": side_by_side,
}
# The framework's runner of each mode it has; a mode without one is measured on the reference's side alone.
FRAMEWORK_MODES: dict[str, Runner] = {
    "eager": partial(framework_alone, cuda_graph=False),
    "graph": partial(framework_alone, cuda_graph=True),
    "stacked": partial(framework_stacked, cuda_graph=False),
    "stacked_graph": partial(framework_stacked, cuda_graph=True),
}


def measure(mode: str, job: Job, repeats: int) -> dict:
    """`repeats` runs of the mode's reference and, where the framework has the mode, as many pairs (framework first in
    even pairs, last in odd ones). Samples/s and test bounds per run, and the ratio framework / reference per pair."""
    sides = {"framework": FRAMEWORK_MODES[mode]} if mode in FRAMEWORK_MODES else {}
    sides["reference"] = REFERENCE_MODES[mode]
    runs: dict[str, list[Measurement]] = {side: [] for side in sides}
    for repeat in range(repeats):
        for side in list(sides) if repeat % 2 == 0 else list(sides)[::-1]:
            gc.collect()  # the last run's model and data, before the next is built
            runs[side].append(sides[side](job))
    speeds = {side: [run.samples_per_second for run in measured] for side, measured in runs.items()}
    ratios = [a / b for a, b in zip(speeds["framework"], speeds["reference"], strict=True)] if "framework" in speeds else []
    gains = [run.samples_per_second / run.alone for run in runs["reference"] if run.alone]  # side_by_side's
    return {
        "speeds": speeds,
        "median": {side: statistics.median(values) for side, values in speeds.items()},
        "ratios": ratios,
        "ratio": statistics.median(ratios) if ratios else None,
        "test_bound": {side: measured[-1].test_bound for side, measured in runs.items()},
        **({"gain_over_one_run": statistics.median(gains), "gains": gains} if gains else {}),
    }


def reference_modes(text: str) -> list[str]:
    """--reference: `all`, or modes separated by commas, each a key of REFERENCE_MODES."""
    modes = list(REFERENCE_MODES) if text == "all" else text.split(",")
    if unknown := [mode for mode in modes if mode not in REFERENCE_MODES]:
        raise argparse.ArgumentTypeError(f"unknown mode {', '.join(unknown)}: choose from {', '.join(REFERENCE_MODES)} or all")
    return modes


def modes_to_run(modes: list[str], device: torch.device) -> tuple[list[str], list[str]]:
    """The modes of --reference that run on `device`, and one-line notes on those skipped."""
    why = "--device cuda" if torch.cuda.is_available() else "a CUDA device, and this machine has none"
    skipped = {mode: f"a CUDA graph needs {why}" for mode in modes if mode in CUDA_ONLY and device.type != "cuda"}
    skipped |= {mode: "it measures a CPU's cores (--device cpu)" for mode in modes if mode in CPU_ONLY and device.type != "cpu"}
    return [mode for mode in modes if mode not in skipped], [f"{mode}: skipped, {why_not}" for mode, why_not in skipped.items()]


def mode_label(mode: str, stack: int) -> str:
    return f"{mode} (R = {stack})" if mode.startswith("stacked") or mode == "side_by_side" else mode


def print_pair(args: argparse.Namespace, setting: str, batch_size: int, measured: dict) -> None:
    """The eager mode alone: framework against the plain loop."""
    speeds, medians, ratios, bounds = measured["speeds"], measured["median"], measured["ratios"], measured["test_bound"]
    print(f"\n{args.samples:,} samples a run, M = {batch_size}, {setting}; median of {args.repeats} pairs of runs:")
    print(f"  framework {medians['framework']:,.0f} samples/s   plain loop {medians['reference']:,.0f} samples/s")
    print(f"  ratio framework / plain {measured['ratio']:.3f}  (each pair: {' '.join(f'{r:.3f}' for r in ratios)})")
    print(f"  each run: framework {[round(v) for v in speeds['framework']]}, plain {[round(v) for v in speeds['reference']]}")
    print(f"  the same work: test bound framework {bounds['framework']:.2f}, plain {bounds['reference']:.2f} nats")


def print_table_head(args: argparse.Namespace, setting: str, batch_size: int) -> None:
    print(f"\n{args.samples:,} samples a run, M = {batch_size}, {setting}; median of {args.repeats} runs of each:")
    print(f"  {'mode':<20}{'reference samples/s':>21}{'framework samples/s':>21}{'framework / reference':>23}", flush=True)


def print_table_row(args: argparse.Namespace, mode: str, result: dict) -> None:
    """A mode's row, printed as soon as it is measured (a run cut short by a time limit keeps the rows before)."""
    has_framework = "framework" in result["median"]
    framework = f"{result['median']['framework']:,.0f}" if has_framework else "-"
    ratio = f"{result['ratio']:.3f}" if has_framework else "-"
    print(f"  {mode_label(mode, args.stack):<20}{result['median']['reference']:>21,.0f}{framework:>21}{ratio:>23}", flush=True)


def print_table_end(args: argparse.Namespace, measured: dict[str, dict], notes: list[str]) -> None:
    """Under the rows: the ratios between modes, the notes, each run's samples/s and the bounds."""
    frameworks = {mode: result["median"].get("framework") for mode, result in measured.items()}
    if frameworks.get("stacked") and frameworks.get("eager"):
        print(f"  stacked framework / eager framework {frameworks['stacked'] / frameworks['eager']:.3f}  (R runs at once against "
              "one after another, in samples/s of all)")  # fmt: skip
    if frameworks.get("stacked_graph") and frameworks.get("graph"):
        graphs = frameworks["stacked_graph"] / frameworks["graph"]
        print(f"  stacked_graph framework / graph framework {graphs:.3f}  (R runs' calls as one graph, against one run's)")
    if frameworks.get("graph") and frameworks.get("eager"):
        graph = frameworks["graph"] / frameworks["eager"]
        print(f"  graph framework / eager framework {graph:.3f}  (one run, its calls replayed as CUDA graphs)")
    if "side_by_side" in measured:
        gains = measured["side_by_side"]["gains"]
        print(f"  side_by_side / one run on all {args.threads} threads {measured['side_by_side']['gain_over_one_run']:.3f}  "
              f"(R hand-written runs at once, a thread each; each round: {' '.join(f'{g:.3f}' for g in gains)})")  # fmt: skip
    for note in notes:
        print(f"  {note}")
    for mode, result in measured.items():
        runs = ", ".join(f"{side} {[round(v) for v in values]}" for side, values in result["speeds"].items())
        pairs = f"; each pair's ratio: {' '.join(f'{r:.3f}' for r in result['ratios'])}" if result["ratios"] else ""
        print(f"  {mode} each run: {runs}{pairs}")
    bounds = [f"{mode} {side} {bound:.2f}" for mode, result in measured.items() for side, bound in result["test_bound"].items()]
    if bounds:
        print(f"  the same work: test bound {', '.join(bounds)} nats (stacked: the mean of the runs)")


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
    """Parse the arguments, run the benchmark, print it, and return the medians and ratios: under "modes" per mode,
    and for the eager mode also as "framework", "plain", "ratio" and "test_bound"."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=30_000, help="training samples per run, timed after the warm-up")
    parser.add_argument("--repeats", type=int, default=15, help="runs of each mode (pairs: framework, reference)")
    parser.add_argument("--warmup", type=int, default=20, help="minibatches of each run left out of the timing")
    parser.add_argument("--device", choices=sorted(ACCELERATORS), default="cpu")
    parser.add_argument("--precision", choices=["32-true", "16-mixed", "bf16-mixed"], default="32-true")
    parser.add_argument("--compile", action="store_true", help="torch.compile the encoder and decoder (model.compile=true)")
    parser.add_argument(
        "--steps-per-call", type=int, help="minibatches per call of training_step (data.steps_per_call; the preset: 10)"
    )
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="CPU threads (torch.set_num_threads)")
    parser.add_argument("--data-dir", help="MNIST's directory (default: paths.data_dir, i.e. $AEVB_DATA_DIR or ./data)")
    parser.add_argument(
        "--reference", type=reference_modes, default=["eager"], metavar="MODE[,MODE...]|all",
        help=f"the reference loop's modes (see above): {', '.join(REFERENCE_MODES)}, several with commas, or all",
    )  # fmt: skip
    parser.add_argument("--stack", type=int, default=20, help="R: the runs that the stacked modes train at once")
    args = parser.parse_args(argv)
    if args.samples < 100 * (args.warmup + 1):
        parser.error(f"--samples {args.samples} leaves no minibatch to time after --warmup {args.warmup}")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: this machine has no CUDA device")
    if args.stack < 1:
        parser.error(f"--stack {args.stack}: the stacked modes need at least one run")
    if args.reference != ["eager"] and (args.precision != "32-true" or args.compile):
        parser.error(
            f"--reference {','.join(args.reference)}: the hand-written loops train in fp32 uncompiled; use --reference eager"
        )
    torch.set_num_threads(args.threads)
    L.seed_everything(0, verbose=False)
    device = torch.device(args.device)
    cfg = benchmark_config(args.samples, args.device, args.precision, args.compile, args.steps_per_call, args.data_dir)
    modes, notes = modes_to_run(args.reference, device)

    setting = f"{args.device}, {args.precision}{', compiled' if args.compile else ''}, {args.threads} threads"
    setting += f", {cfg.data.steps_per_call} minibatches per call of training_step"
    table = modes != ["eager"]  # one mode alone: the output of the benchmark before it had other modes (print_pair)
    if table:
        print_table_head(args, setting, cfg.data.batch_size)

    job = Job(cfg, device, args.warmup, args.stack, first_test_images(cfg, device))
    measured = {}
    for mode in modes:
        measured[mode] = measure(mode, job, args.repeats)
        if table:
            print_table_row(args, mode, measured[mode])
    result: dict = {"modes": measured, "evaluation": evaluation_throughput(cfg, device)}
    if "eager" in measured:
        eager = measured["eager"]
        result.update(
            framework=eager["median"]["framework"],
            plain=eager["median"]["reference"],
            ratio=eager["ratio"],
            test_bound={"framework": eager["test_bound"]["framework"], "plain": eager["test_bound"]["reference"]},
        )
    if table:
        print_table_end(args, measured, notes)
    else:
        print_pair(args, setting, cfg.data.batch_size, measured["eager"])
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
