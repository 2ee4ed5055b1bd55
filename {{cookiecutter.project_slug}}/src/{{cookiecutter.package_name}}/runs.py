"""Run directories: new, latest, resume checks, the lock, the saved config and data assets.

A run directory holds config.yaml (the resolved config), assets/ (metadata.json and whatever
else preprocessing wrote for the model's inputs), checkpoints/, tensorboard/, train.log, and later
metrics.json and export/. Eval and export need nothing but the run directory.
"""

import contextlib
import datetime
import fnmatch
import json
import logging
import os
{%- if cookiecutter.cluster %}
import shutil
{%- endif %}
import socket
{%- if cookiecutter.cluster %}
import tempfile
{%- endif %}
from collections.abc import Iterator
from pathlib import Path

import filelock
import tensorflow as tf
from omegaconf import DictConfig, OmegaConf

from . import jsonio
from .config import Config, flatten
from .data import preprocess_data
from .data.metadata import METADATA_FILE, Metadata

log = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"
RESULT_FILE = "result.json"  # what train returned, with its start and end times
LOCK_FILE = "lock"
LATEST = "latest"  # runs_root/latest and runs_root/<model>-<data>/latest name the newest run
# What a resume may change: when to log, validate and save, where things are, the devices.
RESUMABLE_KEYS = (
    "run_dir",
    "runs_root",
    "train.resume",
    "train.log_every_steps",
    "train.histogram_every_steps",
    "train.checkpoint_every_steps",
    "train.validate_every_steps",
    "train.validation_steps",
    "train.keep_checkpoints",
    "train.patience",
    "train.jit_compile",
    "train.steps_per_loop",
    "data.records_dir",
    "distribute.*",
    "logger.*",
    "callbacks",
)
ASSETS_DIR = "assets"
CHECKPOINTS_DIR = "checkpoints"


def save_config(cfg: DictConfig, run_dir: Path) -> None:
    """Writes the resolved config as run_dir/config.yaml, atomically."""
    jsonio.write_text(run_dir / CONFIG_FILE, OmegaConf.to_yaml(cfg, resolve=True))


def load_config(run_dir: str | Path) -> DictConfig:
    """Loads a run's resolved training config, checked against the schema."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist: run_dir={run_dir} is not a run directory. "
            "Train first, or give the folder of a run (e.g. run_dir=runs/<model>-<data>/<date>)."
        )
    return OmegaConf.merge(OmegaConf.structured(Config), OmegaConf.load(path))


# === Which run ===


def resolve_run_dir(run_dir: str | Path, runs_root: str | Path = "runs") -> Path:
    """The run directory named by `run_dir`: a path, a `latest` pointer file, or `latest`
    (the newest run under runs_root)."""
    path = Path(runs_root) / LATEST if str(run_dir) == LATEST else Path(run_dir)
    if path.is_file():
        target = (path.parent / path.read_text(encoding="utf-8").strip()).resolve()
        log.info("%s names %s", path, target)
        return target
    if str(run_dir) == LATEST:
        raise FileNotFoundError(
            f"run_dir=latest: {path} does not exist, so there is no run yet. Train first, or "
            "give run_dir=DIR (runs_root=DIR for runs kept elsewhere)."
        )
    return path


def new_run_dir(runs_root: str | Path, group: str) -> Path:
    """Creates runs_root/group/<date>_<time> (a suffix when two runs start in one second)."""
    parent = Path(runs_root) / group
    parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    for attempt in range(1, 1000):
        path = parent / (stamp if attempt == 1 else f"{stamp}-{attempt}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"Could not create a new run folder in {parent}.")


def point_latest_at(run_dir: Path, runs_root: str | Path) -> None:
    """Writes the `latest` pointers: runs_root/latest and, beside the run, its group's."""
    run_dir = run_dir.resolve()
    for pointer in {Path(runs_root).resolve() / LATEST, run_dir.parent / LATEST}:
        if pointer.parent in run_dir.parents:
            pointer.parent.mkdir(parents=True, exist_ok=True)
            jsonio.write_text(pointer, os.path.relpath(run_dir, pointer.parent) + "\n")


def config_differences(saved: DictConfig, new: DictConfig) -> list[tuple[str, object, object]]:
    """(key, saved value, new value) of every key that a resume may not change.

    A resume may raise train.epochs and change what only decides when to log, validate or
    save, where the run and the records are, and the distribution strategy.
    """
    old_values, new_values = flat(saved), flat(new)
    differences = []
    for key in sorted(old_values.keys() | new_values.keys()):
        old, value = old_values.get(key, "<absent>"), new_values.get(key, "<absent>")
        if old == value or any(fnmatch.fnmatchcase(key, free) for free in RESUMABLE_KEYS):
            continue
        if key == "train.epochs" and isinstance(old, int) and value > old:
            continue
        differences.append((key, old, value))
    return differences


def flat(cfg: DictConfig) -> dict[str, object]:
    """{"train.learning_rate": 0.001, ...}: every leaf of a config, by its dotted key."""
    return flatten(OmegaConf.to_container(cfg, resolve=True))


# === Locks ===


class RunLock:
    """An exclusive lock on a run directory: an OS lock (filelock) on run_dir/lock, which also
    names its holder (host, PID, start time) for the message a second trainer gets.

    Taken before anything is written into the run, released at exit. The operating system
    releases it when its process ends, however it ends (kill -9 included), so an abandoned
    lock never blocks a run.
    """

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK_FILE
        self.lock = filelock.FileLock(self.path, timeout=0)
        self.owner = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started": datetime.datetime.now().isoformat(timespec="seconds"),
        }

    def __enter__(self) -> "RunLock":
        try:
            self.lock.acquire()
        except filelock.Timeout:
            holder = self.read_holder()
            raise RuntimeError(
                f"{self.path.parent} is in use by another training (PID {holder.get('pid')} "
                f"on {holder.get('host')}, since {holder.get('started')}). Wait for it to end, "
                "or train into another run_dir."
            ) from None
        self.path.write_text(json.dumps(self.owner), encoding="utf-8")  # the lock is the inode
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.path.unlink(missing_ok=True)  # while still held: no one else has it then
        self.lock.release()

    def read_holder(self) -> dict:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
{%- if cookiecutter.cluster %}


@contextlib.contextmanager
def worker_dir(run_dir: str | Path, chief: bool) -> Iterator[Path]:
    """Where this process writes: the run directory for the chief (and for any single-process
    run), else a temporary directory that is deleted at the end (multi-worker saves need every
    worker to write, but only the chief's files are kept)."""
    if chief:
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        yield Path(run_dir)
        return
    path = Path(tempfile.mkdtemp(prefix="worker-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
{%- endif %}


def assets_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / ASSETS_DIR


def check_assets(records_dir: str, metadata: Metadata, run_dir: Path) -> None:
    """Refuses to resume a run on records of other data: that would silently change the
    meaning of the inputs. Writes nothing."""
    saved = assets_dir(run_dir) / METADATA_FILE
    if saved.exists() and load_metadata(run_dir).fingerprint != metadata.fingerprint:
        raise ValueError(
            f"{run_dir} was trained on other data (its assets/metadata.json differs from "
            f"{records_dir}): the data files changed. Train a new run (leave out run_dir), "
            "or restore the data."
        )


def start_run(cfg: DictConfig, records_dir: str, metadata: Metadata) -> None:
    """Writes what a run holds before it trains: assets/, config.yaml, and runs/latest."""
    run_dir = Path(cfg.run_dir)
    check_assets(records_dir, metadata, run_dir)
    copy_assets(records_dir, run_dir)
    save_config(cfg, run_dir)
    point_latest_at(run_dir, cfg.runs_root)


def copy_assets(records_dir: str, run_dir: Path) -> None:
    """Copies metadata.json (and the other assets of preprocessing) into a new run; the
    records stay."""
    target = assets_dir(run_dir)
    if (target / METADATA_FILE).exists():
        return
    target.mkdir(parents=True, exist_ok=True)
    for name in tf.io.gfile.listdir(records_dir):
        source = os.path.join(records_dir, name)
        if not name.endswith((".tfrecord", ".tmp")) and not tf.io.gfile.isdir(source):
            tf.io.gfile.copy(source, str(target / name), overwrite=True)


def load_metadata(run_dir: str | Path) -> Metadata:
    """Returns the metadata of the data the run was trained on."""
    path = assets_dir(run_dir) / METADATA_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: train into {run_dir} first.")
    return Metadata.read(path)


def checkpoints_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / CHECKPOINTS_DIR


def run_records(
    cfg: DictConfig, metadata: Metadata, test_path: str | None = None
) -> tuple[str, Metadata]:
    """(records dir, their metadata) of the data a run was trained on.

    They are found by the run's data fingerprint, without reading the data files again, so
    eval and export work after the data folder has moved. Only when they are gone are they
    written again from the data config. With `test_path`, the records of that other test data,
    preprocessed with the run's data config.
    """
    data_cfg = cfg.data
    if test_path is None:
        records_dir = preprocess_data.records_path(data_cfg, cfg.seed, metadata.fingerprint)
        records = preprocess_data.read_metadata(records_dir)
        if records is not None and records.fingerprint == metadata.fingerprint:
            return records_dir, records
        log.info("The records of this run are gone from %s; writing them again", records_dir)
    else:
        data_cfg = OmegaConf.merge(data_cfg, {"test_path": test_path})
    return preprocess_data.ensure_preprocessed(data_cfg, cfg.seed)


def choose_run_dir(cfg: DictConfig) -> tuple[Path, bool]:
    """(run directory, whether it is a run to resume); creates the folder of a new run."""
    if cfg.train.resume:
        run_dir = resolve_run_dir(cfg.train.resume, cfg.runs_root)
        if cfg.run_dir and Path(cfg.run_dir).resolve() != run_dir.resolve():
            raise ValueError(
                f"train.resume={cfg.train.resume} and run_dir={cfg.run_dir} name two runs; "
                "give one of them."
            )
        if not (run_dir / CONFIG_FILE).exists():
            raise FileNotFoundError(
                f"train.resume={cfg.train.resume}: {run_dir} is not a run (no "
                f"{CONFIG_FILE}). Give the folder of a run, e.g. runs/<model>-<data>/<date>."
            )
        return run_dir, True
    if cfg.run_dir:
        run_dir = Path(cfg.run_dir)
        if run_dir.exists() and not run_dir.is_dir():
            raise NotADirectoryError(f"run_dir={run_dir} is a file; give a folder.")
        run_dir.mkdir(parents=True, exist_ok=True)
        return run_dir, (run_dir / CONFIG_FILE).exists()
{%- if cookiecutter.cluster %}
    if cfg.distribute.name == "multi_worker":
        raise ValueError(
            "distribute=multi_worker needs run_dir=DIR, one folder for every worker "
            "(scripts/launch_local.py picks one when it is not given)."
        )
{%- endif %}
    return new_run_dir(cfg.runs_root, f"{cfg.model.name}-{cfg.data.name}"), False


def check_resumable(cfg: DictConfig, run_dir: Path) -> None:
    """Refuses, naming every key, a config that differs from the run's in more than a
    resume may change (RESUMABLE_KEYS; train.epochs may grow)."""
    differences = config_differences(load_config(run_dir), cfg)
    if differences:
        listed = "\n".join(
            f"  {key}: {old!r} in the run, {new!r} now" for key, old, new in differences
        )
        raise ValueError(
            f"{run_dir} was trained with another config, so it cannot be resumed with this "
            f"one:\n{listed}\nTrain a new run instead (leave out run_dir and train.resume), "
            f"or start a new run from its weights with train.init_from={run_dir}."
        )


def finished_result(cfg: DictConfig, run_dir: Path) -> dict | None:
    """The saved result of a run that has nothing left to train (its latest checkpoint is at
    train.epochs, or early stopping ended it), else None. Reads, writes nothing."""
    latest = tf.train.latest_checkpoint(str(checkpoints_dir(run_dir)))
    if latest is None:
        return None
    reader = tf.train.load_checkpoint(latest)
    epochs = int(reader.get_tensor("epoch/.ATTRIBUTES/VARIABLE_VALUE"))
    waited = int(reader.get_tensor("epochs_without_improvement/.ATTRIBUTES/VARIABLE_VALUE"))
    stopped = bool(cfg.train.patience) and waited >= cfg.train.patience
    if epochs < cfg.train.epochs and not stopped:
        return None
    log.info(
        "%s has trained %d epochs%s: nothing to do. Raise train.epochs to train on, or "
        "leave out run_dir for a new run.",
        run_dir,
        epochs,
        " and stopped early" if stopped else f" of train.epochs={cfg.train.epochs}",
    )
    result_file = run_dir / RESULT_FILE
    saved = json.loads(result_file.read_text()) if result_file.exists() else {}
    return {**saved, "epochs": epochs, "run_dir": str(run_dir), "checkpoint": latest}


@contextlib.contextmanager
def removed_when_left_empty(run_dir: Path) -> Iterator[None]:
    """Removes the run folder when training failed before writing anything into it."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(OSError):
            if not any(path.name != LOCK_FILE for path in run_dir.iterdir()):
                (run_dir / LOCK_FILE).unlink(missing_ok=True)
                run_dir.rmdir()
        raise
