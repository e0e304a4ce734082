"""The stacked sweep's parts: the batched gradients equal each job's own, and the baton gives each job its own
random state, so jobs that take turns draw what they would draw alone."""

import functools
import logging

import pytest
import torch

from aevb.components.likelihoods import Gaussian
from aevb.components.vamp_prior import VampPrior
from aevb.errors import ConfigError
from aevb.models.iwae import IWAE
from aevb.models.vae import VAE
from aevb.models.wake_sleep import WakeSleep
from aevb.stacking.baton import Baton
from aevb.stacking.calls import GroupCalls, HandedInCall, clipped
from aevb.stacking.gradients import HandedIn, StackedGradients, alone, together
from aevb.stacking.sweep import seat_for, train_together
from aevb.training.captured_calls import CapturedCalls
from tiny_models import tiny

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"))]
MODELS = {
    "VAE": lambda: tiny(VAE),
    "VAE, estimator A, L = 3": lambda: tiny(VAE, estimator="A", bound_samples=3),
    "IWAE": lambda: tiny(IWAE, importance_samples=4),
    "VAE with a VampPrior (its encoder shared)": lambda: tiny(
        VAE, estimator="A", prior=functools.partial(VampPrior, components=3)
    ),
    "wake-sleep": lambda: tiny(WakeSleep),
    "wake-sleep, Gaussian dreams": lambda: tiny(WakeSleep, likelihood=Gaussian()),
}


def job_models(make, count: int, device: str = "cpu") -> list:
    models = []
    for seed in range(count):
        torch.manual_seed(seed)  # each job's own initial weights
        model = make().to(device)
        model.config = {"the same": "settings"}
        models.append(model)
    return models


def handed_in(models, batches) -> list[HandedIn]:
    return [
        HandedIn(model, x, model.training_noise(x), (x.device.type, False, torch.bfloat16))
        for model, x in zip(models, batches, strict=True)
    ]


def gradients(model) -> dict[str, torch.Tensor]:
    return {name: p.grad.clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_jobs_computed_together_get_the_loss_and_gradient_each_computes_alone(name, device):
    models = job_models(MODELS[name], 3, device)
    torch.manual_seed(10)
    batches = [torch.bernoulli(torch.full((5, 1, 4, 4), p, device=device)) for p in (0.2, 0.5, 0.7)]
    jobs = handed_in(models, batches)
    expected = []
    for job in jobs:
        loss, scalars = alone(job)
        expected.append((loss, scalars, gradients(job.model)))
    results = together(jobs)
    # A batched matrix product sums in another order than one alone: equal to float rounding, not bit for bit.
    for (loss, scalars), job, (loss_alone, scalars_alone, gradients_alone) in zip(results, jobs, expected, strict=True):
        torch.testing.assert_close(loss, loss_alone, rtol=1e-5, atol=1e-6)
        assert scalars.keys() == scalars_alone.keys()
        for key in scalars:
            torch.testing.assert_close(scalars[key], scalars_alone[key], rtol=1e-5, atol=1e-6)
        for key, gradient in gradients(job.model).items():
            torch.testing.assert_close(gradient, gradients_alone[key], rtol=1e-4, atol=1e-6)


def test_a_job_alone_in_its_group_computes_bit_for_bit_as_its_own_update_does():
    (model,) = job_models(MODELS["VAE"], 1)
    x = torch.bernoulli(torch.full((5, 1, 4, 4), 0.3))
    noise = model.training_noise(x)
    loss, _ = model.training_loss(x, noise)
    loss.backward()
    own = gradients(model)
    sweep, results = StackedGradients(Baton(), {0}), []
    sweep.baton.run([lambda: results.append(sweep.seat(0)(model, x, noise))])
    stacked_loss, _ = results[0]
    assert torch.equal(stacked_loss, loss.detach())
    assert all(torch.equal(gradients(model)[key], own[key]) for key in own)


def run_jobs_in_turn(models, batches, leave_early: int | None = None) -> dict[int, list]:
    """Each job, seeded apart, hands in 3 updates (the job `leave_early` only 1, then leaves); the losses."""
    baton = Baton()
    sweep = StackedGradients(baton, set(range(len(models))))
    losses: dict[int, list] = {}

    def job(number: int) -> None:
        torch.manual_seed(100 + number)
        losses[number] = []
        for _ in range(1 if number == leave_early else 3):
            x = batches[number]
            loss, _ = sweep.seat(number)(models[number], x, models[number].training_noise(x))
            losses[number].append(loss)
        sweep.leave(number)

    baton.run([lambda number=number: job(number) for number in range(len(models))])
    return losses


def test_jobs_in_turn_draw_their_own_noise_and_a_job_that_leaves_holds_no_one_up():
    models = job_models(MODELS["VAE"], 2)
    batches = [torch.bernoulli(torch.full((5, 1, 4, 4), p)) for p in (0.3, 0.6)]
    losses = run_jobs_in_turn(models, batches, leave_early=0)
    assert len(losses[0]) == 1 and len(losses[1]) == 3
    for number, model in enumerate(models):  # the same updates alone (no optimiser step: the weights stay)
        torch.manual_seed(100 + number)
        for loss in losses[number]:
            expected, _ = model.training_loss(batches[number], model.training_noise(batches[number]))
            torch.testing.assert_close(loss, expected.detach(), rtol=1e-5, atol=1e-6)


def test_a_failure_of_the_batched_computation_reaches_every_job():
    models = job_models(MODELS["VAE"], 2)
    baton = Baton()
    sweep = StackedGradients(baton, {0, 1}, batched=True)
    errors = []

    def job(number: int) -> None:
        x = torch.ones(5, 1, 4, 4)
        try:
            sweep.seat(number)(models[number], x, torch.zeros(1, 5, 3))  # noise of the wrong latent size
        except RuntimeError as error:
            errors.append(error)
        sweep.leave(number)

    baton.run([lambda: job(0), lambda: job(1)])
    assert len(errors) == 2


def test_jobs_that_a_job_starts_train_with_the_whole_sweep_and_it_rejoins_the_others_once_they_end(caplog):
    # as a run's step-size probe in a stacked sweep starts its candidates: they join the sweep from the state of the
    # job that started them (here its random state), and that job waits for them, then computes with the others again:
    # job 1's third update, handed in as the candidates end, waits for job 0's first rather than computing alone
    models = job_models(MODELS["VAE"], 4)  # jobs 0 and 1, and job 0's candidates a and b
    x = torch.ones(5, 1, 4, 4)
    first_draws = {}

    def updates(name: str, model, count: int = 2) -> str:
        first_draws[name] = torch.rand(3)
        seat = seat_for(model, "32-true")
        for _ in range(count):
            seat(model, x, model.training_noise(x))
        return name

    def probing() -> list[str]:
        torch.manual_seed(7)
        started = train_together({"a": functools.partial(updates, "0 a", models[2]),
                                  "b": functools.partial(updates, "0 b", models[3])})  # fmt: skip
        updates("0", models[0])
        return started

    with caplog.at_level(logging.INFO, logger="aevb.stacking"):
        returned = train_together({0: probing, 1: functools.partial(updates, "1", models[1], 3)}, batched=True)
    assert returned == [["0 a", "0 b"], "1"]
    torch.manual_seed(7)
    assert torch.equal(first_draws["0 a"], torch.rand(3)) and torch.equal(first_draws["0 b"], first_draws["0 a"])
    computed = [record.getMessage() for record in caplog.records if "compute alike" in record.getMessage()]
    assert computed == ["jobs 0 a, 0 b, 1 compute alike (batched: True)", "jobs 0, 1 compute alike (batched: True)"]


def test_jobs_that_all_wait_for_each_other_are_a_deadlock_named_as_one():
    baton = Baton()
    with pytest.raises(RuntimeError, match="none can go on"):
        baton.run([lambda: baton.wait_for(lambda: False), lambda: baton.wait_for(lambda: False)])


def test_the_baton_gives_each_job_its_own_random_state_and_grad_mode():
    baton = Baton()
    draws: dict[int, list] = {0: [], 1: []}
    turn = [0]  # the jobs draw in alternation: 0, 1, 0, 1, ...

    def job(number: int) -> None:
        torch.manual_seed(number)
        torch.set_grad_enabled(number == 0)
        for _ in range(3):
            baton.wait_for(lambda: turn[0] % 2 == number)
            draws[number].append((torch.rand(2), torch.is_grad_enabled()))
            turn[0] += 1

    with torch.enable_grad():
        baton.run([lambda: job(0), lambda: job(1)])
    assert turn[0] == 6
    for number in (0, 1):
        torch.manual_seed(number)
        assert all(torch.equal(draw, torch.rand(2)) and grad == (number == 0) for draw, grad in draws[number])


def test_a_loss_that_draws_its_own_random_numbers_is_refused_when_batched_naming_the_fix():
    class DrawsItsOwn(VAE):
        algorithm = "draws its own noise"

        def training_loss(self, batch, noise=None):
            return super().training_loss(batch, None)

    jobs = handed_in(job_models(lambda: tiny(DrawsItsOwn), 2), [torch.ones(5, 1, 4, 4)] * 2)
    with pytest.raises(ConfigError, match="DrawsItsOwn.training_loss draws random numbers of its own"):
        together(jobs)


def test_each_runs_gradient_is_clipped_to_its_own_norm_as_torch_clips_one_runs():
    generator = torch.Generator().manual_seed(0)
    gradients = {"weight": torch.randn(3, 4, 5, generator=generator), "bias": torch.randn(3, 4, generator=generator)}
    max_norm = torch.tensor([1.0, 100.0, 2.0])  # the second run's norm is below its bound: left as it is
    result = clipped(gradients, max_norm)
    for r in range(3):
        alone = [torch.nn.Parameter(torch.zeros(4, 5)), torch.nn.Parameter(torch.zeros(4))]
        alone[0].grad, alone[1].grad = gradients["weight"][r].clone(), gradients["bias"][r].clone()
        torch.nn.utils.clip_grad_norm_(alone, float(max_norm[r]))
        torch.testing.assert_close(result["weight"][r], alone[0].grad, rtol=1e-6, atol=0)
        torch.testing.assert_close(result["bias"][r], alone[1].grad, rtol=1e-6, atol=0)
    assert torch.equal(result["bias"][1], gradients["bias"][1])


@pytest.mark.parametrize(("batched", "device", "expected"),
                         [("auto", "cpu", False), ("auto", "cuda", True), ("auto", "mps", True), (True, "cpu", True),
                          (False, "cuda", False)])  # fmt: skip
def test_batched_auto_computes_together_on_accelerators_only(batched, device, expected):
    assert StackedGradients(Baton(), set(), batched).batches(device) is expected


def kept_state_call(state: torch.Tensor):
    """A job's training call in the form a graph replays: it reads its inputs, writes its state in place, returns
    per-update scalars."""

    def call(inputs: dict) -> list[dict[str, torch.Tensor]]:
        scalars = []
        for x in inputs["minibatches"]:
            state.mul_(0.5).add_(x.sum(0) * inputs["update"])
            scalars.append({"total": state.sum()})
        return scalars

    return call


@pytest.mark.parametrize("device", DEVICES)
def test_groups_of_one_run_as_one_call_each_as_its_own_call_does(device):
    # on a GPU: one recorded graph, a branch per group on a stream of its own; on a CPU: rehearsed, one after another
    torch.manual_seed(0)
    shapes = {0: (4, 3), 1: (2, 5), 2: (7,)}  # jobs that cannot batch: other shapes
    states = {job: torch.zeros(shape[1:], device=device) for job, shape in shapes.items()}
    own_states = {job: state.clone() for job, state in states.items()}
    group_calls = GroupCalls()
    for update in range(8):  # past the warm-up: recorded, then replayed
        inputs = {job: {"minibatches": [torch.randn(shape, device=device) for _ in range(2)], "update": update}
                  for job, shape in shapes.items()}  # fmt: skip
        handed_in = {
            job: HandedInCall(None, ((shapes[job],), 0.01), inputs[job], CapturedCalls(torch.device(device), device == "cpu"),
                              kept_state_call(states[job]), (device, False, torch.bfloat16))
            for job in shapes
        }  # fmt: skip
        results = group_calls.run([[0], [1], [2]], handed_in)
        for job in shapes:
            expected = kept_state_call(own_states[job])(inputs[job])
            assert torch.equal(states[job], own_states[job])
            assert [s["total"] for s in results[job]] == [s["total"] for s in expected]
    assert len(group_calls.calls) == 1  # one call for the three groups, made once
