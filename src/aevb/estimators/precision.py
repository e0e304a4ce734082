"""The precision of the estimators' densities and sums: float64, or float32 on a device that has no float64 (MPS)."""

import warnings

import torch

WITHOUT_FLOAT64 = ("mps",)  # device types with no float64 tensors: Apple's Metal (trainer=mps)


def float64_or_float32(device: torch.device | str) -> torch.dtype:
    """float64 where `device` has it; float32, with a warning that says so, where it has not."""
    kind = torch.device(device).type
    if kind not in WITHOUT_FLOAT64:
        return torch.float64
    warnings.warn(
        f"{kind} has no float64: the Appendix D estimate of log p(x) (its fitted density q(z) and reciprocal sum) is "
        "computed in float32 there, a few digits less precise than on a CPU or a CUDA GPU",
        stacklevel=2,
    )
    return torch.float32
