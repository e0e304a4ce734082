"""The datamodules on the real MNIST and Frey Face files, and the batch iterator."""

import shutil

import pytest
import torch

from aevb.data.batches import TensorBatches
from aevb.data.files import fetch_verified
from aevb.data.frey_face import MD5 as FREY_MD5
from aevb.data.frey_face import FreyFaceDataModule
from aevb.data.mnist import MNISTDataModule
from aevb.errors import DataFileError


@pytest.fixture(scope="module")
def mnist(data_dir):
    dm = MNISTDataModule(str(data_dir), binarize="dynamic")
    dm.setup()
    return dm


def is_binary(x):
    return bool(((x == 0) | (x == 1)).all())


def test_mnist_splits_shapes_and_ranges(mnist):
    assert {k: tuple(v.shape) for k, v in mnist.splits.items()} == {
        "train": (50000, 1, 28, 28),
        "val": (10000, 1, 28, 28),
        "test": (10000, 1, 28, 28),
    }
    train = mnist.splits["train"]
    assert train.dtype == torch.float32 and train.min() == 0 and train.max() == 1
    assert not is_binary(train)  # dynamic: intensities kept, binarised per batch
    assert all(is_binary(x) for x in mnist.eval_splits.values())
    # Evaluation images are a fixed Bernoulli sample of the intensities: mean preserved.
    assert abs(mnist.eval_splits["test"].mean() - mnist.splits["test"].mean()) < 2e-3


def test_mnist_validation_split_is_seeded_and_disjoint(data_dir, mnist):
    train, val = set(mnist.split_indices["train"].tolist()), set(mnist.split_indices["val"].tolist())
    assert len(train) == 50000 and len(val) == 10000 and not train & val
    other = MNISTDataModule(str(data_dir), split_seed=1)
    other.setup()
    assert not torch.equal(other.split_indices["val"], mnist.split_indices["val"])
    again = MNISTDataModule(str(data_dir), split_seed=0).prepare_splits()  # made anew, as in another process
    assert torch.equal(again.indices["val"], mnist.split_indices["val"])
    assert torch.equal(again.eval_splits["test"], mnist.eval_splits["test"])  # binarize_seed fixes it


def test_the_datamodules_of_one_setting_share_one_copy_of_the_splits_in_a_process(data_dir, mnist):
    """A stacked sweep's jobs, or a step-size probe's candidates, hold the data once between them, not once each."""
    same = MNISTDataModule(str(data_dir), binarize="dynamic", batch_size=50, shuffle_seed=7, steps_per_call=10)
    same.setup()
    assert same.prepared is mnist.prepared and same.splits["train"] is mnist.splits["train"]
    fresh = same.prepare_splits()  # what a process of its own would hold
    for name in mnist.splits:
        assert torch.equal(fresh.splits[name], same.splits[name]) and torch.equal(fresh.eval_splits[name], same.eval_splits[name])
    for setting in ({"val_size": 5000}, {"binarize_seed": 1}, {"eval_limit": 10}):
        other = MNISTDataModule(str(data_dir), binarize="dynamic", **setting)
        other.setup()
        assert other.prepared is not mnist.prepared and not torch.equal(other.eval_splits["val"], mnist.eval_splits["val"])
    same.splits["train"] = same.splits["train"][:10]  # a module's dict of splits is its own
    assert len(mnist.splits["train"]) == 50000
    train = mnist.splits["train"]  # on another device, a shared split is copied once for all that share it
    on_meta = mnist.prepared.on("meta", train)
    assert on_meta.device.type == "meta" and mnist.prepared.on(torch.device("meta"), train) is on_meta
    assert mnist.prepared.on("cpu", train) is train and mnist.prepared.on("meta", train[:10]) is not on_meta


def test_a_dataset_that_keeps_a_setting_under_another_name_is_refused(data_dir):
    class Blurred(MNISTDataModule):
        def __init__(self, data_dir, blur: float = 1.0, **kwargs):
            super().__init__(data_dir, **kwargs)
            self.sigma = blur

    with pytest.raises(TypeError, match=r"Blurred takes \['blur'\] but keeps no attribute of that name"):
        Blurred(str(data_dir)).setup()


def test_dynamic_binarisation_draws_a_fresh_sample_each_time(mnist):
    batches = TensorBatches(mnist.splits["train"][:200], 100, binarize=True, seed=0)
    first, second = next(iter(batches)), next(iter(batches))  # same images, drawn twice
    assert is_binary(first) and is_binary(second) and not torch.equal(first, second)
    assert abs(first.mean() - mnist.splits["train"][:100].mean()) < 0.02


def test_static_binarisation_is_one_fixed_sample(data_dir):
    dm = MNISTDataModule(str(data_dir), binarize="static", val_size=0)
    dm.setup()
    assert is_binary(dm.splits["train"]) and torch.equal(dm.splits["train"], dm.eval_splits["train"])
    (batch,) = next(iter(dm.train_dataloader()))  # one minibatch per call of training_step
    assert is_binary(batch) and batch.shape == (100, 1, 28, 28)
    assert dm.evaluation_names == ["train", "test"]


def test_continuous_mnist_is_untouched(data_dir):
    dm = MNISTDataModule(str(data_dir), binarize="none", val_size=0)
    dm.setup()
    assert not is_binary(dm.splits["train"]) and torch.equal(dm.splits["test"], dm.eval_splits["test"])


def test_frey_face(data_dir):
    dm = FreyFaceDataModule(str(data_dir))
    dm.setup()
    assert {k: tuple(v.shape) for k, v in dm.splits.items()} == {
        "train": (1600, 1, 28, 20),
        "val": (0, 1, 28, 20),
        "test": (365, 1, 28, 20),
    }
    every = torch.cat([dm.splits["train"], dm.splits["test"]])
    assert every.min() == 8 / 256 and every.max() == 238 / 256  # ff is uint8 in 8..238, scaled by 1/256
    train, test = set(dm.split_indices["train"].tolist()), set(dm.split_indices["test"].tolist())
    assert len(train | test) == 1965 and not train & test
    record = dm.split_record()
    assert record["sizes"] == {"train": 1600, "val": 0, "test": 365} and sorted(record["indices"]["test"]) == sorted(test)
    other = FreyFaceDataModule(str(data_dir), split_seed=3)
    other.setup()
    assert not torch.equal(other.split_indices["test"], dm.split_indices["test"])
    assert dm.evaluation_names == ["train", "test"]


def test_batches_shard_disjointly_across_ranks_and_score_every_datapoint_once():
    data = torch.arange(103.0).view(-1, 1, 1, 1)
    parts = [list(TensorBatches(data, 10, shuffle=True, seed=5, rank=r, world_size=2)) for r in range(2)]
    assert [len(p) for p in parts] == [11, 11]  # ten global minibatches of 10, then one of 3 split as 1 + 2
    assert [len(b) for b in parts[0]] == [5] * 10 + [1] and [len(b) for b in parts[1]] == [5] * 10 + [2]
    seen = [torch.cat(p).flatten().tolist() for p in parts]
    assert sorted(seen[0] + seen[1]) == data.flatten().tolist()


def test_a_rank_with_nothing_left_of_the_last_batch_skips_it():
    data = torch.arange(21.0).view(-1, 1, 1, 1)  # a last global minibatch of one datapoint, for two ranks
    parts = [list(TensorBatches(data, 10, rank=r, world_size=2)) for r in range(2)]
    assert [len(p) for p in parts] == [2, 3]
    assert len(TensorBatches(data, 10, rank=0, world_size=2)) == 2


def test_the_global_minibatches_do_not_depend_on_the_number_of_ranks():
    data = torch.rand(60, 1, 2, 2)
    alone = list(TensorBatches(data, 12, shuffle=True, binarize=True, seed=3, drop_last=True))
    for world_size in (2, 3, 4):
        parts = [
            list(TensorBatches(data, 12, shuffle=True, binarize=True, seed=3, drop_last=True, rank=r, world_size=world_size))
            for r in range(world_size)
        ]
        together = [torch.cat(step) for step in zip(*parts, strict=True)]
        assert len(together) == len(alone) and all(torch.equal(a, b) for a, b in zip(together, alone, strict=True))


@pytest.mark.parametrize("stop_after", [3, 5], ids=["mid_epoch", "end_of_epoch"])
def test_batches_resume_from_state_dict(stop_after):
    data = torch.rand(50, 1, 2, 2)
    reference = TensorBatches(data, 10, shuffle=True, binarize=True, seed=1)
    expected = [b for _ in range(3) for b in reference]
    interrupted = TensorBatches(data, 10, shuffle=True, binarize=True, seed=1)
    iterator = iter(interrupted)
    got = [next(iterator) for _ in range(stop_after)]
    resumed = TensorBatches(data, 10, shuffle=True, binarize=True, seed=1)
    resumed.load_state_dict(interrupted.state_dict())
    got += [b for _ in range(3) for b in resumed][: len(expected) - stop_after]
    assert len(got) == len(expected) and all(torch.equal(a, b) for a, b in zip(got, expected, strict=True))


def test_every_rank_resumes_from_the_state_that_rank_0_saved():
    data = torch.rand(60, 1, 2, 2)

    def rank(r, **kw):
        return TensorBatches(data, 12, shuffle=True, binarize=True, drop_last=True, seed=4, rank=r, world_size=2, **kw)

    uninterrupted = rank(1)
    expected = [b for _ in range(2) for b in uninterrupted]
    saver = rank(0)
    steps = iter(saver)
    for _ in range(3):  # three steps; only rank 0 writes the checkpoint
        next(steps)
    resumed = rank(1)
    resumed.load_state_dict(saver.state_dict())
    got = expected[:3] + [b for _ in range(2) for b in resumed][: len(expected) - 3]
    assert all(torch.equal(a, b) for a, b in zip(got, expected, strict=True))


def test_minibatches_come_in_groups_of_steps_per_call_in_the_same_order():
    data = torch.rand(100, 1, 2, 2)
    alone = list(TensorBatches(data, 10, shuffle=True, binarize=True, seed=6))
    grouped = TensorBatches(data, 10, shuffle=True, binarize=True, seed=6, steps_per_call=3)
    groups = list(grouped)
    assert [len(g) for g in groups] == [3, 3, 3, 1] and len(grouped) == 4
    assert all(torch.equal(a, b) for a, b in zip([b for g in groups for b in g], alone, strict=True))


def test_resuming_with_another_shuffle_seed_is_refused():
    batches = TensorBatches(torch.rand(50, 1, 2, 2), 10, shuffle=True, seed=1)
    next(iter(batches))
    with pytest.raises(ValueError, match="data.shuffle_seed=1"):
        TensorBatches(torch.rand(50, 1, 2, 2), 10, shuffle=True, seed=2).load_state_dict(batches.state_dict())


def test_batches_can_carry_the_indices_of_their_datapoints():
    data = torch.rand(30, 1, 1, 1)
    for batch, indices in TensorBatches(data, 7, shuffle=True, seed=2, with_indices=True):
        assert torch.equal(batch, data[indices])


def test_train_and_eval_limits_take_the_first_images_of_each_split(data_dir, mnist):
    limited = MNISTDataModule(str(data_dir), binarize="dynamic", train_limit=1000, eval_limit=300)
    limited.setup()
    assert torch.equal(limited.splits["train"], mnist.splits["train"][:1000])
    assert torch.equal(limited.split_indices["train"], mnist.split_indices["train"][:1000])
    for split in ("train", "test"):  # the same (binarised) images as without the limits
        assert torch.equal(limited.eval_splits[split], mnist.eval_splits[split][:300])
    assert {name: len(x) for name, x in limited.eval_splits.items()} == {"train": 300, "val": 300, "test": 300}
    with pytest.raises(ValueError, match="data.train_limit=60000 is more than the 50000 training images"):
        MNISTDataModule(str(data_dir), train_limit=60000).setup()
    with pytest.raises(ValueError, match="data.eval_limit=0"):
        MNISTDataModule(str(data_dir), eval_limit=0)


def test_corrupt_file_is_named_with_its_expected_checksum(tmp_path, data_dir):
    broken = tmp_path / "frey_rawface.mat"
    broken.write_bytes((data_dir / "frey_rawface.mat").read_bytes()[:1000])
    with pytest.raises(DataFileError, match=f"frey_rawface.mat is corrupt.*expected {FREY_MD5}"):
        FreyFaceDataModule(str(tmp_path)).setup()


def test_missing_file_offline_says_where_to_put_it(tmp_path):
    with pytest.raises(DataFileError, match=r"missing and could not be downloaded.*Put a good copy at .*frey_rawface.mat"):
        fetch_verified(tmp_path / "frey_rawface.mat", "http://127.0.0.1:9/frey_rawface.mat", FREY_MD5)
    assert not (tmp_path / "frey_rawface.mat").exists()


def test_verified_file_is_used_without_network(tmp_path, data_dir):
    shutil.copy(data_dir / "frey_rawface.mat", tmp_path / "frey_rawface.mat")
    assert fetch_verified(tmp_path / "frey_rawface.mat", "http://127.0.0.1:9/unreachable", FREY_MD5).exists()
