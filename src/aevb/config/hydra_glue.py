"""Hydra glue: where the configs live, the resolvers they use, run and job names, and what Hydra knows of this job."""

import copy
import hashlib
import os
import sys
from collections.abc import Callable
from fnmatch import fnmatchcase
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from aevb.config.schema import refuse_renamed_keys
from aevb.errors import ConfigError
from aevb.lightning_adapter import silence_foreign_noise

_PACKAGED = Path(__file__).resolve().parents[1] / "conf"  # in an installed wheel
PROJECT_ROOT = Path(__file__).resolve().parents[3]  # the checkout (conf/, docs/, scripts/), when run from one
CONFIG_DIR = _PACKAGED if _PACKAGED.is_dir() else PROJECT_ROOT / "conf"
DIRECTORY_VARIABLES = ("AEVB_DATA_DIR", "AEVB_OUTPUT_DIR")  # paths.data_dir and paths.output_root, when set
# Where a run's data and files are on this machine, and what it continued from: a run copied to another machine (another
# data directory, another output root) is the same run, so these are left out of its directory's name, of the check
# that a re-run continues the same run (aevb.runs.resume) and of its exported record (aevb.runs.records). "*" is any one key.
MACHINE_KEYS = (
    "paths.root_dir",
    "paths.data_dir",
    "paths.output_root",
    "paths.output_dir",
    "data.data_dir",
    "trainer.default_root_dir",
    "callbacks.*.dirpath",
    "callbacks.*.output_dir",
    "logger",  # where each logger writes: a directory, a tracking server
    "ckpt_path",
)
# Settings that say, besides where a run is, what hardware it runs on and how it is labelled, not what it computes:
# left out of its directory's name (conf/hydra/default.yaml reads this list) and free to change when it resumes.
NOT_DEFINING_A_RUN = (
    *MACHINE_KEYS,
    "tags",
    "hparams_search",
    "optimized_metric",
    "trainer.devices",
    "trainer.accelerator",
    "trainer.strategy",
    "trainer.num_nodes",
    "trainer.enable_progress_bar",
    "model.cuda_graph",  # the same updates, replayed as a CUDA graph or run as written
)


def among(key: str, names) -> bool:
    """Whether a dotted config key is one of `names` (where "*" is any one key) or inside one: callbacks.last.dirpath
    is among ("callbacks.*.dirpath",), logger.csv.save_dir among ("logger",)."""
    parts = key.split(".")
    return any(
        len(parts) >= len(pattern) and all(fnmatchcase(part, name) for part, name in zip(parts, pattern, strict=False))
        for pattern in (name.split(".") for name in names)
    )


def machine_specific(key: str) -> bool:
    """Whether a dotted config key says where something is on this machine (MACHINE_KEYS)."""
    return among(key, MACHINE_KEYS)


def defines_no_run(key: str) -> bool:
    """Whether a dotted config key may differ between two attempts of one run (NOT_DEFINING_A_RUN)."""
    return among(key, NOT_DEFINING_A_RUN)


def without_machine_keys(config: dict, prefix: str = "") -> dict:
    """A plain config (nested dicts) without its MACHINE_KEYS, and without a section they leave empty."""
    kept = {}
    for key, value in config.items():
        if machine_specific(f"{prefix}{key}"):
            continue
        if isinstance(value, dict) and value:
            value = without_machine_keys(value, f"{prefix}{key}.")
            if not value:
                continue
        kept[key] = value
    return kept


def installed() -> bool:
    """Whether this is an installed package (a wheel: pip install), not a checkout run with uv."""
    return _PACKAGED.is_dir()


def home() -> Path:
    """Where data/ and outputs/ are unless AEVB_DATA_DIR and AEVB_OUTPUT_DIR say otherwise: the checkout the
    command runs from, or, for an installed package, the directory it is started in (never site-packages)."""
    return Path.cwd() if installed() else PROJECT_ROOT


def run_directory(ckpt_path: str) -> Path:
    """The run a checkpoint belongs to: aevb-train writes them to <run>/checkpoints/."""
    path = Path(ckpt_path).resolve()
    return path.parent.parent if path.parent.name == "checkpoints" else path.parent


OmegaConf.register_new_resolver("aevb.project_root", lambda: str(home()), replace=True)


def job_dirname(overrides: str, limit: int = 150) -> str:
    """A sweep job's directory name from its overrides, cut to `limit` characters plus a hash of the whole
    when longer: file systems allow 255 bytes a name, and a sweep with many overrides goes past that. A "/" (of a
    group override such as model/likelihood=gaussian) becomes "-", so the name stays one directory."""
    overrides = overrides.replace("/", "-")
    if len(overrides) <= limit:
        return overrides
    return f"{overrides[:limit]}-{hashlib.sha1(overrides.encode()).hexdigest()[:8]}"


OmegaConf.register_new_resolver("aevb.job_dirname", job_dirname, replace=True)
OmegaConf.register_new_resolver("aevb.keys_not_defining_a_run", lambda: list(NOT_DEFINING_A_RUN), replace=True)


def command_name(ignored_keys: list[str]) -> str:
    """A run's (or a sweep's) directory name: the overrides of its command line, sorted, so that re-running the same
    command finds the same directory and continues there. Hydra's own settings and the `ignored_keys` (where the data
    is, how many devices) are left out; "default" when nothing else is overridden.

    It reads sys.argv, the command as typed, and is resolved once per command: Hydra copies the resolved value
    into every job of a sweep (the resolver is cached), where sys.argv may be another process's.
    """
    overrides = []
    for argument in sys.argv[1:]:
        key = argument.split("=", 1)[0].lstrip("+~")
        hydras = key.split(".")[0].split("/")[0] == "hydra"
        if "=" not in argument or argument.startswith("-") or hydras or among(key, ignored_keys):
            continue
        overrides.append(argument)
    return job_dirname(",".join(sorted(overrides))) or "default"


OmegaConf.register_new_resolver("aevb.command_name", command_name, replace=True, use_cache=True)


def updated(cfg: DictConfig, changes: dict) -> DictConfig:
    """A copy of `cfg` with each dotted key of `changes` set to its value (added where missing); `cfg` stays as it is."""
    changed = copy.deepcopy(cfg)
    for key, value in changes.items():
        OmegaConf.update(changed, key, value, force_add=True)
    return changed


def command_line_keys() -> set[str]:
    """The keys this job's command line sets (e.g. trainer.max_epochs), as Hydra recorded them; none outside Hydra."""
    if not HydraConfig.initialized():
        return set()
    return {override.split("=", 1)[0].lstrip("+~") for override in HydraConfig.get().overrides.task}


def in_multirun() -> bool:
    """Whether this process runs a job of a Hydra multirun (-m)."""
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


SLURM_LAUNCHER = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"


def slurm_launcher() -> DictConfig | None:
    """The launcher's config when this job was submitted to SLURM (hydra/launcher=slurm or submitit_slurm)."""
    if not in_multirun():
        return None
    launcher = HydraConfig.get().launcher
    return launcher if launcher.get("_target_") == SLURM_LAUNCHER else None


def gpu_for_job() -> int:
    """The GPU of this job of a sweep: job k takes GPU k mod the number of GPUs (trainer=gpu_per_job)."""
    import torch  # only here: the configs stay cheap to compose

    job = HydraConfig.get().job.num if in_multirun() else 0
    return job % max(1, torch.cuda.device_count())


OmegaConf.register_new_resolver("aevb.gpu_for_job", gpu_for_job, replace=True)


def gpus_per_node(accelerator: str, devices: int) -> int | None:
    """What a SLURM job of this trainer asks for: one GPU per device on GPUs, none on CPUs (hydra/launcher=slurm)."""
    return devices if accelerator in ("gpu", "cuda") else None


OmegaConf.register_new_resolver("aevb.gpus_per_node", gpus_per_node, replace=True)


def refusing_renamed_keys(program: str, renamed: dict[str, str], command: Callable[[], object]) -> None:
    """Run a Hydra entry point after refusing, before Hydra composes, a renamed key on its command line (the message
    names the new spelling and the program exits with status 1), with a relative AEVB_DATA_DIR or AEVB_OUTPUT_DIR
    made absolute once, here: every path the run prints or saves, and every job it launches, then agree."""
    try:
        refuse_renamed_keys(sys.argv[1:], renamed)
    except ConfigError as error:
        sys.exit(f"{program}: {error}")
    absolute_directory_variables()
    silence_foreign_noise()
    command()


def absolute_directory_variables() -> None:
    """A relative AEVB_DATA_DIR or AEVB_OUTPUT_DIR made absolute, once, at start."""
    for variable in DIRECTORY_VARIABLES:
        if os.environ.get(variable):
            os.environ[variable] = str(Path(os.environ[variable]).expanduser().resolve())
