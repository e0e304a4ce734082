from pathlib import Path

import pytest

from processes import FREY, run_entry_point


@pytest.fixture(scope="session")
def uninterrupted(tmp_path_factory, data_dir) -> Path:
    """The Frey Face run (FREY) that killed, signalled and requeued runs must end equal to."""
    run_dir = tmp_path_factory.mktemp("uninterrupted")
    run_entry_point("aevb-train", f"hydra.run.dir={run_dir}", f"paths.data_dir={data_dir}", *FREY)
    return run_dir
