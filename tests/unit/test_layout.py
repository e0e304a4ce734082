"""Dependencies point one way, and the folders show it: errors and lightning_adapter at the bottom; config/, then
components/ <- estimators/, and runs/ (a run's files know nothing of training); data/ and training/; models/ (which
know their data only as DataFacts, never the datamodule, and nothing of how a sweep runs them: stacking hands them a
function); tracking/ and callbacks/; stacking/; the entry points and their builder at the top (build, train,
step_size, evaluate, sample, figures, bench, commands/)."""

import ast

import pytest

from aevb.config.hydra_glue import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "src" / "aevb"
BASE = ("aevb.errors", "aevb.lightning_adapter")
ALLOWED = {  # what the modules of each room may import from aevb, beyond BASE
    "config": ("aevb.config",),
    "components": ("aevb.components",),
    "estimators": ("aevb.components", "aevb.estimators"),
    "paper": ("aevb.paper",),
    # a run's files and records know nothing of training: only where the files are and how they were named
    "runs": ("aevb.runs", "aevb.config"),
    "data": ("aevb.data",),
    "training": ("aevb.training", "aevb.config", "aevb.runs", "aevb.components.likelihoods"),
    "models": ("aevb.components", "aevb.estimators", "aevb.models", "aevb.data.facts", "aevb.training"),
    "tracking": ("aevb.tracking", "aevb.config", "aevb.runs"),
    "callbacks": ("aevb.callbacks", "aevb.data.batches", "aevb.runs", "aevb.tracking", "aevb.training"),
    "stacking": ("aevb.stacking", "aevb.callbacks.graceful_stop", "aevb.runs.checkpoints", "aevb.training.run_checks",
                 "aevb.training.captured_calls", "aevb.training.optim"),
}  # fmt: skip


def aevb_imports(path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    return {name for name in names if name.startswith("aevb")}


@pytest.mark.parametrize("room", sorted(ALLOWED))
def test_a_room_imports_only_from_the_rooms_below_it(room):
    modules = sorted((PACKAGE / room).glob("*.py"))
    assert modules
    for module in modules:
        outside = {name for name in aevb_imports(module) if not name.startswith((*BASE, *ALLOWED[room]))}
        assert not outside, f"{module.relative_to(PACKAGE)} imports {sorted(outside)}"


# The top level: the base every room may use, the one builder, and the entry points with what only they use
TOP_LEVEL = {"__init__", "errors", "lightning_adapter", "build", "train", "step_size", "evaluate", "sample", "figures",
             "bench", "reference_loops"}  # fmt: skip


def test_every_module_lives_in_a_room_or_is_an_entry_point():
    assert {path.stem for path in PACKAGE.glob("*.py")} == TOP_LEVEL
    folders = {path.name for path in PACKAGE.iterdir() if path.is_dir() and path.name != "__pycache__"}
    assert folders == {*ALLOWED, "commands"}  # commands/: the entry points' command lines
