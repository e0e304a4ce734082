"""The authors' Adagrad: squared gradients are accumulated for a warm-up before the first step.

PyTorch's Adagrad starts from an empty accumulator, so its first update is lr * g / |g| = +-lr
for every weight: ten times the N(0, 0.01) initial scale at lr = 0.1. The paper's code
(anglepy, wzoptim.step_vae) instead sums g^2 over `warmup_steps` minibatches without moving,
then updates theta += lr * g / sqrt(sum g^2 + eps) (here as descent on the negative bound).
"""

import torch
from torch import Tensor
from torch.optim import Optimizer


class WarmupAdagrad(Optimizer):
    """Adagrad that only accumulates squared gradients for its first `warmup_steps` steps.

    weight_decay adds weight_decay * theta to the gradient before it is accumulated, as the
    authors added the gradient of the N(0, I) weight prior (use per-group values to exempt biases).
    """

    def __init__(self, params, lr: float = 0.02, warmup_steps: int = 100, eps: float = 1e-8, weight_decay: float = 0.0):
        if lr <= 0:
            raise ValueError(f"optimizer.lr={lr} must be positive")
        if warmup_steps < 0:
            raise ValueError(f"optimizer.warmup_steps={warmup_steps} must be non-negative")
        if eps < 0 or weight_decay < 0:
            raise ValueError(f"optimizer.eps={eps} and optimizer.weight_decay={weight_decay} must be non-negative")
        super().__init__(params, {"lr": lr, "warmup_steps": warmup_steps, "eps": eps, "weight_decay": weight_decay})

    def count_on_device(self) -> None:
        """Count each parameter's steps in a tensor on its device from now on (saved so in checkpoints): a step then
        reads nothing on the host, so a CUDA graph can record it. The updates stay the same, bit for bit."""
        for group in self.param_groups:
            for param in group["params"]:
                state = self.state[param]
                if not state:
                    state["sum"] = torch.zeros_like(param, memory_format=torch.preserve_format)
                    state["step"] = 0
                # on the parameter's device: torch's load_state_dict leaves a saved step tensor on the CPU
                state["step"] = torch.as_tensor(state["step"], device=param.device)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                grad = param.grad.add(param, alpha=group["weight_decay"]) if group["weight_decay"] else param.grad
                state = self.state[param]
                if not state:
                    state["step"] = 0  # a number on the host: counting and comparing it never waits for a device
                    state["sum"] = torch.zeros_like(param, memory_format=torch.preserve_format)
                state["step"] += 1
                state["sum"].addcmul_(grad, grad)
                root = state["sum"].add(group["eps"]).sqrt_()
                if isinstance(state["step"], Tensor):  # counted on the device: a warm-up step moves by 0 / 1
                    moving = state["step"] > group["warmup_steps"]
                    grad, root = torch.where(moving, grad, 0.0), torch.where(moving, root, 1.0)
                elif state["step"] <= group["warmup_steps"]:
                    continue
                # theta <- theta - lr * g / sqrt(sum of g^2 + eps)
                param.addcdiv_(grad, root, value=-group["lr"])
        return loss


@torch.no_grad()
def stacked_warmup_adagrad_step(
    theta: Tensor, grad: Tensor, squares: Tensor, steps: Tensor, lr: Tensor, weight_decay: Tensor, eps: Tensor, warmup: Tensor
) -> None:
    """WarmupAdagrad's step for R runs stacked on the first axis of each tensor, every run with its own settings (the
    (R,) tensors lr, weight_decay, eps, warmup) and step count (steps, (R,)), in place, reading nothing on the host."""
    per_run = (-1,) + (1,) * (theta.ndim - 1)
    g = grad + weight_decay.view(per_run) * theta  # with the weight prior's gradient
    squares.addcmul_(g, g)
    steps += 1
    moving = (steps > warmup).view(per_run)  # a warm-up step moves by 0 / 1
    root = torch.where(moving, (squares + eps.view(per_run)).sqrt(), 1.0)
    # theta <- theta - lr * g / sqrt(sum of g^2 + eps)
    theta.sub_(lr.view(per_run) * torch.where(moving, g, 0.0) / root)
