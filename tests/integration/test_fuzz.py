"""Fuzz: random bad values for every config key, and damaged data and checkpoint files. Every failure must be one of
our clear errors (or Hydra's own refusal of an override), naming the key or file; never a traceback from deep inside a
library."""

import gzip
import random
import shutil
from pathlib import Path

import pytest
import torch
from hydra.errors import HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from aevb.build import datamodule_and_model
from aevb.config.schema import build
from aevb.data.frey_face import FreyFaceDataModule
from aevb.data.mnist import IMAGE_FILES, MNISTDataModule
from aevb.errors import AevbError, CheckpointError, DataFileError
from aevb.runs.checkpoints import read_checkpoint
from aevb.runs.resume import flatten
from aevb.train import train
from aevb.training.run_checks import check_run_config, trainer_arguments
from compose import compose_train

PRESET = "experiment=aevb_mnist"
VALUES = ["-1", "0", "abc", "1.5", "true", "null", "1e12", "''", "[1,2]", "{a: 1}", "-0.5", "2"]
# Small enough to train in a few seconds; a fuzzed override comes after these, so it wins.
TINY = [
    "data.train_limit=300",
    "data.eval_limit=200",
    "data.val_size=1000",
    "trainer.max_samples=300",
    "callbacks.evaluation_schedule.start_samples=100",
]


def fuzzed_overrides(count: int, seed: int) -> list[tuple[str, str]]:
    base = compose_train([PRESET], "/unused", "/unused")
    keys = [
        key
        for key in flatten(OmegaConf.to_container(base))
        if key.split(".")[0] in ("model", "data", "optimizer", "trainer", "callbacks", "logger")
        and not key.endswith(("_target_", "_partial_"))
        and "dir" not in key
    ]
    rng = random.Random(seed)
    return [(rng.choice(keys), rng.choice(VALUES)) for _ in range(count)]


def build_everything(cfg):
    """What aevb-train builds before its first update."""
    check_run_config(cfg)
    datamodule, model = datamodule_and_model(cfg)
    callbacks = [build(callback, f"callbacks.{name}") for name, callback in cfg.callbacks.items()]
    build(OmegaConf.create(trainer_arguments(cfg)), "trainer", logger=False, callbacks=callbacks)


@pytest.mark.slow
def test_every_bad_config_value_is_refused_before_training_naming_its_key(tmp_path, data_dir):
    refused = accepted = 0
    for key, value in fuzzed_overrides(150, seed=0):
        try:
            cfg = compose_train([PRESET, f"{key}={value}"], tmp_path, data_dir)
            build_everything(cfg)
            accepted += 1
        except AevbError as error:
            assert key.split(".")[-1] in str(error) and "\n" not in str(error), (key, value, str(error))
            refused += 1
        except (HydraException, OmegaConfBaseException) as error:  # Hydra refuses the override itself
            assert key.split(".")[-1] in str(error), (key, value, str(error))
            refused += 1
    assert refused > 75 and accepted > 10  # both kinds occur: the fuzz reaches past the obvious


@pytest.mark.slow
def test_values_accepted_by_the_checks_train_or_fail_with_a_clear_error(tmp_path, data_dir):
    cases = fuzzed_overrides(300, seed=1)
    accepted = []
    for key, value in cases:
        try:
            build_everything(compose_train([PRESET, *TINY, f"{key}={value}"], tmp_path, data_dir))
            accepted.append((key, value))
        except (AevbError, HydraException, OmegaConfBaseException):
            pass
    for number, (key, value) in enumerate(random.Random(2).sample(accepted, 3)):
        cfg = compose_train(
            [PRESET, *TINY, f"{key}={value}", "trainer.enable_progress_bar=false"], tmp_path / str(number), data_dir
        )
        try:
            metrics = train(cfg)
            assert metrics["samples_seen"] > 0
        except AevbError as error:
            assert "\n" not in str(error), (key, value, str(error))


def damaged_copies(source: Path) -> dict[str, bytes]:
    data = source.read_bytes()
    middle = len(data) // 2
    return {
        "empty": b"",
        "truncated": data[:middle],
        "one byte flipped": data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :],
        "random bytes": random.Random(0).randbytes(len(data)),
        "html error page": b"<html><body>404 Not Found</body></html>",
    }


@pytest.mark.parametrize("dataset", ["mnist", "frey_face"])
def test_damaged_or_missing_data_files_fail_naming_the_file_its_checksum_and_the_fix(dataset, tmp_path, data_dir):
    if dataset == "mnist":
        names = [f"MNIST/raw/{name}" for name in IMAGE_FILES.values()]
        make = lambda root: MNISTDataModule(str(root), val_size=1000)  # noqa: E731
    else:
        names = ["frey_rawface.mat"]
        make = lambda root: FreyFaceDataModule(str(root))  # noqa: E731
    for name in names:
        for damage, content in damaged_copies(data_dir / name).items():
            root = tmp_path / f"{Path(name).name}-{damage}"
            for other in names:
                (root / other).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(data_dir / other, root / other)
            (root / name).write_bytes(content)
            with pytest.raises(DataFileError) as caught:
                make(root).setup()
            message = str(caught.value)
            assert Path(name).name in message and "expected" in message and "Delete it" in message, (damage, message)
    # missing, and no network to download it from: the file, the URL tried, the checksum and the fix
    with pytest.raises(DataFileError, match=r"is missing and could not be downloaded.*Expected md5"):
        make(tmp_path / "empty_dir").setup()


def test_an_idx_file_with_the_right_checksum_but_the_wrong_content_is_refused(tmp_path):
    path = tmp_path / "images.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x03" + b"\x00\x00\x00\x02" + b"\x00\x00\x00\x05" * 2 + bytes(50)))
    from aevb.data.mnist import read_idx_images

    with pytest.raises(DataFileError, match="not an IDX file of 28x28 MNIST images"):
        read_idx_images(path)


def test_an_idx_file_is_decoded_once_until_it_changes(tmp_path, data_dir):
    from aevb.data.mnist import read_idx_images

    path = tmp_path / IMAGE_FILES["test"]
    shutil.copy(data_dir / "MNIST" / "raw" / IMAGE_FILES["test"], path)
    first, again = read_idx_images(path), read_idx_images(path)
    assert first.shape == (10000, 28, 28) and torch.equal(first, again)
    first[0] = 0  # each caller's own copy: changing one leaves the next read alone
    assert torch.equal(read_idx_images(path), again)
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x03" + (1).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + bytes(784)))
    assert read_idx_images(path).shape == (1, 28, 28)  # rewritten: read anew


def test_damaged_checkpoints_are_refused_naming_the_file(tmp_path, data_dir):
    quick = ["debug=frey_blink"]
    train(compose_train(quick, tmp_path / "run", data_dir))
    good = tmp_path / "run" / "checkpoints" / "last.ckpt"
    damaged = damaged_copies(good)
    # A byte flipped in a tensor's data goes unseen by any reader (the file is still a valid archive); one flipped in
    # the archive's index cannot load: the first byte of the end-of-central-directory record, 22 bytes from the end.
    data = good.read_bytes()
    damaged["one byte flipped"] = data[:-22] + bytes([data[-22] ^ 0xFF]) + data[-21:]
    for damage, content in damaged.items():
        bad = tmp_path / f"{damage}.ckpt"
        bad.write_bytes(content)
        with pytest.raises(CheckpointError, match=f"{bad.name} cannot be read"):
            read_checkpoint(bad)
    # a damaged last.ckpt in a run directory: re-running the run names it and says what to do
    run = tmp_path / "run2"
    train(compose_train(quick, run, data_dir))
    (run / "metrics.json").unlink()  # as if killed before the end
    (run / "checkpoints" / "last.ckpt").write_bytes(good.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="last.ckpt cannot be read.*delete it"):
        train(compose_train(quick, run, data_dir))
    assert torch.load(good, weights_only=True)["samples_seen"] == 200
