"""A run's directory and what is in it: `Run` is the one place that knows its layout, writes its files (each whole,
so a kill leaves the old file or the new one) and reads them back; a run is exported as a compact record
(docs/runs/*.json) that the figures of curves and the results report read in its place."""

import csv
import fcntl
import json
import os
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy
from hydra.utils import get_class
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from aevb.atomic import replace_text
from aevb.errors import RunInUse
from aevb.hydra_glue import without_machine_keys
from aevb.schema import RENAMED_KEYS
from aevb.tensorboard_tags import logged_name

# A job's state after an invocation of aevb-train: "running" until it ends, so a job left "running"
# was killed. Re-running the same command resumes the killed and failed ones and skips the others.
FINISHED = ("finished", "resumed", "finished earlier")
# stopped: by SIGTERM or SIGINT, with last.ckpt saved then; requeued: a SLURM job pre-empted, saved and requeued
STATES = (*FINISHED, "failed", "stopped", "requeued", "running")


# Where classes lived before the layout of components/, estimators/ and models/: a saved config naming the old
# place is read as naming the new one, so runs started before the move resume, evaluate and draw as before.
MOVED_MODULES = {
    "aevb.models.distributions": "aevb.components.distributions",
    "aevb.models.likelihoods": "aevb.components.likelihoods",
    "aevb.models.networks": "aevb.components.networks",
    "aevb.models.elbo": "aevb.estimators.sgvb",
    "aevb.models.marginal_likelihood": "aevb.estimators.marginal_likelihood",
    "aevb.models.hmc": "aevb.estimators.hmc",
    "aevb.models.density_estimation": "aevb.estimators.density_estimation",
}
STANDARD_NORMAL_PRIOR = {"_target_": "aevb.components.priors.StandardNormal", "_partial_": True}


def saved_config(config: DictConfig | dict) -> DictConfig:
    """A run's saved config in today's spelling: moved targets and renamed keys (aevb.schema.RENAMED_KEYS) renamed,
    and the prior of runs that predate model.prior (all were N(0, I)) written out."""

    def renamed(node):
        if isinstance(node, dict):
            node = {key: renamed(value) for key, value in node.items()}
            target = node.get("_target_")
            if isinstance(target, str) and target.rpartition(".")[0] in MOVED_MODULES:
                module, _, name = target.rpartition(".")
                node["_target_"] = f"{MOVED_MODULES[module]}.{name}"
            return node
        if isinstance(node, list):
            return [renamed(value) for value in node]
        return node

    plain = renamed(OmegaConf.to_container(config) if isinstance(config, DictConfig) else config)
    for old, new in RENAMED_KEYS.items():
        *parents, old_key = old.split(".")
        node = plain
        for parent in parents:
            node = node.get(parent) if isinstance(node, dict) else None
        if isinstance(node, dict) and old_key in node:
            node[new.rsplit(".", 1)[-1]] = node.pop(old_key)
    if isinstance(plain.get("model"), dict) and "prior" not in plain["model"]:
        plain["model"]["prior"] = dict(STANDARD_NORMAL_PRIOR)
    return OmegaConf.create(plain)


EVALUATED_SPLITS = ("train", "val", "test")  # a record keeps the curves of evaluations, "<term>/<split>"


class RunResults:
    """What the figures and the results report read of a run, from a run directory (`Run`) or from its exported
    record (`RunRecord`): the config, the final metrics, aevb-eval's estimate and the curves."""

    name: str
    config: DictConfig
    train_size: int | None  # N_train, the number of training images
    metrics: dict | None  # metrics.json; None while the run is unfinished
    evaluation: dict | None  # aevb-eval's full test-split estimate with the largest k, if any
    step_size_selection: dict | None  # each candidate step size's probe score and the winner (aevb.step_size), if any

    def curves(self) -> dict[str, list[tuple[int, float]]]:
        """{tag: [(training samples seen, value), ...]} of every scalar logged."""
        raise NotImplementedError

    @property
    def dataset(self) -> str:
        """The dataset's short name, e.g. `mnist`: the `name` of the run's datamodule class."""
        return get_class(self.config.data._target_).name

    @property
    def algorithm(self) -> str:
        """The training algorithm's name, e.g. `AEVB` or `wake-sleep`: the `algorithm` of the run's model class."""
        return get_class(self.config.model._target_).algorithm

    @property
    def latent_dim(self) -> int:
        return int(self.config.model.latent_dim)

    @property
    def seed(self) -> int:
        return int(self.config.seed)

    @property
    def tags(self) -> list[str]:
        """The labels the run was given (`tags=[...]`); none for a run that predates them."""
        return list(self.config.get("tags") or [])

    @property
    def evaluates_whole_splits(self) -> bool:
        """Trained on the whole training split and evaluated on whole splits (as Figure 2 is; Figure 3 is not)."""
        data = self.config.data
        return data.get("train_limit") is None and data.get("eval_limit") is None

    @property
    def finished(self) -> bool:
        return self.metrics is not None

    def curve(self, tag: str) -> list[tuple[int, float]]:
        """(training samples seen, value) of a logged scalar, e.g. lower_bound/test; [] if never logged."""
        return self.curves().get(tag, [])

    def value_at(self, tag: str, samples: int) -> float | None:
        """The value logged at exactly `samples` training samples, if there was an evaluation there."""
        return dict(self.curve(tag)).get(samples)

    def value_near(self, tag: str, samples: float, log_x: bool = True) -> float | None:
        """The curve read at `samples`, interpolated between the evaluations on either side (in log samples for a
        log-spaced schedule); None outside the curve."""
        return interpolate(self.curve(tag), samples, log_x)


def interpolate(points, x: float, log_x: bool = True) -> float | None:
    """Linear interpolation of sorted (x, y) points at x (in log10 x if log_x); None outside their range."""
    points = list(points)
    if not points or not points[0][0] <= x <= points[-1][0]:
        return None
    xs, ys = zip(*points, strict=True)
    scale = numpy.log10 if log_x else numpy.asarray
    return float(numpy.interp(scale(x), scale(xs), ys))


def csv_curves(path: Path) -> dict[str, list[tuple[int, float]]]:
    """The curves of a CSV logger's metrics.csv: a column per metric, a row per logging step (empty where a metric
    was not logged at that step)."""
    curves: dict[str, dict[int, float]] = {}
    with path.open(newline="") as file:
        for row in csv.DictReader(file):
            step = int(float(row.pop("step")))
            for tag, value in row.items():
                if value not in ("", None):
                    curves.setdefault(tag, {})[step] = float(value)
    return {tag: sorted(points.items()) for tag, points in curves.items()}


def read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def locked_by_another(file, waiting_for: str | None, patience_s: float = 60.0) -> str | None:
    """Take the lock on `file`: None once this process holds it, else the line the holder wrote (its host and pid).
    A holder whose line names `waiting_for` (this SLURM job's own earlier run) is waited for, up to `patience_s`."""
    deadline = time.monotonic() + patience_s
    while True:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return None
        except BlockingIOError:
            file.seek(0)
            holder = file.read().strip() or "another process"
            if waiting_for is None or f"({waiting_for})" not in holder or time.monotonic() > deadline:
                return holder
            time.sleep(0.5)


@dataclass(frozen=True)
class Run(RunResults):
    """One run directory of aevb-train (a single run, or one job of a sweep):

    config.yaml               the resolved config; it decides what a re-run does (aevb.resume)
    data_split.json           which images are in which split
    status.json               running, finished, resumed, failed (with the reason), stopped_early (EarlyStopping's
                              reason): aevb.sweep's table
    metrics.json              the final evaluation; its presence means the run finished
    checkpoints/              last.ckpt (the latest state, what a re-run continues) and best.ckpt
    tensorboard/              the curves, against training samples seen (logger=tensorboard, the default)
    csv/                      the same as metrics.csv (logger=csv)
    logger_ids.json           the ids a tracking server gave this run (MLflow's run id), for a resumed attempt
    .lock                     held by the process that trains the run (its host and pid inside), see Run.held
    eval_<split>_k<k>[_limit<n>].json   aevb-eval's estimate of log p(x), named by what it computed (eval.json: before)
    step_size_selection.json  the probe's scores and winner; step_size_probe/lr=<c>/ holds one run per candidate
    """

    directory: Path

    # The layout
    @property
    def config_file(self) -> Path:
        return self.directory / "config.yaml"

    @property
    def split_file(self) -> Path:
        return self.directory / "data_split.json"

    @property
    def status_file(self) -> Path:
        return self.directory / "status.json"

    @property
    def metrics_file(self) -> Path:
        return self.directory / "metrics.json"

    @property
    def checkpoint_dir(self) -> Path:
        return self.directory / "checkpoints"

    @property
    def checkpoint(self) -> Path:
        """last.ckpt: the latest state, which a re-run of the command continues from."""
        return self.checkpoint_dir / "last.ckpt"

    @property
    def tensorboard_dir(self) -> Path:
        return self.directory / "tensorboard"

    @property
    def lock_file(self) -> Path:
        return self.directory / ".lock"

    @property
    def csv_file(self) -> Path:
        return self.directory / "csv" / "metrics.csv"

    @property
    def logger_ids_file(self) -> Path:
        return self.directory / "logger_ids.json"

    def evaluation_file(self, split: str, importance_samples: int, limit: int | None = None) -> Path:
        """Where aevb-eval writes what it computed: a quick limited one never overwrites a full one."""
        return self.directory / f"eval_{split}_k{importance_samples}{'' if limit is None else f'_limit{limit}'}.json"

    @property
    def full_evaluations(self) -> list[Path]:
        """aevb-eval's outputs over the whole test split, the largest k first; eval.json (written before outputs were
        named) last."""
        named = [path for path in self.directory.glob("eval_test_k*.json") if "_limit" not in path.name]
        named.sort(key=lambda path: -int(path.stem.removeprefix("eval_test_k")))
        return [*named, *([self.directory / "eval.json"] if (self.directory / "eval.json").is_file() else [])]

    @property
    def step_size_file(self) -> Path:
        return self.directory / "step_size_selection.json"

    @property
    def probe_dir(self) -> Path:
        return self.directory / "step_size_probe"

    def probe_run(self, lr: float) -> "Run":
        """The step-size probe's run of one candidate."""
        return Run(self.probe_dir / f"lr={lr:g}")

    # Writing: each file replaced whole
    def write_config(self, cfg: DictConfig) -> None:
        replace_text(self.config_file, OmegaConf.to_yaml(cfg, resolve=True))

    def write_split(self, record: dict) -> None:
        replace_text(self.split_file, json.dumps(record))

    def write_metrics(self, metrics: dict) -> None:
        replace_text(self.metrics_file, json.dumps(metrics, indent=2))

    def write_evaluation(self, results: dict, path: Path | None = None) -> Path:
        """The file named by what `results` computed (or `path`, elsewhere), written whole; returns where it went."""
        if path is None:
            k = results["log_marginal_likelihood"]["num_importance_samples"]
            path = self.evaluation_file(results["split"], k, results["limit"])
        path = Path(path)
        replace_text(path, json.dumps(results, indent=2))
        return path

    def write_logger_ids(self, ids: dict) -> None:
        replace_text(self.logger_ids_file, json.dumps(ids, indent=2))

    def write_step_size_selection(self, record: dict) -> None:
        replace_text(self.step_size_file, json.dumps(record, indent=2))

    @rank_zero_only
    def write_status(self, state: str, **details) -> None:
        if state not in STATES:
            raise ValueError(f"unknown job state {state!r}; one of {STATES}")
        replace_text(self.status_file, json.dumps({"state": state, **details}, indent=2))

    @contextmanager
    def held(self):
        """This process's hold on the run while it trains: a second process is refused (RunInUse, naming the holder)
        instead of writing the same files. The hold is the kernel's lock on .lock (flock), so a process that dies, even
        by SIGKILL, lets go of it, and the next command takes the run over; the holder's host and pid are only for the
        message. On a network file system flock works where the file system supports it (NFSv4 and Lustre do).
        A requeued SLURM job whose predecessor (the same job id) still holds the run waits up to a minute for it to exit."""
        self.directory.mkdir(parents=True, exist_ok=True)
        slurm_job = f"SLURM job {os.environ['SLURM_JOB_ID']}" if os.environ.get("SLURM_JOB_ID") else None
        with self.lock_file.open("a+") as file:
            holder = locked_by_another(file, waiting_for=slurm_job)
            if holder is not None:
                raise RunInUse(
                    f"{self.directory} is in use by {holder}, which is training it; wait for it to end, stop it (kill "
                    "<pid> on that host: it saves last.ckpt), or give this command another directory "
                    "(hydra.run.dir=..., hydra.sweep.dir=... for -m)"
                ) from None
            file.seek(0)
            file.truncate()
            job = f" ({slurm_job})" if slurm_job else ""
            file.write(f"pid {os.getpid()} on {socket.gethostname()}{job} (since {time.strftime('%Y-%m-%d %H:%M:%S')})\n")
            file.flush()
            try:
                yield
            finally:
                fcntl.flock(file, fcntl.LOCK_UN)

    # Reading
    @property
    def name(self) -> str:
        return f"{self.directory.parent.name}/{self.directory.name}"

    @property
    def started(self) -> bool:
        return self.config_file.is_file()

    @cached_property
    def config(self) -> DictConfig:
        return saved_config(OmegaConf.load(self.config_file))

    @property
    def split_record(self) -> dict | None:
        """data_split.json: the dataset's variant, each split's size and indices (written as training starts)."""
        return read_json(self.split_file)

    @property
    def train_size(self) -> int | None:
        """From data_split.json, else data.train_limit; None if neither says."""
        split = self.split_record
        return split["sizes"]["train"] if split is not None else self.config.data.get("train_limit")

    @property
    def status(self) -> dict:
        return read_json(self.status_file) or {"state": "not started"}

    @property
    def metrics(self) -> dict | None:
        return read_json(self.metrics_file)

    @property
    def evaluation(self) -> dict | None:
        """The full test-split evaluation with the largest k (what the report and figures quote), if any."""
        evaluations = self.full_evaluations
        if not evaluations:
            return None
        evaluation = read_json(evaluations[0])
        if "log_likelihood" in evaluation:  # written before the estimate of log p(x) had a name of its own
            evaluation["log_marginal_likelihood"] = evaluation.pop("log_likelihood")
        return evaluation

    @property
    def step_size_selection(self) -> dict | None:
        return read_json(self.step_size_file)

    @property
    def logger_ids(self) -> dict:
        return read_json(self.logger_ids_file) or {}

    @cached_property
    def _events(self) -> EventAccumulator:
        events = EventAccumulator(str(self.tensorboard_dir), size_guidance={"scalars": 0, "images": 1})
        events.Reload()
        return events

    def curves(self) -> dict[str, list[tuple[int, float]]]:
        """Every logged curve by its logged name, against training samples: from TensorBoard's events (whose tags
        aevb.tensorboard_tags renames), or from metrics.csv for a run logged to CSV alone. A re-logged step keeps its
        last value."""
        if not self.tensorboard_dir.is_dir() and self.csv_file.is_file():
            return csv_curves(self.csv_file)
        curves: dict[str, dict[int, float]] = {}
        for tag in self._events.Tags()["scalars"]:  # a run resumed across a renaming has a name under both tags
            curves.setdefault(logged_name(tag), {}).update({e.step: e.value for e in self._events.Scalars(tag)})
        return {name: sorted(points.items()) for name, points in curves.items()}

    def record(self) -> dict:
        """The run as plain values (config, metrics, estimate, step-size choice, curves): what `RunRecord` reads."""
        config = without_machine_keys(OmegaConf.to_container(self.config, resolve=True))
        metrics = None if self.metrics is None else {k: v for k, v in self.metrics.items() if k != "checkpoints"}
        curves = {tag: [[step, round(value, 4)] for step, value in points]
                  for tag, points in self.curves().items() if tag.rpartition("/")[2] in EVALUATED_SPLITS}  # fmt: skip
        return {
            "name": self.name,
            "train_size": self.train_size,
            "config": config,
            "metrics": metrics,
            "evaluation": None if self.evaluation is None else {k: v for k, v in self.evaluation.items() if k != "checkpoint"},
            "step_size_selection": self.step_size_selection,
            "curves": curves,
        }


@dataclass(frozen=True)
class RunRecord(RunResults):
    """A run as exported by `Run.record` to a JSON file (docs/runs/): everything the figures of curves and the
    results report need, without checkpoints or event files."""

    path: Path

    @cached_property
    def _record(self) -> dict:
        return json.loads(self.path.read_text())

    @property
    def name(self) -> str:
        return self._record["name"]

    @cached_property
    def config(self) -> DictConfig:
        return saved_config(self._record["config"])

    @property
    def train_size(self) -> int | None:
        return self._record["train_size"]

    @property
    def metrics(self) -> dict | None:
        return self._record["metrics"]

    @property
    def evaluation(self) -> dict | None:
        return self._record["evaluation"]

    @property
    def step_size_selection(self) -> dict | None:
        return self._record["step_size_selection"]

    @property
    def checkpoint(self) -> Path:
        return self.path.with_suffix(".ckpt")  # never exported: figures that need weights are skipped

    def curves(self) -> dict[str, list[tuple[int, float]]]:
        return {tag: [(int(step), value) for step, value in points] for tag, points in self._record["curves"].items()}


def export_records(runs: list[Run], out_dir: Path) -> list[Path]:
    """Write each run's record to <out_dir>/<sweep>/<job>.json, replacing what was there."""
    return [write_record(run.record(), out_dir / f"{run.name}.json") for run in runs]


def write_record(record: dict, path: Path) -> Path:
    """A run's record (`Run.record`) written whole to `path`, as `RunRecord` reads it."""
    replace_text(path, json.dumps(record, indent=1) + "\n")
    return path


def find_records(directory: Path) -> list[RunRecord]:
    """Every exported run record under `directory`, ordered as find_runs orders runs."""
    return sort_runs([RunRecord(path) for path in sorted(Path(directory).rglob("*.json"))])


def sort_runs(runs: list) -> list:
    return sorted(runs, key=lambda run: (run.dataset, run.latent_dim, run.algorithm, run.name))


def find_runs(*directories: Path | str) -> list[Run]:
    """Every run in the given run or sweep directories, ordered by dataset, latent size and algorithm."""
    runs = []
    for directory in map(Path, directories):
        if not directory.is_dir():
            raise FileNotFoundError(
                f"{directory.resolve()} is not a directory; pass a run or sweep directory written by aevb-train"
            )
        is_run = (directory / "config.yaml").is_file()
        candidates = [directory] if is_run else sorted(p.parent for p in directory.glob("*/config.yaml"))
        runs += [Run(path) for path in candidates if (path / "tensorboard").is_dir()]
    return sort_runs(runs)
