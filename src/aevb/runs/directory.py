"""A run's directory and what is in it: `Run` is the one place that knows its layout, writes its files (each whole,
so a kill leaves the old file or the new one), holds the run while it trains, and reads the files back."""

import fcntl
import json
import os
import re
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from aevb.errors import RunInUse
from aevb.runs.atomic import replace_text
from aevb.runs.curves import csv_curves
from aevb.runs.legacy import in_todays_names, saved_config, todays_evaluation
from aevb.runs.results import RunResults
from aevb.runs.tensorboard_tags import logged_name

# A job's state after an invocation of aevb-train: "running" until it ends, so a job left "running"
# was killed. Re-running the same command resumes the killed and failed ones and skips the others.
FINISHED = ("finished", "resumed", "finished earlier")
# stopped: by SIGTERM or SIGINT, with last.ckpt saved then; requeued: a SLURM job pre-empted, saved and requeued
STATES = (*FINISHED, "failed", "stopped", "requeued", "running")


def read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def evaluation_order(path: Path) -> tuple:
    """How full evaluations are ranked: importance sampling first (the report's), then by estimator; the largest
    settings first (eval_test_k<k>.json, written before estimators were named, counts as importance sampling)."""
    description = path.stem.removeprefix("eval_test_")
    description = f"is_{description}" if description.startswith("k") else description
    kind = description.split("_")[0]
    return kind != "is", kind, [-int(number) for number in re.findall(r"\d+", description)]


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

    config.yaml               the resolved config; it decides what a re-run does (aevb.runs.resume)
    data_split.json           which images are in which split
    status.json               running, finished, resumed, failed (with the reason), stopped_early (EarlyStopping's
                              reason): aevb.runs.sweep's table
    metrics.json              the final evaluation; its presence means the run finished
    checkpoints/              last.ckpt (the latest state, what a re-run continues) and best.ckpt
    tensorboard/              the curves, against training samples seen (logger=tensorboard, the default)
    csv/                      the same as metrics.csv (logger=csv)
    logger_ids.json           the ids of this run's tracking-server runs (MLflow's, W&B's), for a resumed attempt
    .lock                     held by the process that trains the run (its host and pid inside), see Run.held
    eval_<split>_<estimator>[_limit<n>].json  aevb-eval's estimate of log p(x), named by its estimator's settings
                              (e.g. eval_test_is_k5000.json, eval_test_ais_c16_t500.json; eval_test_k<k>.json and
                              eval.json: before)
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

    def evaluation_file(self, split: str, estimator: str, limit: int | None = None) -> Path:
        """Where aevb-eval writes what it computed, named by the estimator's description (e.g. is_k5000): a quick
        limited one never overwrites a full one."""
        return self.directory / f"eval_{split}_{estimator}{'' if limit is None else f'_limit{limit}'}.json"

    @property
    def full_evaluations(self) -> list[Path]:
        """aevb-eval's outputs over the whole test split in `evaluation_order`; eval.json (written before outputs were
        named) last."""
        named = [path for path in self.directory.glob("eval_test_*.json") if "_limit" not in path.name]
        named.sort(key=evaluation_order)
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
            path = self.evaluation_file(results["split"], results["estimator"]["description"], results["limit"])
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

    def begin(self, cfg: DictConfig, split_record: dict, resumed_from: int | None) -> None:
        """An attempt starts: config.yaml (what a re-run reads to resume or skip it), the data split, and the state
        "running", which a kill leaves behind."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.write_config(cfg)
        self.write_split(split_record)
        self.write_status("running", resumed_from=resumed_from)

    def write_end(self, metrics: dict, again: bool) -> None:
        """An attempt ended: the state "resumed" (the run had started before) or "finished", and why it stopped early."""
        why = {"stopped_early": metrics["stopped_early"]} if "stopped_early" in metrics else {}
        self.write_status("resumed" if again else "finished", resumed_from=metrics["resumed_from"], **why)

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
        return in_todays_names(read_json(self.metrics_file))

    @property
    def evaluation(self) -> dict | None:
        """The first full test-split evaluation in `evaluation_order` (what the report and figures quote), if any."""
        evaluations = self.full_evaluations
        return todays_evaluation(read_json(evaluations[0])) if evaluations else None

    @property
    def step_size_selection(self) -> dict | None:
        return in_todays_names(read_json(self.step_size_file))

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
        aevb.runs.tensorboard_tags renames), or from metrics.csv for a run logged to CSV alone. A re-logged step keeps its
        last value."""
        if not self.tensorboard_dir.is_dir() and self.csv_file.is_file():
            return in_todays_names(csv_curves(self.csv_file))
        curves: dict[str, dict[int, float]] = {}
        for tag in self._events.Tags()["scalars"]:  # a run resumed across a renaming has a name under both tags
            curves.setdefault(logged_name(tag), {}).update({e.step: e.value for e in self._events.Scalars(tag)})
        return in_todays_names({name: sorted(points.items()) for name, points in curves.items()})
