"""The paper presets train the same weights, bit for bit, as before the redesign of issue 14.

Each case is a short run of a paper preset (step-size probe included); the SHA-256 of its final weights
was recorded with the code of commit cfbcb42, before the house was rebuilt. A refactoring that changes
what a preset trains (the order of random draws, a reduction, an initialisation) changes the checksum.
The checksums hold for the locked torch (uv.lock) on an x86-64 CPU, where two things set the order of the sums:
the vector kernels torch dispatches to (`torch.backends.cpu.get_cpu_capability()`: AVX512, AVX2 or DEFAULT; the Frey
Face presets' weights differ between them) and the BLAS's matrix kernels, chosen from the CPU's vendor as well as its
instruction set, which no flag of torch tells. So the checksums are recorded per capability, AVX512 with two of them:
"avx512-kernels", recorded on an AVX512 machine with the code of commit 74b293d, and "other", cfbcb42's, which AMD EPYC
machines train. The AVX2 and DEFAULT ones were recorded with `ATEN_CPU_CAPABILITY=avx2` / `=default` (torch's
switch to the lesser kernels) with the code of b601e33 on such an EPYC; a CI machine whose capability read AVX2 trained
the same. A run must equal one recorded for its capability: a change of the training matches none. A deliberate change
of the training records its new checksums here, with the reason, in the same commit.
"""

import hashlib

import pytest
import torch

from aevb.train import train
from compose import compose_train

# Past the Adagrad warm-up (100 minibatches without a step) in the probe and after it
SHORT = ["trainer.max_samples=15000", "step_size_selection.probe_samples=11000", "callbacks.image_grids=null"]

CASES = {
    "aevb_mnist": (
        ["experiment=aevb_mnist", *SHORT],
        {
            "AVX512": {
                "other": "6bc3c7f4a2e274e350161a06e0635cb3c2508f29ca681b3841bf29310d0f8f1b",
                "avx512-kernels": "9aef5a374a489eb21703bafbf0bdd546d4631438cc2737631e5e47918065d2ef",
            },
            "AVX2": {"other": "6bc3c7f4a2e274e350161a06e0635cb3c2508f29ca681b3841bf29310d0f8f1b"},
            "DEFAULT": {"other": "f3a8d9945ef5232f7539b10da6ac852f91a5b653fa6d28fe80575dc099f70c2e"},
        },
    ),
    "aevb_frey_face": (
        ["experiment=aevb_frey_face", *SHORT],
        {
            "AVX512": {
                "other": "e9bb66971aa424b82d64a99de135a9a179352254ad438cdc12595b6dc6b0e85c",
                "avx512-kernels": "f34bad733cc5aee63cd81756bf29e8b032103e804a8dda021f4602cdce2b38d0",
            },
            "AVX2": {"other": "0ab5cc880fd1d387b699dba0251b46c25911e299a778f6e7f227dd0d8b9b85f1"},
            "DEFAULT": {"other": "f3704f84ac7dd9695ffc07c67a12457c95f23be73c073301079bc08064843603"},
        },
    ),
    "wake_sleep_frey_face": (
        ["experiment=aevb_frey_face", "model=wake_sleep", *SHORT],
        {
            "AVX512": {
                "other": "56ba323f2b4be7400ab6d2a53f07ad5c725ebc118b0113c34967e4b2a839e268",
                "avx512-kernels": "eed45d89267d7e77fffd89c76e1c672f160292a65427ddd450f1f035061611f4",
            },
            "AVX2": {"other": "2d9e08f1e20881ed33fd0e109d215cb8fc77c051d1dc190b1b5b6e73fae6fe3e"},
            "DEFAULT": {"other": "7b0cc49a86f73b7f4b5cab3a9f6bfc3388099f44a9276d679173266942d0a150"},
        },
    ),
    "mcem_mnist": (
        [
            "experiment=figure3_mnist",
            "model=mcem",
            "data.train_limit=1000",
            *SHORT,
            "data.eval_limit=100",
            "model.log_px.burn_in=2",
            "model.log_px.posterior_samples=8",
        ],
        {
            "AVX512": {
                "other": "917ef7951359068978d20a2774623bd23204bf14458fe025652a9396d47162de",
                "avx512-kernels": "bfd439e90a3e459e160c1ba1f2bef09ff2fdb1e4a5c336be5bfad759f865e885",
            },
            "AVX2": {"other": "917ef7951359068978d20a2774623bd23204bf14458fe025652a9396d47162de"},
            "DEFAULT": {"other": "662bf3b0d7b7bc5b95e0e3d2cba43cbef3e78e23000e7b42ddeabffc3287fe0b"},
        },
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
    capability = torch.backends.cpu.get_cpu_capability()
    if capability not in expected:
        pytest.skip(f"no checksums recorded for torch's {capability} CPU kernels (recorded: {', '.join(expected)})")
    train(compose_train(overrides, tmp_path, data_dir))
    trained = weights_checksum(tmp_path / "checkpoints" / "last.ckpt")
    assert trained in expected[capability].values(), (
        f"{case} trained weights {trained}, none of those recorded for the {capability} kernels: the training changed"
    )
