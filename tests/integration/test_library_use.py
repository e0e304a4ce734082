"""aevb as a library: the cells of docs/library.md run as written (compose and train, load_from_checkpoint, the views
of aevb.load's model, a plain Lightning Trainer on an ordinary DataLoader), and every model class loads its own
checkpoints."""

import gc
import re
import signal

import lightning.pytorch as L
import pytest
import torch

from aevb.build import load_model
from aevb.config.hydra_glue import PROJECT_ROOT
from aevb.models.iwae import IWAE
from aevb.models.latent_variable_model import LatentVariableModel
from aevb.models.mcem import MonteCarloEM
from aevb.models.vae import VAE
from aevb.models.wake_sleep import WakeSleep
from aevb.train import train
from compose import compose_train

CELLS = re.findall(r"```python\n(.*?)```", (PROJECT_ROOT / "docs" / "library.md").read_text(), flags=re.DOTALL)


def test_the_documented_cells_run_as_written(tmp_path, data_dir, monkeypatch, capsys):
    assert len(CELLS) == 4
    monkeypatch.chdir(tmp_path)  # the cells write outputs/notebook of the current directory
    monkeypatch.setenv("AEVB_DATA_DIR", str(data_dir))
    namespace: dict = {}
    for cell in CELLS:
        exec(compile(cell, "docs/library.md", "exec"), namespace)  # noqa: S102
    assert namespace["metrics"]["samples_seen"] == 2 * 1600 and (tmp_path / "outputs/notebook/metrics.json").is_file()
    faces = (1, 28, 20)  # the views of the Frey Face run's model (the fourth cell); its test split has 365 faces
    assert namespace["line"].shape == namespace["arc"].shape == (8, *faces) and namespace["samples"].shape == (16, *faces)
    assert namespace["row"].shape == (7, *faces) and namespace["reconstructions"].shape == (8, *faces)
    assert namespace["codes"].shape == (365, 20)  # mu(x) of every test face, N_z = 20
    torch.testing.assert_close(namespace["line"][0], namespace["arc"][0])  # both paths start at mu(x1)
    assert isinstance(namespace["model"], VAE) and namespace["model"].samples_seen == 2 * 512
    assert "lower_bound/val" in namespace["model"].last_evaluation
    assert "AEVB 3200" in capsys.readouterr().out


def test_trainings_in_one_process_leave_nothing_of_themselves_behind(tmp_path, data_dir):
    # a notebook's or a loop's train() calls: once one returns, its Trainer (and with it the model and the data) is
    # freed, and the process's signal handlers are those it had before (Lightning's SIGTERM handler holds its Trainer)
    def trainers() -> int:
        gc.collect()
        return sum(isinstance(o, L.Trainer) for o in gc.get_objects())

    handlers, before = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}, trainers()
    for run in range(2):
        train(compose_train(["debug=frey_blink"], tmp_path / str(run), data_dir))
        assert {signum: signal.getsignal(signum) for signum in handlers} == handlers
    assert trainers() == before


@pytest.mark.parametrize(
    ("overrides", "cls"),
    [(["model=mlp"], VAE), pytest.param(["model=wake_sleep"], WakeSleep, marks=pytest.mark.slow),
     pytest.param(["model=iwae"], IWAE, marks=pytest.mark.slow),
     pytest.param(["model=mcem", "debug=[frey_blink,small_estimator]"], MonteCarloEM, marks=pytest.mark.slow)],
)  # fmt: skip
def test_every_model_loads_from_its_checkpoint_with_lightnings_classmethod(overrides, cls, tmp_path, data_dir):
    train(compose_train(["debug=frey_blink", *overrides], tmp_path, data_dir))
    path = tmp_path / "checkpoints" / "last.ckpt"
    for asked in (cls, LatentVariableModel):
        model = asked.load_from_checkpoint(path)
        assert type(model) is cls and not model.training and model.samples_seen == load_model(path).samples_seen
        assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), load_model(path).state_dict().values(),
                                                       strict=True))  # fmt: skip
    other = VAE if cls is MonteCarloEM else MonteCarloEM
    with pytest.raises(TypeError, match=f"holds a {cls.__name__} .*, not a {other.__name__}"):
        other.load_from_checkpoint(path)
