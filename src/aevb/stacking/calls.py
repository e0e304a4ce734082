"""A stacked sweep's training calls computed together: a group's calls of data.steps_per_call updates as one batched
call, which a CUDA graph records (aevb.training.captured_calls).

Where a job's calls can replay a graph (LatentVariableModel.why_not_captured), it hands in whole calls instead of each
update's minibatch: their minibatches, noise and counters. Jobs whose calls compute alike (aevb.stacking.gradients'
group, and the call's minibatch shapes) run as one: their parameters and WarmupAdagrad states stacked on a first axis,
each update's losses and gradients one torch.func.vmap, one optimiser step for all of them with each job's own step
size, weight decay, warm-up and gradient clipping, the finite-loss notes stacked too; at the call's end all of it is
written back, in place, to each job's own tensors. A job stays its own run: its counters, curves, checkpoints and
divergence are its own. A group of one runs its job's own call, exactly as alone.

The groups themselves (jobs of other latent sizes or algorithms, which cannot batch) run as one call too: on a GPU one
graph, each group's call a branch on a stream of its own, so that the device runs them side by side instead of one
small group after another.
"""

import functools
import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.utils._pytree import tree_leaves

from aevb.stacking.batched import batched_gradients, model_group, stacked, stacked_parameters
from aevb.training.captured_calls import CapturedCalls
from aevb.training.optim import stacked_warmup_adagrad_step

SETTINGS = ("lr", "weight_decay", "eps", "warmup_steps")  # WarmupAdagrad's, per parameter group


@dataclass
class HandedInCall:
    model: nn.Module
    key: tuple  # what the job's own recorded call holds fixed (LatentVariableModel.captured_updates)
    inputs: dict  # minibatches, noises, update, samples_seen
    own: CapturedCalls  # the job's own calls, for a group of one
    call: Callable  # the job's own call (LatentVariableModel.captured_call)
    autocast: tuple[str, bool, torch.dtype]

    def group(self) -> tuple:
        """Jobs with equal groups run their calls as one."""
        noise_shapes = [tuple(leaf.shape) for leaf in tree_leaves(self.inputs["noises"])]
        return "call", *model_group(self.model), self.key[0], tuple(noise_shapes), self.autocast

    def alone(self) -> list:
        """The call run as the job alone runs it (a group of one, or batching off)."""
        return self.own(self.key, self.inputs, self.call)


def clipped(gradients: dict[str, Tensor], max_norm: Tensor) -> dict[str, Tensor]:
    """Each run's gradient (stacked on the first axis) rescaled to its own max_norm ((R,)) at most, as
    torch.nn.utils.clip_grad_norm_ rescales one run's."""
    norms = torch.stack([g.flatten(1).norm(dim=1) for g in gradients.values()])  # (parameters, R)
    coefficient = torch.clamp(max_norm / (norms.norm(dim=0) + 1e-6), max=1.0)
    return {name: g * coefficient.view((-1,) + (1,) * (g.ndim - 1)) for name, g in gradients.items()}


def optimiser_settings(model: nn.Module, names: list[str]) -> dict[str, list[float]]:
    """The optimiser's settings of each named parameter of `model`, from the parameter group that holds it."""
    optimizer = model.optimizers().optimizer
    group_of = {id(p): group for group in optimizer.param_groups for p in group["params"]}
    parameters = dict(model.named_parameters(prefix="model"))
    return {setting: [float(group_of[id(parameters[name])][setting]) for name in names] for setting in SETTINGS}


class GroupCall:
    """The call of a group of jobs whose models compute alike; made outside any graph, with its constants on the device."""

    def __init__(self, models: list[nn.Module]):
        self.models = models
        self.module, parameters, _ = stacked_parameters(models)
        self.names = list(parameters)
        device = parameters[self.names[0]].device
        each = [optimiser_settings(model, self.names) for model in models]  # job -> setting -> one per parameter
        self.settings = {  # name -> setting -> (R,)
            name: {s: torch.tensor([job[s][i] for job in each], device=device) for s in SETTINGS}
            for i, name in enumerate(self.names)
        }
        clip = [model.gradient_clip_norm for model in models]
        self.max_norm = None if all(c is None for c in clip) else torch.tensor([c or math.inf for c in clip], device=device)
        self.live = [dict(model.named_parameters(prefix="model")) for model in models]
        self.states = [{name: model.optimizers().optimizer.state[job[name]] for name in self.names}
                       for model, job in zip(models, self.live, strict=True)]  # fmt: skip

    def __call__(self, inputs: list[dict]) -> list[list[dict[str, Tensor]]]:
        _, parameters, fixed = stacked_parameters(self.models)  # copies, written back at the end
        squares = {name: torch.stack([state[name]["sum"] for state in self.states]) for name in self.names}
        steps = {name: torch.stack([state[name]["step"] for state in self.states]) for name in self.names}
        notes = [model._first_nonfinite for model in self.models]
        first_loss, first_update, first_samples = (torch.stack([getattr(n, a) for n in notes]) for a in
                                                   ("loss", "update", "samples_seen"))  # fmt: skip
        updates = torch.stack([job["update"] for job in inputs])  # (numbers, as static inputs: 0-d tensors)
        samples_seen = torch.stack([job["samples_seen"] for job in inputs])
        scalars_of = [[] for _ in self.models]
        for index in range(len(inputs[0]["minibatches"])):
            batches = torch.stack([job["minibatches"][index] for job in inputs])
            noises = stacked([job["noises"][index] for job in inputs])
            gradients, losses, scalars = batched_gradients(self.module, parameters, fixed, batches, noises)
            # each job's first non-finite loss, noted as its own FirstNonFinite notes it
            first = (first_update < 0) & ~torch.isfinite(losses)
            first_loss = torch.where(first, losses.float(), first_loss)
            first_update = torch.where(first, updates + index, first_update)
            first_samples = torch.where(first, samples_seen, first_samples)
            if self.max_norm is not None:
                gradients = clipped(gradients, self.max_norm)
            for name in self.names:
                stacked_warmup_adagrad_step(parameters[name], gradients[name], squares[name], steps[name],
                                            *(self.settings[name][s] for s in SETTINGS))  # fmt: skip
            samples_seen = samples_seen + batches.shape[1]
            for r, job_scalars in enumerate(scalars_of):
                job_scalars.append({name: value[r].detach() for name, value in scalars.items()})
        with torch.no_grad():  # written back in place: the jobs' own tensors, which a replayed graph writes too
            for r, (live, state, note) in enumerate(zip(self.live, self.states, notes, strict=True)):
                for name in self.names:
                    live[name].copy_(parameters[name][r])
                    state[name]["sum"].copy_(squares[name][r])
                    state[name]["step"].copy_(steps[name][r])
                note.loss.copy_(first_loss[r])
                note.update.copy_(first_update[r])
                note.samples_seen.copy_(first_samples[r])
        return scalars_of


def alone_in_its_group(call: Callable, inputs: list[dict]) -> list:
    """A group of one: its job's own call, exactly as alone."""
    return [call(inputs[0])]


class SweepCall:
    """The calls of a sweep's groups on one device as one call. On a GPU each group's call runs on a CUDA stream of its
    own, so that the one graph recording them holds them as branches that the device runs side by side (jobs of other
    latent sizes or algorithms, which do not batch); on a CPU one after another."""

    def __init__(self, groups: list[list[HandedInCall]]):
        self.parts = [
            GroupCall([job.model for job in group]) if len(group) > 1 else functools.partial(alone_in_its_group, group[0].call)
            for group in groups
        ]
        self.autocasts = [group[0].autocast for group in groups]
        device = groups[0][0].own.device
        self.streams = [torch.cuda.Stream(device) for _ in groups] if device.type == "cuda" else None

    def _part(self, index: int, inputs: list[dict]) -> list:
        device, enabled, dtype = self.autocasts[index]
        # autocast's cache of cast weights would hold tensors from outside a graph recording the call
        with torch.autocast(device, dtype=dtype, enabled=enabled, cache_enabled=False):
            return self.parts[index](inputs)

    def __call__(self, inputs: list[list[dict]]) -> list[list]:
        if self.streams is None:
            return [self._part(index, group_inputs) for index, group_inputs in enumerate(inputs)]
        current, outputs = torch.cuda.current_stream(self.streams[0].device), []
        for index, (stream, group_inputs) in enumerate(zip(self.streams, inputs, strict=True)):
            stream.wait_stream(current)  # each branch starts after what came before the call...
            with torch.cuda.stream(stream):
                outputs.append(self._part(index, group_inputs))
        for stream, group_outputs in zip(self.streams, outputs, strict=True):
            current.wait_stream(stream)  # ...and the call ends when every branch has
            for tensor in tree_leaves(group_outputs):
                tensor.record_stream(current)  # read on the calling stream: its memory is not reused before
        return outputs


class GroupCalls:
    """The calls of the groups that run together: those on one device as one SweepCall, made once per groups and
    settings and run through captured calls of its own (one CUDA graph for all of them)."""

    def __init__(self):
        self.calls: dict[tuple, tuple[SweepCall, CapturedCalls]] = {}

    def run(self, groups: list[list[Hashable]], handed_in: dict[Hashable, HandedInCall]) -> dict[Hashable, list]:
        """Each job's call outputs, by job."""
        on_device: dict[torch.device, list[list[Hashable]]] = {}
        for jobs in groups:
            on_device.setdefault(handed_in[jobs[0]].own.device, []).append(jobs)
        results = {}
        for device, device_groups in on_device.items():
            # the groups, their minibatch shapes and their step sizes (which a plateau schedule changes)
            key = tuple(
                (tuple(jobs), handed_in[jobs[0]].key[0], tuple(handed_in[job].key[1:] for job in jobs)) for jobs in device_groups
            )
            if key not in self.calls:
                rehearse = handed_in[device_groups[0][0]].own.rehearse
                sweep_call = SweepCall([[handed_in[job] for job in jobs] for jobs in device_groups])
                self.calls[key] = sweep_call, CapturedCalls(device, rehearse)
            sweep_call, captured = self.calls[key]
            outputs = captured(key, [[handed_in[job].inputs for job in jobs] for jobs in device_groups], sweep_call)
            for jobs, group_outputs in zip(device_groups, outputs, strict=True):
                results.update(zip(jobs, group_outputs, strict=True))
        return results
