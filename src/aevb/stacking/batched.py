"""The batched computation of a stacked sweep's jobs: R models that compute alike, their parameters stacked on a new
first axis, their training losses and gradients one torch.func.vmap."""

import json

import torch
from torch import Tensor, nn
from torch.utils._pytree import tree_flatten, tree_unflatten

from aevb.errors import ConfigError

# Model settings that do not change what training_loss computes: jobs that differ only in these compute together.
OUTSIDE_THE_LOSS = ("init_std", "weight_prior", "log_px", "compile", "gradient_clip_norm", "cuda_graph")


def model_group(model: nn.Module) -> tuple:
    """What models must share to compute together: their class, the training settings, the parameters' shapes."""
    settings = {key: value for key, value in model.config.items() if key not in OUTSIDE_THE_LOSS}
    shapes = [(name, tuple(p.shape), p.dtype, p.device) for name, p in model.named_parameters()]
    return type(model), json.dumps(settings, sort_keys=True, default=str), tuple(shapes)


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


def stacked_parameters(models: list[nn.Module]) -> tuple[nn.Module, dict[str, Tensor], dict[str, Tensor]]:
    """The first model's training_loss as a module, and the models' trained parameters and everything else they hold
    (frozen parameters, buffers), each stacked on a new first axis, by name."""
    module = _TrainingLoss(models[0])
    trained = [name for name, p in module.named_parameters() if p.requires_grad]
    each = [dict(model.named_parameters(prefix="model")) | dict(model.named_buffers(prefix="model")) for model in models]
    parameters = {name: torch.stack([values[name].detach() for values in each]) for name in trained}
    fixed = {name: torch.stack([values[name].detach() for values in each]) for name in each[0] if name not in parameters}
    return module, parameters, fixed


def batched_gradients(module: nn.Module, parameters: dict, fixed: dict, batches: Tensor, noises) -> tuple:
    """(gradients, losses, scalars) of R models' training losses, each on its own minibatch and noise, all stacked on
    the first axis: one torch.func.vmap over the stacked parameters."""

    def loss_of(parameters: dict, fixed: dict, batch: Tensor, noise):
        loss, scalars = torch.func.functional_call(module, (parameters, fixed), (batch, noise))
        return loss, (loss, scalars)

    try:
        gradients, (losses, scalars) = torch.func.vmap(torch.func.grad(loss_of, has_aux=True))(parameters, fixed, batches, noises)
    except RuntimeError as error:
        if "randomness" not in str(error):
            raise
        raise ConfigError(
            f"{type(module.model).__name__}.training_loss draws random numbers of its own, so jobs computed together "
            "would share them: draw them in training_noise (see LatentVariableModel.training_noise), or train with "
            "hydra.launcher.batched=false"
        ) from error
    return gradients, losses, scalars
