"""Checkpoint files: written atomically, read without running pickled code, and carrying the random-number state."""

import pickle
import random
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from aevb.errors import CheckpointError
from aevb.runs.atomic import replace_file


class AtomicCheckpointIO(TorchCheckpointIO):
    """Saves a checkpoint so that a kill at any moment leaves the previous file or the new one, never a partial file.

    Lightning's own save stages the bytes in the system's temporary directory and moves them over,
    which is a copy, not a rename, when that directory is on another file system. Here the bytes go
    to a hidden file beside the target, are synced to disk, and are renamed over it (atomic on POSIX).
    Loading never runs pickled code: torch.load(weights_only=True).
    """

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        replace_file(Path(path), lambda file: torch.save(checkpoint, file))

    def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict:
        return read_checkpoint(path, map_location)


def read_checkpoint(path, map_location=None) -> dict:
    """A checkpoint's contents, loaded with weights_only=True; an unreadable file is a CheckpointError naming it."""
    try:
        return torch.load(path, map_location=map_location or "cpu", weights_only=True)
    except FileNotFoundError as error:
        raise CheckpointError(f"checkpoint {path} does not exist; pass a checkpoint written by aevb-train") from error
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as error:
        text = str(error).strip()
        first_line = text.splitlines()[0].split(". ")[0] if text else type(error).__name__
        raise CheckpointError(
            f"checkpoint {path} cannot be read ({first_line}): it is truncated, corrupt, or holds objects other than "
            "tensors and plain values. aevb-train writes checkpoints atomically, so this file did not come from a "
            "finished save; delete it to start that run afresh, or resume from another checkpoint."
        ) from error


def random_states() -> dict:
    """The global random-number states that training draws from (PyTorch CPU and CUDA, Python, NumPy), as plain
    values and tensors so that a weights_only load reads them. Lightning does not save them (its issue #17543)."""
    name, keys, position, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": random.getstate(),
        "numpy": {
            "name": name,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "position": position,
            "has_gauss": has_gauss,
            "cached_gaussian": cached,
        },
    }


def restore_random_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy = states["numpy"]
    keys = numpy["keys"].numpy().astype(np.uint32)
    np.random.set_state((numpy["name"], keys, numpy["position"], numpy["has_gauss"], numpy["cached_gaussian"]))
