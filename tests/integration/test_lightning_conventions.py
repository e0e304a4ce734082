"""Lightning's conventions do what they say here: callbacks monitor any evaluated term, aevb-train returns the
optimized_metric, early stopping stops a run, learning-rate schedulers step, and the debug presets run."""

import pytest
from lightning.pytorch.callbacks import ModelCheckpoint

from aevb.build import build_trainer, datamodule_and_model
from compose import compose_train

FREY_WITH_VAL = ["debug=frey_blink", "data.val_size=200"]  # Frey Face has no validation split unless asked


def test_callbacks_see_every_evaluated_term(tmp_path, data_dir):
    cfg = compose_train([*FREY_WITH_VAL, "trainer.max_epochs=3"], tmp_path, data_dir)
    datamodule, model = datamodule_and_model(cfg)
    best_bound = ModelCheckpoint(dirpath=tmp_path, filename="best_bound", monitor="lower_bound/val", mode="max")
    trainer = build_trainer(cfg, [best_bound], logger=False)
    trainer.fit(model, datamodule=datamodule)
    for term in ("lower_bound", "log_likelihood", "kl"):
        for split in ("train", "val", "test"):
            assert trainer.callback_metrics[f"{term}/{split}"] == pytest.approx(model.last_evaluation[f"{term}/{split}"])
    assert trainer.callback_metrics["model_selection/score"] == pytest.approx(model.last_evaluation["lower_bound/val"])
    assert best_bound.best_model_path == str(tmp_path / "best_bound.ckpt")
    assert float(best_bound.best_model_score) >= model.last_evaluation["lower_bound/val"]
