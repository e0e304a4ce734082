"""Every entry point, started as a user starts it from some directory, turns a missing file or directory into one
line naming it by its absolute path, and exits 1; a relative AEVB_DATA_DIR is read against the starting directory."""

import os
import subprocess

import pytest

from processes import BIN


def started_in(directory, *command: str, **environment: str) -> subprocess.CompletedProcess:
    env = {**{k: v for k, v in os.environ.items() if k != "AEVB_DATA_DIR"}, **environment}
    return subprocess.run([str(BIN / command[0]), *command[1:]], cwd=directory, capture_output=True, text=True, env=env,
                          timeout=300)  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(
    ("command", "missing"),
    [
        (("aevb-train", "debug=frey_blink", "hydra.run.dir=run"), "nodata/frey_rawface.mat"),
        (("aevb-bench", "--samples", "4000", "--repeats", "1", "--warmup", "5"), "nodata/MNIST/raw/train-images-idx3-ubyte.gz"),
        (("aevb-eval", "ckpt_path=run/checkpoints/last.ckpt"), "run/checkpoints/last.ckpt"),
        (("aevb-sample", "ckpt_path=run/checkpoints/last.ckpt"), "run/checkpoints/last.ckpt"),
        (("aevb-figures", "sweep"), "sweep"),
    ],
)
def test_a_missing_file_is_one_line_with_its_absolute_path(command, missing, tmp_path):
    result = started_in(tmp_path, *command, AEVB_DATA_DIR="nodata")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"{command[0]}: ") and str(tmp_path / missing) in last
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_help_says_what_the_command_does_with_examples_and_its_own_keys(tmp_path):
    train_help = started_in(tmp_path, "aevb-train", "--help").stdout
    assert train_help.startswith("aevb-train: train a variational autoencoder")
    assert "aevb-train -m experiment=figure2_mnist" in train_help and "hydra/launcher=slurm" in train_help
    assert "model: conv, iwae, mcem, mlp, wake_sleep" in train_help
    eval_help = started_in(tmp_path, "aevb-eval", "--help").stdout
    assert eval_help.startswith("aevb-eval: score a checkpoint") and "importance_samples: 5000" in eval_help
    assert "model:" not in eval_help and "optimizer" not in eval_help  # its own keys, not training's groups
    sample_help = started_in(tmp_path, "aevb-sample", "--help").stdout
    assert sample_help.startswith("aevb-sample: look at a trained model") and "temperature: 1.0" in sample_help
