"""scripts/gpu_check.sh carries what a bare GPU machine lacks: every package that aevb imports as it loads, and what
those packages need, is in the machine's image or in the script's carried lists."""

import ast
import importlib.metadata
import re
import sys

from aevb.config.hydra_glue import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "scripts" / "gpu_check.sh"
# The top-level modules of the device tool's GPU image ('cuda', read on 2026-11-17: .library/device/KINDS.md) that
# aevb and the carried packages use; Python 3.12 there.
GPU_IMAGE = {"torch", "torchvision", "lightning", "tensorboard", "numpy", "scipy", "matplotlib", "yaml", "packaging",
             "pytest", "typing_extensions"}  # fmt: skip
# distribution names as requirements spell them -> the module they install
MODULE_OF = {"hydra-core": "hydra", "antlr4-python3-runtime": "antlr4", "pyyaml": "yaml",
             "typing-extensions": "typing_extensions"}  # fmt: skip


def carried() -> set[str]:
    text = SCRIPT.read_text()
    lists = [re.search(rf'^{name}="([^"]*)"$', text, re.MULTILINE) for name in ("PURE_PYTHON_CARRIED", "COMPILED_CARRIED")]
    assert all(lists), "gpu_check.sh names what it carries in PURE_PYTHON_CARRIED and COMPILED_CARRIED"
    return {module for found in lists for module in found.group(1).split()}


def imported_as_modules_load() -> set[str]:
    """The third-party top-level modules that the modules of src/ import at their top level (not inside a function,
    where an optional dependency such as submitit waits until it is used)."""
    names = set()
    for path in (PROJECT_ROOT / "src").rglob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {name for name in names if name not in sys.stdlib_module_names and name not in ("aevb", "hydra_plugins")}


def requirements(distribution: str) -> set[str]:
    """The modules a distribution needs in every environment (its requirements without markers)."""
    needed = set()
    for requirement in importlib.metadata.requires(distribution) or []:
        if ";" in requirement:  # an extra, or a Python or platform condition
            continue
        name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower()
        needed.add(MODULE_OF.get(name, name.replace("-", "_")))
    return needed


def test_every_package_aevb_imports_as_it_loads_is_on_the_gpu_machine_or_carried_there():
    missing = imported_as_modules_load() - GPU_IMAGE - carried()
    assert not missing, f"the GPU machine lacks {sorted(missing)}: add them to gpu_check.sh's carried lists"


def test_what_the_carried_packages_need_is_on_the_gpu_machine_or_carried_too():
    distribution_of = {module: distribution for distribution, module in MODULE_OF.items()}
    for module in carried():
        needed = requirements(distribution_of.get(module, module))
        assert needed <= GPU_IMAGE | carried(), f"{module} needs {sorted(needed - GPU_IMAGE - carried())}, which nothing carries"
