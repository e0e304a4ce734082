import os
from pathlib import Path

import pytest
from hydra.core.hydra_config import HydraConfig

from aevb.config.hydra_glue import PROJECT_ROOT


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real data: AEVB_DATA_DIR, or data/ in the repository (as `uv run aevb-train` finds it)."""
    root = Path(os.environ.get("AEVB_DATA_DIR", PROJECT_ROOT / "data"))
    needed = [
        root / "frey_rawface.mat",
        *(
            root / "MNIST" / "raw" / f"{n}-ubyte.gz"
            for n in ("train-images-idx3", "train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1")
        ),
    ]
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        pytest.fail(
            f"the real data files are missing: {missing}. Copy ../shared/data to {PROJECT_ROOT / 'data'} or set AEVB_DATA_DIR."
        )
    return root


@pytest.fixture(autouse=True)
def no_hydra_config_left_behind():
    """A test that sets Hydra's global config (as a multirun job would see it) leaves no trace for the next test."""
    yield
    HydraConfig.instance().cfg = None
