"""The paper presets train the same weights, bit for bit, as before the redesign of issue 14.

Each case is a short run of a paper preset (step-size probe included); the SHA-256 of its final weights
was recorded with the code of commit cfbcb42, before the house was rebuilt. A refactoring that changes
what a preset trains (the order of random draws, a reduction, an initialisation) changes the checksum.
The checksums hold for the locked torch (uv.lock) on an x86-64 CPU; a deliberate change of the training
records its new checksums here, with the reason, in the same commit.
"""

import hashlib

import pytest
import torch

from aevb.train import train
from compose import compose_train

# Past the Adagrad warm-up (100 minibatches without a step) in the probe and after it
SHORT = ["trainer.max_samples=15000", "step_size_selection.probe_samples=11000", "callbacks.image_grids=null"]

CASES = {
    "aevb_mnist": (["experiment=aevb_mnist", *SHORT], "6bc3c7f4a2e274e350161a06e0635cb3c2508f29ca681b3841bf29310d0f8f1b"),
    "aevb_frey_face": (["experiment=aevb_frey_face", *SHORT], "e9bb66971aa424b82d64a99de135a9a179352254ad438cdc12595b6dc6b0e85c"),
    "wake_sleep_frey_face": (
        ["experiment=aevb_frey_face", "model=wake_sleep", *SHORT],
        "56ba323f2b4be7400ab6d2a53f07ad5c725ebc118b0113c34967e4b2a839e268",
    ),
    "mcem_mnist": (
        [
            "experiment=figure3_mnist",
            "model=mcem",
            "data.train_limit=1000",
            *SHORT,
            "data.eval_limit=100",
            "model.marginal_likelihood.burn_in=2",
            "model.marginal_likelihood.posterior_samples=8",
        ],
        "917ef7951359068978d20a2774623bd23204bf14458fe025652a9396d47162de",
    ),
}


def weights_checksum(checkpoint_path) -> str:
    """SHA-256 over the state dict's tensors, in name order, as raw bytes."""
    state = torch.load(checkpoint_path, map_location="cpu", weights_only=True)["state_dict"]
    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(name.encode())
        digest.update(state[name].detach().contiguous().numpy().tobytes())
    return digest.hexdigest()


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_paper_preset_trains_the_weights_it_trained_before_the_redesign(case, tmp_path, data_dir):
    overrides, expected = CASES[case]
    train(compose_train(overrides, tmp_path, data_dir))
    assert weights_checksum(tmp_path / "checkpoints" / "last.ckpt") == expected
