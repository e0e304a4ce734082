"""The authors' Adagrad with warm-up, against the update written out by hand and against torch's Adagrad."""

import pytest
import torch

from aevb.training.optim import WarmupAdagrad, stacked_warmup_adagrad_step


def gradients(steps, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(3, generator=g) for _ in range(steps)]


def run(optimizer_factory, grads, start):
    param = torch.nn.Parameter(start.clone())
    optimizer = optimizer_factory([param])
    history = []
    for grad in grads:
        param.grad = grad.clone()
        optimizer.step()
        history.append(param.detach().clone())
    return history


def test_no_update_during_warm_up_then_lr_g_over_root_of_all_squares():
    start, grads = torch.tensor([0.1, -0.2, 0.3]), gradients(8)
    history = run(lambda p: WarmupAdagrad(p, lr=0.05, warmup_steps=5, eps=1e-8), grads, start)
    for params in history[:5]:
        assert torch.equal(params, start)  # squared gradients only accumulate
    expected, squares = start.clone(), torch.zeros(3)
    for step, grad in enumerate(grads, start=1):
        squares += grad**2
        if step > 5:
            expected -= 0.05 * grad / torch.sqrt(squares + 1e-8)
    torch.testing.assert_close(history[-1], expected)
    # The first update moves each weight by far less than lr: the warm-up already holds 6 squares.
    assert (history[5] - start).abs().max() < 0.05


def test_without_warm_up_it_is_torchs_adagrad():
    start, grads = torch.tensor([0.1, -0.2, 0.3]), gradients(20, seed=1)
    ours = run(lambda p: WarmupAdagrad(p, lr=0.1, warmup_steps=0, eps=0.0), grads, start)
    torchs = run(lambda p: torch.optim.Adagrad(p, lr=0.1, eps=0.0), grads, start)
    torch.testing.assert_close(ours[-1], torchs[-1])
    # ... whose first step is +-lr for every weight, whatever the gradient's size
    torch.testing.assert_close((torchs[0] - start).abs(), torch.full((3,), 0.1))


def test_weight_decay_is_added_to_the_gradient_per_group():
    weight, bias = torch.nn.Parameter(torch.ones(2, 2)), torch.nn.Parameter(torch.ones(2))
    groups = [{"params": [weight], "weight_decay": 0.5}, {"params": [bias], "weight_decay": 0.0}]
    optimizer = WarmupAdagrad(groups, warmup_steps=1)
    weight.grad, bias.grad = torch.zeros(2, 2), torch.zeros(2)
    optimizer.step()
    # the decayed weight accumulated (0 + 0.5 * 1)^2; the bias nothing
    torch.testing.assert_close(optimizer.state[weight]["sum"], torch.full((2, 2), 0.25))
    torch.testing.assert_close(optimizer.state[bias]["sum"], torch.zeros(2))


@pytest.mark.parametrize("kwargs", [{"lr": 0}, {"warmup_steps": -1}, {"eps": -1}, {"weight_decay": -0.1}])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError, match="optimizer"):
        WarmupAdagrad([torch.nn.Parameter(torch.ones(1))], **kwargs)


def test_steps_counted_on_the_device_from_any_point_are_the_same_bit_for_bit():
    start, grads = torch.tensor([0.1, -0.2, 0.3]), gradients(13, seed=2)
    on_host = run(lambda p: WarmupAdagrad(p, lr=0.05, warmup_steps=5, weight_decay=0.1), grads, start)
    for switch in (0, 3, 5, 9):  # before any step, in the warm-up, at its end, after it
        param = torch.nn.Parameter(start.clone())
        optimizer = WarmupAdagrad([param], lr=0.05, warmup_steps=5, weight_decay=0.1)
        for step, grad in enumerate(grads[:12]):
            if step == switch:
                optimizer.count_on_device()
            param.grad = grad.clone()
            optimizer.step()
            assert torch.equal(param.detach(), on_host[step]), (switch, step)
        assert isinstance(optimizer.state[param]["step"], torch.Tensor) and int(optimizer.state[param]["step"]) == 12
        # its state, as a checkpoint saves it, goes on alike in a fresh optimizer (a run resumed on a CPU)
        reloaded = WarmupAdagrad([param], lr=0.05, warmup_steps=5, weight_decay=0.1)
        reloaded.load_state_dict(optimizer.state_dict())
        param.grad = grads[12].clone()
        reloaded.step()
        assert torch.equal(param.detach(), on_host[12])


def test_runs_stacked_each_with_its_own_settings_step_as_each_alone():
    settings = [
        {"lr": 0.05, "warmup_steps": 2, "weight_decay": 0.1, "eps": 1e-8},
        {"lr": 0.2, "warmup_steps": 4, "weight_decay": 0.0, "eps": 1e-4},
    ]
    starts = [torch.tensor([0.1, -0.2, 0.3]), torch.tensor([0.5, 0.0, -1.0])]
    grads = [gradients(7, seed=3), gradients(7, seed=4)]
    alone = [run(lambda p, s=s: WarmupAdagrad(p, **s), g, start)[-1] for s, g, start in zip(settings, grads, starts, strict=True)]
    theta, squares, steps = torch.stack(starts), torch.zeros(2, 3), torch.zeros(2, dtype=torch.int64)
    each = {key: torch.tensor([float(s[key]) for s in settings]) for key in settings[0]}
    for step in range(7):
        stacked_warmup_adagrad_step(theta, torch.stack([g[step] for g in grads]), squares, steps, each["lr"],
                                    each["weight_decay"], each["eps"], each["warmup_steps"])  # fmt: skip
    torch.testing.assert_close(theta, torch.stack(alone), rtol=1e-6, atol=1e-7)
    assert steps.tolist() == [7, 7]
