"""Frey Face (Roweis' data page): 1965 greyscale frames of one face, 28 rows x 20 columns."""

from pathlib import Path

import torch
from scipy.io import loadmat

from aevb.data.files import fetch_verified
from aevb.data.in_memory import InMemoryDataModule, seeded_split
from aevb.errors import DataFileError

URL = "https://cs.nyu.edu/~roweis/data/frey_rawface.mat"
MD5 = "5aeb024d42b8a6091f30e5eb18c8a48d"
NUM_IMAGES = 1965


class FreyFaceDataModule(InMemoryDataModule):
    """Frey Face from `frey_rawface.mat` (variable `ff`, uint8), scaled by 1/256 as the authors' code did.

    A seeded random permutation gives `train_size` training images, then `val_size` validation
    images, and the rest (365 with the defaults) as the test set.
    """

    name = "frey_face"
    data_shape = (1, 28, 20)

    def __init__(self, data_dir: str, train_size: int = 1600, val_size: int = 0, binarize: str = "none", **kwargs):
        super().__init__(data_dir, binarize=binarize, **kwargs)
        if train_size < 1 or val_size < 0 or train_size + val_size >= NUM_IMAGES:
            raise ValueError(
                f"data.train_size={train_size} and data.val_size={val_size} must leave test images "
                f"out of the {NUM_IMAGES}: train_size >= 1, val_size >= 0, train_size + val_size < {NUM_IMAGES}"
            )
        self.train_size, self.val_size = train_size, val_size

    @property
    def path(self) -> Path:
        return Path(self.data_dir) / "frey_rawface.mat"

    def prepare_data(self) -> None:
        fetch_verified(self.path, URL, MD5)

    def load_splits(self):
        self.prepare_data()
        try:
            faces = loadmat(self.path)["ff"]
        except (ValueError, KeyError, OSError) as error:
            raise DataFileError(f"{self.path} could not be read as the Frey Face MAT-file ({error}).") from error
        images = torch.from_numpy(faces.T.copy()).reshape(-1, *self.data_shape).float() / 256
        test_size = len(images) - self.train_size - self.val_size
        split = seeded_split(len(images), {"train": self.train_size, "val": self.val_size, "test": test_size}, self.split_seed)
        return {name: (images[indices], indices) for name, indices in split.items()}
