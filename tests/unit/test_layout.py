"""Dependencies point one way: components <- estimators <- models <- the entry points; models know their data only as
DataFacts, never the datamodule, and nothing of how a sweep runs them (stacking hands them a function)."""

import ast

import pytest

from aevb.hydra_glue import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "src" / "aevb"
ALLOWED = {  # what the modules of each room may import from aevb
    "components": ("aevb.components", "aevb.errors"),
    "estimators": ("aevb.components", "aevb.estimators", "aevb.errors"),
    "models": (
        "aevb.components", "aevb.estimators", "aevb.models", "aevb.errors", "aevb.data.facts", "aevb.divergence",
        "aevb.lightning_adapter", "aevb.sample_counts", "aevb.split_averages",
    ),
    "stacking": ("aevb.stacking", "aevb.callbacks.graceful_stop", "aevb.checkpoints", "aevb.errors", "aevb.run_checks"),
    # a run's files and records know nothing of training: only where the files are and how they were named
    "runs": ("aevb.runs", "aevb.atomic", "aevb.errors", "aevb.hydra_glue", "aevb.schema", "aevb.tensorboard_tags"),
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
        outside = {name for name in aevb_imports(module) if not name.startswith(ALLOWED[room])}
        assert not outside, f"{module.relative_to(PACKAGE)} imports {sorted(outside)}"
