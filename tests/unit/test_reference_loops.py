"""The hand-written loops that aevb-bench measures the framework against: stacking changes nothing but the speed, and the
optimiser step is the framework's WarmupAdagrad."""

import pytest
import torch

from aevb import reference_loops
from aevb.reference_loops import RunGenerators, Setting, initial_state, train, training_step, warmup_adagrad_step
from aevb.training.optim import WarmupAdagrad

# The paper's model with 64 hidden units instead of 500, for speed; 5 minibatches of M = 100 an epoch; the Adagrad
# warm-up ends after the 3rd update.
SETTING = Setting(hidden=64, warmup_steps=3)
# bmm sums each matrix product in another order than mm, so the stacked runs part from the lone runs by float32
# rounding. Adagrad divides each gradient by the root of its own sum of squares, so where rounding dominates a gradient
# (one summed to nearly zero over the minibatch) it still moves the weight by up to lr = 0.01: the parameters agree to
# 1e-3 lr, and the summed squares, which follow the gradients of parameters so moved, to 0.5 %. A minibatch or a draw
# gone astray would part them by lr and by 100 % at once.
PARAMETERS_CLOSE = {"rtol": 1e-4, "atol": 1e-5}
SQUARES_CLOSE = {"rtol": 5e-3, "atol": 1e-6}


def synthetic_images(n: int = 500, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n training images in [0, 1] and 100 binary test images, of a fixed pattern with noise, so that training helps."""
    generator = torch.Generator().manual_seed(seed)
    pattern = torch.rand(1, 1, 28, 28, generator=generator).round() * 0.8 + 0.1  # pixels mostly off or mostly on
    images = (pattern + 0.1 * torch.rand(n, 1, 28, 28, generator=generator)).clamp(0, 1)
    return images, torch.bernoulli(pattern.expand(100, -1, -1, -1), generator=generator)


def test_stacked_runs_take_the_steps_of_the_same_runs_alone():
    images, _ = synthetic_images()
    images = images.flatten(1)
    steps_per_epoch = len(images) // SETTING.batch_size
    seeds = [3, 4]
    alone = [RunGenerators([seed], torch.device("cpu"), stacked=False) for seed in seeds]
    stacked = RunGenerators(seeds, torch.device("cpu"), stacked=True)
    states = [initial_state(draws, SETTING, len(images), images.shape[-1]) for draws in alone]
    stacked_state = initial_state(stacked, SETTING, len(images), images.shape[-1])
    for step in range(8):  # across the end of the warm-up and of the first epoch
        for state, draws in [*zip(states, alone, strict=True), (stacked_state, stacked)]:
            if step > 0 and step % steps_per_epoch == 0:  # as train() starts an epoch
                state.order.copy_(draws.permutation(len(images)))
            training_step(state, images, draws, SETTING)
        for run, state in enumerate(states):
            torch.testing.assert_close(stacked_state.order[run], state.order, rtol=0, atol=0)
            for name, theta in state.parameters.items():
                torch.testing.assert_close(stacked_state.parameters[name][run], theta, **PARAMETERS_CLOSE)
                squares = state.squared_gradients[name]
                torch.testing.assert_close(stacked_state.squared_gradients[name][run], squares, **SQUARES_CLOSE)
    assert stacked_state.updates.item() == 8
    start = initial_state(RunGenerators(seeds[:1], torch.device("cpu"), stacked=False), SETTING, len(images), 784)
    assert not torch.equal(start.parameters["decoder.output.weight"], states[0].parameters["decoder.output.weight"])  # moved


def test_train_stacked_gives_each_run_the_bound_it_gets_alone():
    images, test_images = synthetic_images()
    stacked = train(images, test_images, updates=12, setting=SETTING, runs=2, seed=7, warmup=2)
    alone = [train(images, test_images, updates=12, setting=SETTING, seed=seed, warmup=2) for seed in (7, 8)]
    assert stacked.samples_per_second > 0 and len(stacked.test_bounds) == 2
    assert stacked.test_bounds == pytest.approx([result.test_bounds[0] for result in alone], abs=1e-3)
    untrained = train(images, test_images, updates=3, setting=SETTING, warmup=2).test_bounds[0]  # still in the warm-up
    assert stacked.test_bounds[0] > untrained + 10


def test_the_step_is_warmup_adagrad_across_the_warm_up():
    generator = torch.Generator().manual_seed(0)
    weight, bias = torch.randn(3, 2, generator=generator), torch.randn(3, generator=generator)
    setting = Setting(lr=0.05, warmup_steps=3, eps=1e-8)
    parameters = {"layer.weight": weight.clone(), "layer.bias": bias.clone()}
    state = reference_loops.TrainingState(
        parameters=parameters,
        squared_gradients={name: torch.zeros_like(p) for name, p in parameters.items()},
        weight_decay={"layer.weight": 0.5, "layer.bias": 0.0},
        scratch={name: (torch.empty_like(p), torch.empty_like(p)) for name, p in parameters.items()},
        updates=torch.zeros((), dtype=torch.int64),
        order=torch.arange(1),
    )
    params = [torch.nn.Parameter(weight.clone()), torch.nn.Parameter(bias.clone())]
    groups = [{"params": params[:1], "weight_decay": 0.5}, {"params": params[1:], "weight_decay": 0.0}]
    optimizer = WarmupAdagrad(groups, lr=setting.lr, warmup_steps=setting.warmup_steps, eps=setting.eps)
    for _ in range(6):
        gradients = {"layer.weight": torch.randn(3, 2, generator=generator), "layer.bias": torch.randn(3, generator=generator)}
        params[0].grad, params[1].grad = gradients["layer.weight"].clone(), gradients["layer.bias"].clone()
        optimizer.step()
        warmup_adagrad_step(state, gradients, setting)
        torch.testing.assert_close(state.parameters["layer.weight"], params[0].detach())
        torch.testing.assert_close(state.parameters["layer.bias"], params[1].detach())
    assert not torch.equal(state.parameters["layer.weight"], weight)  # it moved after the warm-up


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")
@pytest.mark.parametrize("runs", [None, 2])
def test_a_captured_loop_does_the_work_of_the_eager_one(runs):
    images, test_images = (t.cuda() for t in synthetic_images())
    common = {"updates": 40, "setting": SETTING, "runs": runs, "warmup": 0}
    captured = train(images, test_images, capture=True, steps_per_call=5, **common)
    eager = train(images, test_images, **common)
    untrained = train(images, test_images, updates=3, setting=SETTING, warmup=0).test_bounds[0]
    # other draws (the default generator's), as many updates: the same gain, up to seed noise (about 1 % on a CPU)
    gains = [bound - untrained for bound in captured.test_bounds + eager.test_bounds]
    assert min(gains) > 100
    assert max(gains) - min(gains) < 0.03 * max(gains)
    with pytest.raises(ValueError, match="must divide"):
        train(images, test_images, capture=True, steps_per_call=3, **common)
