"""The gradients of a stacked sweep's jobs, computed together.

Every job still training hands in each update's minibatch and random draws (`LatentVariableModel.training_noise`,
drawn in its own turn from its own random state) and waits; once all have, the jobs are grouped by what their
models compute (class, training settings, parameter shapes, minibatch shape), and each group of R jobs computes its
R losses and gradients as one batched computation: torch.func.vmap over the jobs' parameters stacked on a new first
axis. A group of one computes exactly as the job would alone. Each job then takes its own optimiser step from the
.grad this sets, checks its own loss, and goes on: a job that diverges stops alone.

Jobs whose calls replay CUDA graphs (model.cuda_graph) meet once a call instead: each group runs its whole call as
one, and the groups' calls together as one call, one CUDA graph with a branch per group (aevb.stacking.calls).

A batched matrix product sums in another order than R separate ones, so a job trained in a group of several matches
the same job alone to float rounding (about 1e-7 of each value per update), not bit for bit. On a CPU, where the
batched computation is no faster (docs/performance.md), `batched="auto"` computes a group's jobs one after another,
each exactly as alone.
"""

import logging
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.utils._pytree import tree_flatten

from aevb.stacking.batched import batched_gradients, model_group, stacked, stacked_parameters
from aevb.stacking.baton import Baton
from aevb.stacking.calls import GroupCalls, HandedInCall
from aevb.training.captured_calls import CapturedCalls

log = logging.getLogger(__name__)


def why_not_together(model, precision: str) -> str | None:
    """Why a model's updates cannot be computed with other jobs' (it then trains alone, in turn); None if they can."""
    if not model.stacks:
        return f"{model.algorithm} updates are not a function of the minibatch and its noise alone"
    if model.compile_networks:
        return "model.compile=true compiles each job's networks apart"
    if precision.startswith("16"):
        return f"precision {precision} scales each job's loss with a gradient scaler of its own"
    if model.config is None:
        return "a model built without a config (aevb.build sets one) has no training settings to compare"
    return None


def in_order(job: Hashable) -> tuple:
    """Where a job comes in the log's lists: a sweep's job by its number, a job that one started, (number, key), after it."""
    return job if isinstance(job, tuple) else (job,)


def named(jobs: Iterable[Hashable]) -> str:
    """Jobs as the log names them, in order: "0, 1, 1 lr=0.02"."""
    return ", ".join(" ".join(map(str, in_order(job))) for job in sorted(jobs, key=in_order))


@dataclass
class HandedIn:
    model: nn.Module
    batch: Tensor
    noise: object
    autocast: tuple[str, bool, torch.dtype]

    def group(self) -> tuple:
        """Jobs with equal groups compute together."""
        noise_shapes = [tuple(leaf.shape) for leaf in tree_flatten(self.noise)[0]]
        return *model_group(self.model), tuple(self.batch.shape), tuple(noise_shapes), self.autocast


def alone(job: HandedIn) -> tuple[Tensor, dict[str, Tensor]]:
    """One job's loss, with its gradient in .grad, as its own update computes it."""
    for parameter in job.model.parameters():
        parameter.grad = None
    loss, scalars = job.model.training_loss(job.batch, job.noise)
    loss.backward()
    return loss.detach(), {name: value.detach() for name, value in scalars.items()}


def together(jobs: list[HandedIn]) -> list[tuple[Tensor, dict[str, Tensor]]]:
    """The losses of jobs whose models compute alike, with each one's gradient in .grad, in one batched computation."""
    module, parameters, fixed = stacked_parameters([job.model for job in jobs])
    batches, noises = torch.stack([job.batch for job in jobs]), stacked([job.noise for job in jobs])
    gradients, losses, scalars = batched_gradients(module, parameters, fixed, batches, noises)
    results = []
    for r, job in enumerate(jobs):
        for name, parameter in job.model.named_parameters(prefix="model"):
            if name in gradients:
                parameter.grad = gradients[name][r]
        results.append((losses[r].detach(), {name: value[r].detach() for name, value in scalars.items()}))
    return results


class Seat:
    """A job's place in the sweep: called as (model, batch, noise) by each update (LatentVariableModel.stacked_gradients),
    or, where its calls replay a graph, `calls(model, own)`: what it runs its calls through instead of `own`."""

    def __init__(self, sweep: "StackedGradients", job: Hashable):
        self.sweep, self.job = sweep, job

    def __call__(self, model, batch: Tensor, noise) -> tuple[Tensor, dict[str, Tensor]]:
        return self.sweep.hand_in(self.job, HandedIn(model, batch, noise, autocast_of(batch.device.type)))

    def calls(self, model, own: CapturedCalls) -> Callable:
        def hand_in(key: tuple, inputs: dict, call: Callable) -> list:
            handed_in = HandedInCall(model, key, inputs, own, call, autocast_of(own.device.type))
            return self.sweep.hand_in(self.job, handed_in)

        return hand_in


def autocast_of(device: str) -> tuple[str, bool, torch.dtype]:
    return device, torch.is_autocast_enabled(device), torch.get_autocast_dtype(device)


class StackedGradients:
    """Where a stacked sweep's jobs meet: once an update, or once a call where their calls replay graphs
    (aevb.stacking.calls). `members` are the jobs that will still hand in; a job leaves when it ends (or trains alone),
    so the others never wait for it."""

    def __init__(self, baton: Baton, members: set[Hashable], batched: bool | str = "auto"):
        if batched not in (True, False, "auto"):
            raise ValueError(f"hydra.launcher.batched={batched!r} must be true, false or auto (on accelerators only)")
        self.baton, self.members, self.batched = baton, set(members), batched
        self.handed_in: dict[Hashable, HandedIn | HandedInCall] = {}
        self.results: dict[Hashable, tuple | BaseException] = {}
        self._groups_seen: set[tuple] = set()
        self.group_calls = GroupCalls()

    def seat(self, job: Hashable) -> Seat:
        """What job `job`'s models compute their gradients, or calls, through (LatentVariableModel.stacked_gradients)."""
        return Seat(self, job)

    def hand_in(self, job: Hashable, handed_in: HandedIn | HandedInCall):
        self.handed_in[job] = handed_in
        self._compute_when_all_handed_in()
        self.baton.wait_for(lambda: job in self.results)
        result = self.results.pop(job)
        if isinstance(result, BaseException):
            raise result
        return result

    def batches(self, device: str) -> bool:
        """Whether jobs on `device` that compute alike compute together (batched=auto: on accelerators only)."""
        return self.batched is True or (self.batched == "auto" and device != "cpu")

    def leave(self, job: Hashable) -> None:
        self.members.discard(job)
        self._compute_when_all_handed_in()

    def _compute_when_all_handed_in(self) -> None:
        if not self.handed_in or not self.members <= set(self.handed_in):
            return
        jobs, self.handed_in = self.handed_in, {}
        groups: dict[tuple, list[Hashable]] = {}
        for job, handed_in in jobs.items():
            groups.setdefault(handed_in.group(), []).append(job)
        for group in groups.values():
            group.sort(key=in_order)  # the order the jobs handed in varies
            if len(group) > 1 and tuple(group) not in self._groups_seen:
                self._groups_seen.add(tuple(group))
                calls = ", whole calls at once" if isinstance(jobs[group[0]], HandedInCall) else ""
                log.info("jobs %s compute alike (batched: %s)%s", named(group), self.batched, calls)
        # the groups of calls that run as one call (aevb.stacking.calls), whatever their number or size
        as_one = [group for group in groups.values() if isinstance(jobs[group[0]], HandedInCall) and
                  self.batches(jobs[group[0]].autocast[0])]  # fmt: skip
        if len(as_one) > 1 and (seen := tuple(map(tuple, as_one))) not in self._groups_seen:
            self._groups_seen.add(seen)
            each = " | ".join(named(group) for group in as_one)
            log.info("the calls of jobs %s run as one call, each group a branch of its own", each)
        try:
            with torch.enable_grad():
                self.results.update(self.group_calls.run(as_one, jobs))
            for group in groups.values():
                if group in as_one:
                    continue
                device, enabled, dtype = jobs[group[0]].autocast
                with torch.enable_grad(), torch.autocast(device, dtype=dtype, enabled=enabled):
                    if isinstance(jobs[group[0]], HandedInCall):
                        self.results.update({job: jobs[job].alone() for job in group})
                    elif len(group) > 1 and self.batches(device):
                        self.results.update(zip(group, together([jobs[job] for job in group]), strict=True))
                    else:
                        self.results.update({job: alone(jobs[job]) for job in group})
        except Exception as error:  # every job of the update hears of it, so none waits for ever
            self.results.update({job: error for job in jobs if job not in self.results})
