"""What a result was computed with beyond its config, recorded beside it (metrics.json, aevb-eval's files)."""

import torch


def computed_on(device: torch.device) -> dict:
    """The device (a GPU by its name), torch's version, the CPU's instruction set and torch's threads. One config trains
    the same weights, bit for bit, on one machine with one setting of these; on another CPU (its kernels) or thread
    count its sums may differ in their last bits from the first update, and training's chaos grows that later."""
    return {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else device.type,
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
    }
