"""The gradients of a stacked sweep's jobs, computed together.

Every job still training hands in each update's minibatch and random draws (`LatentVariableModel.training_noise`,
drawn in its own turn from its own random state) and waits; once all have, the jobs are grouped by what their
models compute (class, training settings, parameter shapes, minibatch shape), and each group of R jobs computes its
R losses and gradients as one batched computation: torch.func.vmap over the jobs' parameters stacked on a new first
axis. A group of one computes exactly as the job would alone. Each job then takes its own optimiser step from the
.grad this sets, checks its own loss, and goes on: a job that diverges stops alone.

A batched matrix product sums in another order than R separate ones, so a job trained in a group of several matches
the same job alone to float rounding (about 1e-7 of each value per update), not bit for bit. On a CPU, where the
batched computation is no faster (docs/performance.md), `batched="auto"` computes a group's jobs one after another,
each exactly as alone.
"""

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.utils._pytree import tree_flatten, tree_unflatten

from aevb.errors import ConfigError
from aevb.stacking.baton import Baton

log = logging.getLogger(__name__)

# Model settings that do not change what training_loss computes: jobs that differ only in these compute together.
OUTSIDE_THE_LOSS = ("init_std", "weight_prior", "log_px", "compile", "gradient_clip_norm", "cuda_graph")


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


@dataclass
class HandedIn:
    model: nn.Module
    batch: Tensor
    noise: object
    autocast: tuple[str, bool, torch.dtype]

    def group(self) -> tuple:
        """Jobs with equal groups compute together."""
        settings = {key: value for key, value in self.model.config.items() if key not in OUTSIDE_THE_LOSS}
        shapes = [(name, tuple(p.shape), p.dtype, p.device) for name, p in self.model.named_parameters()]
        noise_shapes = [tuple(leaf.shape) for leaf in tree_flatten(self.noise)[0]]
        return type(self.model), json.dumps(settings, sort_keys=True, default=str), tuple(shapes), tuple(self.batch.shape), \
            tuple(noise_shapes), self.autocast  # fmt: skip


class _TrainingLoss(nn.Module):
    """A model's training_loss as a module's forward, for torch.func.functional_call."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, batch: Tensor, noise) -> tuple[Tensor, dict[str, Tensor]]:
        return self.model.training_loss(batch, noise)


def stacked(trees: list):
    """Tensors at the same place in each of `trees`, stacked on a new first axis, in the trees' shape."""
    leaves, spec = zip(*(tree_flatten(tree) for tree in trees), strict=True)
    return tree_unflatten([torch.stack(column) for column in zip(*leaves, strict=True)], spec[0])


def alone(job: HandedIn) -> tuple[Tensor, dict[str, Tensor]]:
    """One job's loss, with its gradient in .grad, as its own update computes it."""
    for parameter in job.model.parameters():
        parameter.grad = None
    loss, scalars = job.model.training_loss(job.batch, job.noise)
    loss.backward()
    return loss.detach(), {name: value.detach() for name, value in scalars.items()}


def together(jobs: list[HandedIn]) -> list[tuple[Tensor, dict[str, Tensor]]]:
    """The losses of jobs whose models compute alike, with each one's gradient in .grad, in one batched computation."""
    module = _TrainingLoss(jobs[0].model)
    trained = [name for name, p in module.named_parameters() if p.requires_grad]
    each = [dict(job.model.named_parameters(prefix="model")) | dict(job.model.named_buffers(prefix="model")) for job in jobs]
    parameters = {name: torch.stack([values[name].detach() for values in each]) for name in trained}
    fixed = {name: torch.stack([values[name].detach() for values in each]) for name in each[0] if name not in parameters}

    def loss_of(parameters: dict, fixed: dict, batch: Tensor, noise):
        loss, scalars = torch.func.functional_call(module, (parameters, fixed), (batch, noise))
        return loss, (loss, scalars)

    batches, noises = torch.stack([job.batch for job in jobs]), stacked([job.noise for job in jobs])
    try:
        gradients, (losses, scalars) = torch.func.vmap(torch.func.grad(loss_of, has_aux=True))(parameters, fixed, batches, noises)
    except RuntimeError as error:
        if "randomness" not in str(error):
            raise
        raise ConfigError(
            f"{type(jobs[0].model).__name__}.training_loss draws random numbers of its own, so jobs computed together "
            "would share them: draw them in training_noise (see LatentVariableModel.training_noise), or train with "
            "hydra.launcher.batched=false"
        ) from error
    results = []
    for r, job in enumerate(jobs):
        for name, parameter in job.model.named_parameters(prefix="model"):
            if name in gradients:
                parameter.grad = gradients[name][r]
        results.append((losses[r].detach(), {name: value[r].detach() for name, value in scalars.items()}))
    return results


class StackedGradients:
    """Where a stacked sweep's jobs meet once an update. `members` are the jobs that will still hand in; a job leaves
    when it ends (or trains alone), so the others never wait for it."""

    def __init__(self, baton: Baton, members: set[int], batched: bool | str = "auto"):
        if batched not in (True, False, "auto"):
            raise ValueError(f"hydra.launcher.batched={batched!r} must be true, false or auto (on accelerators only)")
        self.baton, self.members, self.batched = baton, set(members), batched
        self.handed_in: dict[int, HandedIn] = {}
        self.results: dict[int, tuple | BaseException] = {}
        self._groups_seen: set[tuple[int, ...]] = set()

    def seat(self, job: int) -> Callable:
        """What job `job`'s models call instead of computing their own gradients (LatentVariableModel.stacked_gradients)."""
        return lambda model, batch, noise: self.hand_in(job, model, batch, noise)

    def hand_in(self, job: int, model, batch: Tensor, noise) -> tuple[Tensor, dict[str, Tensor]]:
        device = batch.device.type
        autocast = (device, torch.is_autocast_enabled(device), torch.get_autocast_dtype(device))
        self.handed_in[job] = HandedIn(model, batch, noise, autocast)
        self._compute_when_all_handed_in()
        self.baton.wait_for(lambda: job in self.results)
        result = self.results.pop(job)
        if isinstance(result, BaseException):
            raise result
        return result

    def leave(self, job: int) -> None:
        self.members.discard(job)
        self._compute_when_all_handed_in()

    def _compute_when_all_handed_in(self) -> None:
        if not self.handed_in or not self.members <= set(self.handed_in):
            return
        jobs, self.handed_in = self.handed_in, {}
        groups: dict[tuple, list[int]] = {}
        for job, handed_in in jobs.items():
            groups.setdefault(handed_in.group(), []).append(job)
        for group in groups.values():
            if len(group) > 1 and tuple(group) not in self._groups_seen:
                self._groups_seen.add(tuple(group))
                log.info("jobs %s compute alike (batched: %s)", ", ".join(map(str, sorted(group))), self.batched)
        try:
            for group in groups.values():
                device, enabled, dtype = jobs[group[0]].autocast
                with torch.enable_grad(), torch.autocast(device, dtype=dtype, enabled=enabled):
                    if len(group) > 1 and self.batched in (True, device != "cpu"):
                        self.results.update(zip(group, together([jobs[job] for job in group]), strict=True))
                    else:
                        self.results.update({job: alone(jobs[job]) for job in group})
        except Exception as error:  # every job of the update hears of it, so none waits for ever
            self.results.update({job: error for job in jobs if job not in self.results})
