"""MNIST (LeCun et al. 1998): 60,000 training and 10,000 test digits of 28x28 pixels."""

import functools
import gzip
from pathlib import Path

import torch
from torchvision.datasets import MNIST

from aevb.data.files import fetch_verified
from aevb.data.in_memory import InMemoryDataModule, seeded_split
from aevb.errors import DataFileError

IMAGE_FILES = {"train": "train-images-idx3-ubyte.gz", "test": "t10k-images-idx3-ubyte.gz"}
IDX_UINT8_IMAGES = 0x0803  # the IDX magic number of a 3-dimensional array of unsigned bytes


def read_idx_images(path: Path) -> torch.Tensor:
    """The images of a gzipped IDX file as uint8 (N, 28, 28), read from the very bytes whose md5 was checked; a file
    this process has read before, unchanged since (its size and time), is decoded once (a stacked sweep's jobs)."""
    stat = path.stat()
    return _decoded(path.resolve(), stat.st_size, stat.st_mtime_ns).clone()


@functools.lru_cache(maxsize=2)  # the training and test files
def _decoded(path: Path, size: int, modified_ns: int) -> torch.Tensor:
    try:
        data = gzip.decompress(path.read_bytes())
    except (OSError, EOFError) as error:
        raise DataFileError(f"{path} cannot be decompressed ({error}); delete it to download it again") from error
    magic, count, rows, columns = (int.from_bytes(data[4 * i : 4 * i + 4], "big") for i in range(4))
    if magic != IDX_UINT8_IMAGES or (rows, columns) != (28, 28) or len(data) != 16 + count * rows * columns:
        raise DataFileError(f"{path} is not an IDX file of 28x28 MNIST images; delete it to download it again")
    return torch.frombuffer(bytearray(data[16:]), dtype=torch.uint8).view(count, rows, columns)


class MNISTDataModule(InMemoryDataModule):
    """MNIST's original IDX files (downloaded from torchvision's mirror), intensities scaled to [0, 1].

    The validation split (`val_size` images, the paper's setting is 10,000) is a seeded random
    subset of the 60,000 training images; the rest is the training set. Test is the 10,000
    test images. The .gz files are checked against their md5 and read directly, so the data
    directory may be read-only once they are there.
    """

    name = "mnist"
    data_shape = (1, 28, 28)

    def __init__(self, data_dir: str, val_size: int = 10000, binarize: str = "dynamic", **kwargs):
        super().__init__(data_dir, binarize=binarize, **kwargs)
        if not 0 <= val_size < 60000:
            raise ValueError(f"data.val_size={val_size} must be in [0, 60000)")
        self.val_size = val_size

    def prepare_data(self) -> dict[str, Path]:
        raw = Path(self.data_dir) / "MNIST" / "raw"
        md5 = dict(MNIST.resources)
        return {split: fetch_verified(raw / name, MNIST.mirrors[0] + name, md5[name]) for split, name in IMAGE_FILES.items()}

    def load_splits(self):
        images = {split: read_idx_images(path).unsqueeze(1).float() / 255 for split, path in self.prepare_data().items()}
        train, test = images["train"], images["test"]
        split = seeded_split(len(train), {"val": self.val_size, "train": len(train) - self.val_size}, self.split_seed)
        return {
            "train": (train[split["train"]], split["train"]),
            "val": (train[split["val"]], split["val"]),
            "test": (test, torch.arange(len(test))),
        }
