"""Plain, hand-written training loops for the paper's MNIST model: what aevb-bench measures the framework against.

The model and its training are those of `experiment=aevb_mnist` (Kingma & Welling 2013, section 5 and Appendix C),
written as tensor operations on a dict of parameters, with no module, optimiser object or framework:

  q(z|x)  h = tanh(W3 x + b3), mu = W4 h + b4, log sigma^2 = W5 h + b5    784-500-(2 * 20)
  p(x|z)  y = sigmoid(W2 tanh(W1 z + b1) + b2), Bernoulli                  20-500-784
  every weight and bias drawn from N(0, 0.01^2); estimator B (the KL in closed form), L = 1, M = 100; the weights'
  N(0, I) prior as a weight decay of 1 / N_train; the authors' Adagrad with warm-up (aevb.training.optim.WarmupAdagrad).

A training step reads and writes only tensors on the device (the update count included), so one function serves
three loops:

  eager          `train(..., runs=None)`: one run, one step after another from Python;
  stacked        `train(..., runs=R)`: R independent runs as one batched model, every parameter with a leading
                 axis of R and each layer one batched matrix product (torch.baddbmm; on a CPU faster than
                 torch.func.vmap over the same loss);
  CUDA graph     `train(..., capture=True)`: `steps_per_call` steps recorded once with torch.cuda.graph and replayed.
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

Parameters = dict[str, Tensor]  # name -> weight (out, in) or bias (out,), each with a leading axis of R when stacked
GRAPH_WARMUP_CALLS = 3  # calls run on a side stream before the capture, as the CUDA graphs documentation asks


@dataclass(frozen=True)
class Setting:
    """The paper's MNIST model and optimiser (the defaults: experiment=aevb_mnist before its step-size selection)."""

    batch_size: int = 100  # M
    hidden: int = 500
    latent: int = 20  # N_z
    init_std: float = 0.01
    lr: float = 0.01
    warmup_steps: int = 100  # minibatches whose squared gradients Adagrad sums before its first step
    eps: float = 1e-8


@dataclass(frozen=True)
class Result:
    samples_per_second: float  # every run's samples, after the untimed warm-up
    test_bounds: list[float]  # each run's lower bound per test datapoint, in nats


@dataclass
class TrainingState:
    """Everything a training step reads and writes, held on the device."""

    parameters: Parameters  # leaves that require grad
    squared_gradients: Parameters  # Adagrad's sum of g^2 per parameter
    weight_decay: dict[str, float]  # 1 / N_train for weights, 0 for biases
    # two tensors like each parameter, for the optimiser step's g and root (on a CPU, fresh tensors of megabytes every
    # step made the step two to three times slower)
    scratch: dict[str, tuple[Tensor, Tensor]]
    updates: Tensor  # int64 scalar: the steps taken so far, warm-up included
    order: Tensor  # this epoch's permutation of the training images: (N,), or (R, N) stacked; the first epoch's to start


class RunGenerators:
    """Each run's own seeded generator: a run draws the same numbers, its initial parameters included, whether it
    trains alone or stacked with others."""

    def __init__(self, seeds: list[int], device: torch.device, stacked: bool):
        if not stacked and len(seeds) != 1:
            raise ValueError(f"a run trained alone takes one seed, got {seeds}")
        self.generators = [torch.Generator(device).manual_seed(seed) for seed in seeds]
        self.device, self.stacked = device, stacked

    def _each(self, draw: Callable[[torch.Generator], Tensor]) -> Tensor:
        draws = [draw(generator) for generator in self.generators]
        return torch.stack(draws) if self.stacked else draws[0]

    def rand(self, *shape: int) -> Tensor:
        return self._each(lambda generator: torch.rand(shape, generator=generator, device=self.device))

    def randn(self, *shape: int) -> Tensor:
        return self._each(lambda generator: torch.randn(shape, generator=generator, device=self.device))

    def permutation(self, n: int) -> Tensor:
        return self._each(lambda generator: torch.randperm(n, generator=generator, device=self.device))


class DefaultGenerator:
    """The device's default generator, one draw for all runs: the generator a CUDA graph can capture (each replay
    advances it)."""

    def __init__(self, runs: int | None, device: torch.device):
        self.leading, self.device = () if runs is None else (runs,), device

    def rand(self, *shape: int) -> Tensor:
        return torch.rand((*self.leading, *shape), device=self.device)

    def randn(self, *shape: int) -> Tensor:
        return torch.randn((*self.leading, *shape), device=self.device)

    def permutation(self, n: int) -> Tensor:
        return torch.rand((*self.leading, n), device=self.device).argsort(dim=-1)


Draws = RunGenerators | DefaultGenerator


def layer_shapes(setting: Setting, pixels: int) -> dict[str, tuple[int, int]]:
    """(out, in) of each linear layer."""
    return {
        "encoder.hidden": (setting.hidden, pixels),  # W3
        "encoder.output": (2 * setting.latent, setting.hidden),  # W4 and W5 side by side
        "decoder.hidden": (setting.hidden, setting.latent),  # W1
        "decoder.output": (pixels, setting.hidden),  # W2
    }


def initial_state(draws: Draws, setting: Setting, train_size: int, pixels: int) -> TrainingState:
    """Every weight and bias from N(0, init_std^2), Adagrad's sums at zero, no update taken."""
    parameters = {}
    for layer, (out, inputs) in layer_shapes(setting, pixels).items():
        parameters[f"{layer}.weight"] = (draws.randn(out, inputs) * setting.init_std).requires_grad_()
        parameters[f"{layer}.bias"] = (draws.randn(out) * setting.init_std).requires_grad_()
    return TrainingState(
        parameters=parameters,
        squared_gradients={name: torch.zeros_like(p) for name, p in parameters.items()},
        # log p(theta) = -|w|^2 / 2 joins the full-data bound; per datapoint that is -|w|^2 / (2 N): a decay of 1/N
        weight_decay={name: 1.0 / train_size if name.endswith(".weight") else 0.0 for name in parameters},
        scratch={name: (torch.empty_like(p), torch.empty_like(p)) for name, p in parameters.items()},
        updates=torch.zeros((), dtype=torch.int64, device=draws.device),
        order=draws.permutation(train_size),
    )


def linear(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """x W^T + b: one matrix product for one run, one batched matrix product for runs stacked on a leading axis."""
    if weight.ndim == 2:
        return F.linear(x, weight, bias)
    return torch.baddbmm(bias.unsqueeze(-2), x, weight.mT)


def negative_bound(p: Parameters, x: Tensor, eps: Tensor) -> Tensor:
    """-L^B per datapoint, averaged over the minibatch (one value per run): x binary, (M, 784) or (R, M, 784); eps the
    N(0, I) noise, (M, 20) or (R, M, 20)."""
    # q(z|x) = N(mu, sigma^2 I): h = tanh(W3 x + b3), mu = W4 h + b4, log sigma^2 = W5 h + b5   (App. C.2)
    h = torch.tanh(linear(x, p["encoder.hidden.weight"], p["encoder.hidden.bias"]))
    mean, log_var = linear(h, p["encoder.output.weight"], p["encoder.output.bias"]).chunk(2, dim=-1)
    # z = mu + sigma * eps   (eq. 4 and section 2.4), L = 1 sample per datapoint
    z = mean + torch.exp(0.5 * log_var) * eps
    # log p(x|z) = sum_i x_i log y_i + (1 - x_i) log(1 - y_i), y = sigmoid(W2 tanh(W1 z + b1) + b2)   (App. C.1)
    h = torch.tanh(linear(z, p["decoder.hidden.weight"], p["decoder.hidden.bias"]))
    logits = linear(h, p["decoder.output.weight"], p["decoder.output.bias"])
    log_likelihood = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
    # -KL(q(z|x) || p(z)) = 1/2 sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2)   (Appendix B)
    kl = -0.5 * (1 + log_var - mean.square() - log_var.exp()).sum(-1)
    # L^B = -KL + log p(x|z)   (eq. 7); the minibatch estimator of eq. 8 divided by N
    return (kl - log_likelihood).mean(-1)


@torch.no_grad()
def warmup_adagrad_step(state: TrainingState, gradients: Parameters, setting: Setting) -> None:
    """aevb.training.optim.WarmupAdagrad's step as tensor operations: no host branch, so a CUDA graph can capture it."""
    state.updates += 1
    moving = torch.where(state.updates > setting.warmup_steps, 1.0, 0.0)  # 0 in the warm-up: the squares only add up
    for name, theta in state.parameters.items():
        g, root = state.scratch[name]
        # the gradient of the negative bound, plus that of the weight prior's -log p(theta) per datapoint
        torch.add(gradients[name], theta, alpha=state.weight_decay[name], out=g)
        state.squared_gradients[name].addcmul_(g, g)
        # theta <- theta - lr * g / sqrt(sum of g^2 + eps)
        torch.add(state.squared_gradients[name], setting.eps, out=root).sqrt_()
        theta.addcdiv_(g.mul_(moving), root, value=-setting.lr)


def training_step(state: TrainingState, images: Tensor, draws: Draws, setting: Setting) -> None:
    """One minibatch of every run, one update (Algorithm 1); images: the training set, (N, 784) in [0, 1]."""
    m = setting.batch_size
    # the next M images of this epoch's permutation, found from the update count on the device
    position = state.updates % (len(images) // m) * m
    pixels = images[state.order[..., position + torch.arange(m, device=images.device)]]
    # dynamic binarisation: each pixel is 1 with its intensity as probability
    x = (draws.rand(m, images.shape[-1]) < pixels).float()
    eps = draws.randn(m, setting.latent)
    # the runs' losses summed: each run's parameters get the gradient of its own loss
    loss = negative_bound(state.parameters, x, eps).sum()
    gradients = torch.autograd.grad(loss, list(state.parameters.values()))
    warmup_adagrad_step(state, dict(zip(state.parameters, gradients, strict=True)), setting)


@torch.no_grad()
def lower_bounds(parameters: Parameters, images: Tensor, seed: int = 0) -> list[float]:
    """Each run's lower bound per datapoint on `images` (binary, (T, 784)), one draw of z per datapoint."""
    weight = parameters["decoder.hidden.weight"]  # (hidden, N_z) or (R, hidden, N_z)
    generator = torch.Generator(images.device).manual_seed(seed)
    eps = torch.randn((len(images), weight.shape[-1]), generator=generator, device=images.device)
    if weight.ndim == 3:  # stacked: every run scores the same images with the same draws
        images, eps = images.expand(len(weight), *images.shape), eps.expand(len(weight), *eps.shape)
    return (-negative_bound(parameters, images, eps)).reshape(-1).tolist()


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train(
    images: Tensor,
    test_images: Tensor,
    updates: int,
    setting: Setting = Setting(),
    runs: int | None = None,
    seed: int = 0,
    capture: bool = False,
    steps_per_call: int = 10,
    warmup: int = 20,
) -> Result:
    """Train one run (runs=None) or `runs` stacked runs for `updates` minibatches each, timed after the first `warmup`.

    images, test_images: the training images in [0, 1] and binary test images, (N, 1, 28, 28) or (N, 784), on the
    device to train on. Eager runs draw from generators seeded seed, seed + 1, ... (one per run); a captured loop
    (capture=True, CUDA only) from the device's default generator, `steps_per_call` updates per replay, `updates`
    rounded up to whole calls, with every epoch's first update at the start of a call.
    """
    images, test_images = images.flatten(1), test_images.flatten(1)
    device, steps_per_epoch = images.device, len(images) // setting.batch_size
    if capture:
        if device.type != "cuda":
            raise ValueError(f"a CUDA graph needs the images on a CUDA device, not {device}")
        if steps_per_epoch % steps_per_call:
            raise ValueError(f"steps_per_call={steps_per_call} must divide the {steps_per_epoch} minibatches of an epoch")
        draws = DefaultGenerator(runs, device)
    else:
        steps_per_call = 1
        draws = RunGenerators([seed + run for run in range(runs or 1)], device, stacked=runs is not None)
    state = initial_state(draws, setting, train_size=len(images), pixels=images.shape[-1])

    def steps() -> None:
        for _ in range(steps_per_call):
            training_step(state, images, draws, setting)

    def call(index: int, run_steps: Callable[[], None]) -> None:
        if index > 0 and index * steps_per_call % steps_per_epoch == 0:  # a new epoch: a fresh permutation
            state.order.copy_(draws.permutation(len(images)))
        run_steps()

    calls, done = math.ceil(updates / steps_per_call), 0
    run_steps = steps
    if capture:
        side_stream = torch.cuda.Stream(device)
        side_stream.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side_stream):
            for index in range(GRAPH_WARMUP_CALLS):
                call(index, steps)
        torch.cuda.current_stream(device).wait_stream(side_stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            steps()  # recorded, not run
        run_steps, done = graph.replay, GRAPH_WARMUP_CALLS
    timed_from = max(done, math.ceil(warmup / steps_per_call))
    if timed_from >= calls:
        raise ValueError(f"{updates} updates leave none to time after the first {timed_from * steps_per_call}")
    for index in range(done, calls):
        if index == timed_from:
            synchronise(device)
            start = time.perf_counter()
        call(index, run_steps)
    synchronise(device)
    seconds = time.perf_counter() - start
    samples = (runs or 1) * setting.batch_size * steps_per_call * (calls - timed_from)
    return Result(samples / seconds, lower_bounds(state.parameters, test_images))
