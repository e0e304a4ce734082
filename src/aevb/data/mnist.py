"""MNIST (LeCun et al. 1998): 60,000 training and 10,000 test digits of 28x28 pixels."""

from pathlib import Path

import torch
from torchvision.datasets import MNIST

from aevb.data.files import DataFileError, fetch_verified
from aevb.data.in_memory import InMemoryDataModule, seeded_split


class MNISTDataModule(InMemoryDataModule):
    """MNIST through torchvision, intensities scaled to [0, 1].

    The validation split (`val_size` images, the paper's setting is 10,000) is a seeded random
    subset of the 60,000 training images; the rest is the training set. Test is the 10,000
    test images.
    """

    name = "mnist"
    data_shape = (1, 28, 28)

    def __init__(self, data_dir: str, val_size: int = 10000, binarize: str = "dynamic", **kwargs):
        super().__init__(data_dir, binarize=binarize, **kwargs)
        if not 0 <= val_size < 60000:
            raise ValueError(f"data.val_size={val_size} must be in [0, 60000)")
        self.val_size = val_size

    def prepare_data(self) -> None:
        raw = Path(self.data_dir) / "MNIST" / "raw"
        for filename, md5 in MNIST.resources:
            fetch_verified(raw / filename, MNIST.mirrors[0] + filename, md5)
        try:  # decompresses the verified .gz files beside themselves, without touching the network
            for train in (True, False):
                MNIST(self.data_dir, train=train, download=True)
        except OSError as error:
            raise DataFileError(
                f"could not unpack the MNIST files in {raw} ({error}). The data directory must be "
                f"writable: copy it somewhere writable and point AEVB_DATA_DIR (or paths.data_dir) there."
            ) from error

    def load_splits(self):
        self.prepare_data()
        train = MNIST(self.data_dir, train=True).data.unsqueeze(1).float() / 255
        test = MNIST(self.data_dir, train=False).data.unsqueeze(1).float() / 255
        split = seeded_split(len(train), {"val": self.val_size, "train": len(train) - self.val_size}, self.split_seed)
        return {
            "train": (train[split["train"]], split["train"]),
            "val": (train[split["val"]], split["val"]),
            "test": (test, torch.arange(len(test))),
        }
