"""aevb-sample on a real short training on MNIST: every grid, at its size, in <run>/grids and in TensorBoard; the grids
a model allows (no manifold for N_z != 2, nothing of q(z|x) for MCEM); bad input refused in one line."""

import logging

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import aevb
from aevb.config.hydra_glue import CONFIG_DIR
from aevb.errors import ConfigError
from aevb.evaluate import load_datamodule
from aevb.models.mcem import MonteCarloEM
from aevb.models.vae import VAE
from aevb.sample import grids, write_grids
from aevb.tracking.image_tiles import PADDING
from processes import run_entry_point
from tiny_models import tiny

GRIDS = ("samples", "reconstructions", "interpolation_linear", "interpolation_slerp", "traversals", "manifold")


def compose_sample(*overrides: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose("sample", overrides=list(overrides))


def grid_size(columns: int, rows: int, height: int = 28, width: int = 28) -> tuple[int, int]:
    """(height, width) in pixels of a grid of rows x columns images with PADDING between and around them."""
    return rows * (height + PADDING) + PADDING, columns * (width + PADDING) + PADDING


@pytest.fixture(scope="module")
def mnist_2d_run(tmp_path_factory, data_dir):
    """A few seconds of real AEVB training on MNIST with N_z = 2, evaluated on 200 images of each split."""
    run_dir = tmp_path_factory.mktemp("mnist_2d")
    run_entry_point("aevb-train", f"hydra.run.dir={run_dir}", f"paths.data_dir={data_dir}", "debug=quick",
                    "trainer.max_epochs=1", "model.latent_dim=2", "data.eval_limit=200")  # fmt: skip
    return run_dir


@pytest.mark.slow
def test_aevb_sample_writes_every_grid_at_its_size_and_to_tensorboard(mnist_2d_run, data_dir, tmp_path):
    checkpoint = mnist_2d_run / "checkpoints" / "last.ckpt"
    result = run_entry_point("aevb-sample", f"ckpt_path={checkpoint}", f"hydra.run.dir={tmp_path}", f"paths.data_dir={data_dir}",
                             "images=[0,1,2,3,4,5]", "steps=6", "tensorboard=true")  # fmt: skip
    sizes = {name: Image.open(mnist_2d_run / "grids" / f"{name}.png").size[::-1] for name in GRIDS}  # (height, width)
    assert sizes == {
        "samples": grid_size(8, 8),  # 64 samples, 8 to a row
        "reconstructions": grid_size(8, 2),  # 6 images, each beside its reconstruction
        "interpolation_linear": grid_size(6 + 2, 1),  # the two images, and the path of 6 between them
        "interpolation_slerp": grid_size(6 + 2, 1),
        "traversals": grid_size(6, 2),  # one row per latent coordinate
        "manifold": grid_size(20, 20),
    }
    assert "manifold.png" in result.stdout and str(mnist_2d_run / "grids") in result.stdout
    events = EventAccumulator(str(mnist_2d_run / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    assert {f"images/aevb-sample/{name}" for name in GRIDS} <= set(events.Tags()["images"])
    manifold = events.Images("images/aevb-sample/manifold")[-1]
    assert (manifold.height, manifold.width) == grid_size(20, 20) and manifold.step == 2000  # at the checkpoint's samples


@pytest.mark.slow
def test_the_documented_calls_on_a_real_checkpoint(mnist_2d_run, data_dir):
    checkpoint = mnist_2d_run / "checkpoints" / "last.ckpt"
    model = aevb.load(checkpoint)
    assert isinstance(model, VAE) and not model.training and model.samples_seen == 2000
    images = load_datamodule(checkpoint, str(data_dir)).eval_splits["test"]
    x1, x2 = images[:2]
    path = model.interpolate(x1, x2, steps=8)
    assert path.shape == (8, 1, 28, 28)
    torch.testing.assert_close(path[0], model.reconstruct(x1))
    assert model.manifold(5).shape == (25, 1, 28, 28) and model.sample(16, temperature=0.8).shape == (16, 1, 28, 28)
    codes = model.encode(images[:100])
    assert codes.shape == (100, 2) and codes.std(0).min() > 0.05  # the test images are spread over the latent plane


@pytest.mark.slow
def test_aevb_load_builds_a_checkpoint_without_a_config_from_its_runs_config_yaml(mnist_2d_run):
    last = mnist_2d_run / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(last, weights_only=True)
    del checkpoint["model_config"]  # as checkpoints were written before they carried it
    torch.save(checkpoint, mnist_2d_run / "checkpoints" / "before_configs.ckpt")
    old, new = aevb.load(mnist_2d_run / "checkpoints" / "before_configs.ckpt"), aevb.load(last, map_location="cpu")
    assert type(old) is type(new) is VAE and not old.training and new.device.type == "cpu"
    assert all(torch.equal(a, b) for a, b in zip(old.state_dict().values(), new.state_dict().values(), strict=True))


@pytest.mark.slow
def test_an_image_outside_the_split_is_refused_naming_the_key_and_the_range(mnist_2d_run, data_dir, tmp_path):
    cfg = compose_sample(f"ckpt_path={mnist_2d_run / 'checkpoints' / 'last.ckpt'}", f"paths.data_dir={data_dir}",
                         "images=[0,10000]", f"output_dir={tmp_path}")  # fmt: skip
    with pytest.raises(ConfigError, match=r"images=\[0, 10000\]: \[10000\] outside the split, .*from 0 to 199"):
        write_grids(cfg)


def test_a_missing_checkpoint_is_refused_naming_it(tmp_path):
    with pytest.raises(ConfigError, match=f"ckpt_path={tmp_path}/last.ckpt does not exist"):
        write_grids(compose_sample(f"ckpt_path={tmp_path}/last.ckpt"))
    with pytest.raises(ConfigError, match=f"checkpoint {tmp_path}/last.ckpt does not exist"):
        aevb.load(tmp_path / "last.ckpt")


def test_a_latent_space_other_than_2d_draws_no_manifold_and_says_why(caplog):
    model = tiny(VAE, latent_dim=3).eval()
    with caplog.at_level(logging.INFO, logger="aevb.sample"):
        drawn = grids(model, compose_sample("ckpt_path=unused", "steps=4", "manifold_size=3"), torch.rand(10, 1, 4, 4))
    assert set(drawn) == set(GRIDS) - {"manifold"}
    assert drawn["traversals"].shape[1:] == grid_size(4, 3, height=4, width=4)  # 3 latent coordinates, 4 values each
    assert "manifold.png skipped: the manifold is a 2-D grid of latents, and this model's latent space has 3" in caplog.text


def test_a_model_without_a_recognition_model_draws_samples_and_the_manifold(caplog):
    model = tiny(MonteCarloEM, with_encoder=False, log_px=lambda *args: {}).eval()
    with caplog.at_level(logging.INFO, logger="aevb.sample"):
        drawn = grids(model, compose_sample("ckpt_path=unused", "num_samples=4", "manifold_size=3"), torch.rand(10, 1, 4, 4))
    assert set(drawn) == {"samples", "manifold"}
    assert drawn["manifold"].shape[1:] == grid_size(3, 3, height=4, width=4)
    assert "no reconstructions, interpolations or traversals: MCEM has no recognition model q(z|x)" in caplog.text


@pytest.mark.parametrize(
    ("override", "message"),
    [("interpolation=[0,1,2]", r"interpolation=\[0, 1, 2\] must name two images"),
     ("traversal_image=12", r"traversal_image=\[12\]: \[12\] outside the split, which has 10 images; use indices from 0 to 9"),
     ("images=[a]", r"images=\['a'\] must be image indices")],
)  # fmt: skip
def test_a_bad_choice_of_images_is_refused_naming_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        grids(tiny(VAE).eval(), compose_sample("ckpt_path=unused", override), torch.rand(10, 1, 4, 4))


@pytest.mark.slow
def test_aevb_sample_of_an_mcem_run_writes_samples_and_the_manifold_only(tmp_path, data_dir):
    run_dir = tmp_path / "mcem"
    run_entry_point("aevb-train", f"hydra.run.dir={run_dir}", f"paths.data_dir={data_dir}", "model=mcem",
                    "debug=[frey_blink,small_estimator]", "model.latent_dim=2")  # fmt: skip
    result = run_entry_point("aevb-sample", f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}", f"paths.data_dir={data_dir}",
                             f"hydra.run.dir={tmp_path / 'sample'}")  # fmt: skip
    assert sorted(path.name for path in (run_dir / "grids").iterdir()) == ["manifold.png", "samples.png"]
    assert Image.open(run_dir / "grids" / "manifold.png").size == grid_size(20, 20, height=28, width=20)[::-1]  # Frey Face
    assert "MCEM has no recognition model q(z|x)" in result.stdout + result.stderr
