"""The commands answer --help, tab completion and a refused key before torch or Lightning is imported (each costs
seconds to import): Hydra parses the command line first, and the heavy modules are imported by the task function."""

import os
import subprocess
import sys

import pytest

# Runs a command's main() in a fresh interpreter, then prints which heavy packages were imported.
PROBE = """
import sys
sys.argv = {argv!r}
from {module} import main
try:
    main()
except SystemExit:
    pass
except Exception as error:  # under HYDRA_FULL_ERROR=1 (as in CI) a refused key raises instead of exiting
    print(type(error).__name__, error)
print("IMPORTED:", sorted(name for name in ("torch", "lightning", "tensorboard") if name in sys.modules))
"""


def run_probe(module: str, *arguments: str, env: dict | None = None) -> tuple[list[str], str]:
    """The heavy packages the command imported, and everything it printed."""
    code = PROBE.format(argv=[module, *arguments], module=module)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    line = [line for line in result.stdout.splitlines() if line.startswith("IMPORTED:")]
    assert line, result.stdout + result.stderr
    return eval(line[0].removeprefix("IMPORTED:")), result.stdout + result.stderr


def imported_by(module: str, *arguments: str, env: dict | None = None) -> list[str]:
    return run_probe(module, *arguments, env=env)[0]


@pytest.mark.parametrize("module", ["aevb.commands.train", "aevb.commands.evaluate", "aevb.commands.sample"])
def test_help_imports_no_torch(module):
    assert imported_by(module, "--help") == []


@pytest.mark.parametrize(("module", "mistyped"), [("aevb.commands.train", "model.latnt_dim=3"),
                                                  ("aevb.commands.sample", "temprature=0.5")])  # fmt: skip
@pytest.mark.parametrize("full_error", ["0", "1"])
def test_a_mistyped_key_is_refused_before_torch_is_imported(module, mistyped, full_error):
    imported, printed = run_probe(module, mistyped, env={**os.environ, "HYDRA_FULL_ERROR": full_error})
    assert imported == []
    assert mistyped.split("=")[0].split(".")[-1] in printed


def test_tab_completion_imports_no_torch():
    env = {**os.environ, "COMP_LINE": "aevb-train model.lat"}
    assert imported_by("aevb.commands.train", "-sc", "query=bash", env=env) == []


def test_importing_aevb_imports_no_torch():
    result = subprocess.run(
        [sys.executable, "-c", "import sys, aevb; print('torch' in sys.modules or 'lightning' in sys.modules)"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.stdout.strip() == "False", result.stderr
