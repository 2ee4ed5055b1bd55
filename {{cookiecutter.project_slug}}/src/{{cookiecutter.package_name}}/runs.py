"""Run folders: a new one per run, `latest`, resume only with an equal config, the lock. A run
holds config.yaml, assets/, checkpoints/, tensorboard/, train.log, result.json, eval's files."""

import contextlib
import datetime
import fnmatch
import itertools
import logging
import os
import platform
import shutil
{%- if cookiecutter.cluster %}
import tempfile
{%- endif %}
from collections.abc import Iterator, Sequence
from pathlib import Path

import filelock
import tensorflow as tf
from omegaconf import DictConfig, OmegaConf

from . import jsonio
from .config import BOOKKEEPING, Config, flatten
from .data import preprocess_data
from .data.metadata import METADATA_FILE, Metadata

log = logging.getLogger(__name__)

CONFIG_FILE, RESULT_FILE, LOCK_FILE, LATEST = "config.yaml", "result.json", "lock", "latest"
# What a resume may change (train.epochs may also grow): what changes nothing that is learned.
RESUMABLE_KEYS = (*BOOKKEEPING, "train.jit_compile", "train.steps_per_loop")


def assets_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "assets"


def checkpoints_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


def latest_checkpoint(run_dir: str | Path) -> str | None:
    """The path of a run's latest complete checkpoint (the `checkpoint` index names it)."""
    return tf.train.latest_checkpoint(str(checkpoints_dir(run_dir)))


def save_config(cfg: DictConfig, run_dir: Path) -> None:
    jsonio.write_text(run_dir / CONFIG_FILE, OmegaConf.to_yaml(cfg, resolve=True))


def load_config(run_dir: str | Path) -> DictConfig:
    """A run's resolved training config, checked against the schema."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: {run_dir} is not a run directory.")
    return OmegaConf.merge(OmegaConf.structured(Config), OmegaConf.load(path))


def load_metadata(run_dir: str | Path) -> Metadata:
    return Metadata.read(assets_dir(run_dir) / METADATA_FILE)


def resolve_run_dir(run_dir: str | Path, runs_root: str | Path = "runs") -> Path:
    """The run folder that `run_dir` names: itself, or what a `latest` pointer names."""
    path = Path(runs_root) / LATEST if str(run_dir) == LATEST else Path(run_dir)
    if path.is_file():
        return (path.parent / path.read_text(encoding="utf-8").strip()).resolve()
    if str(run_dir) == LATEST:
        raise FileNotFoundError(
            f"run_dir=latest: {path} does not exist, so there is no run yet. Train first, or "
            "give run_dir=DIR (runs_root=DIR for runs kept elsewhere)."
        )
    return path


def choose_run_dir(cfg: DictConfig) -> tuple[Path, bool]:
    """(run folder, whether to resume it); makes runs_root/<model>-<data>/<date>_<time>/."""
    if cfg.train.resume:  # wins over run_dir
        run_dir = resolve_run_dir(cfg.train.resume, cfg.runs_root)
        if not (run_dir / CONFIG_FILE).exists():
            raise FileNotFoundError(f"train.resume: {run_dir} is not a run (no {CONFIG_FILE}).")
        return run_dir, True
    if cfg.run_dir:  # a file there: FileExistsError, naming it
        Path(cfg.run_dir).mkdir(parents=True, exist_ok=True)
        return Path(cfg.run_dir), latest_checkpoint(cfg.run_dir) is not None
{%- if cookiecutter.cluster %}
    if cfg.distribute.name == "multi_worker":
        raise ValueError(
            "distribute=multi_worker needs run_dir=DIR, one folder for every worker "
            "(scripts/launch_local.py picks one when it is not given)."
        )
{%- endif %}
    group = Path(cfg.runs_root) / f"{cfg.model.name}-{cfg.data.name}"
    stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    for number in itertools.count(1):  # -2, -3, ... for runs that start in the same second
        run_dir = group / (stamp if number == 1 else f"{stamp}-{number}")
        with contextlib.suppress(FileExistsError):
            run_dir.mkdir(parents=True)
            return run_dir, False


def resumed_config(cfg: DictConfig, overrides: Sequence[str]) -> DictConfig:
    """For a resume (train.resume, or a run_dir with a checkpoint): the run's config.yaml with the
    keys of `overrides` (key=value: the command line's) from cfg, for check_resumable. Else cfg."""
    run_dir = resolve_run_dir(cfg.train.resume, cfg.runs_root) if cfg.train.resume else cfg.run_dir
    if not run_dir or not latest_checkpoint(run_dir):
        return cfg  # a new run, or choose_run_dir says what is wrong
    resumed = load_config(run_dir)
    for key in (override.split("=", 1)[0].lstrip("+~") for override in overrides):
        if key.startswith("hydra."):
            continue
        value, saved = OmegaConf.select(cfg, key, default=KeyError), OmegaConf.select(resumed, key)
        if value is KeyError:  # experiment=..., hparams_search=...: compare all of cfg
            return cfg
        # data=csv for a run of data=csv: the run's own data config, not the file's defaults
        if not (isinstance(value, DictConfig) and value.get("name") == saved.get("name")):
            OmegaConf.update(resumed, key, value, merge=False)
    return resumed


def config_differences(saved: DictConfig, new: DictConfig) -> list[tuple[str, object, object]]:
    """(key, saved value, new value) of every key that a resume may not change."""
    old_values = flatten(OmegaConf.to_container(saved, resolve=True))
    new_values = flatten(OmegaConf.to_container(new, resolve=True))
    differences = []
    for key in sorted(old_values.keys() | new_values.keys()):
        old, value = old_values.get(key, "<absent>"), new_values.get(key, "<absent>")
        free = any(fnmatch.fnmatchcase(key, pattern) for pattern in RESUMABLE_KEYS)
        grown = key == "train.epochs" and isinstance(old, int) and value > old
        if old != value and not free and not grown:
            differences.append((key, old, value))
    return differences


def check_resumable(cfg: DictConfig, run_dir: Path) -> None:
    """Refuses, naming each key, a config that differs from the run's outside RESUMABLE_KEYS."""
    changes = config_differences(load_config(run_dir), cfg)
    listed = "".join(f"\n  {key}: {old!r} in the run, {new!r} now" for key, old, new in changes)
    if listed:
        raise ValueError(
            f"{run_dir} was trained with another config, so it cannot be resumed with this one:"
            f"{listed}\nTrain a new run instead (leave out run_dir and train.resume), or start a "
            f"new run from its weights with train.init_from={run_dir}."
        )


def finished_result(cfg: DictConfig, run_dir: Path) -> dict | None:
    """The result of a run with nothing left to train (its epochs done), or None."""
    if (latest := latest_checkpoint(run_dir)) is None:
        return None
    values = tf.train.load_checkpoint(latest).get_tensor  # the variables of checkpoints.py
    epochs = int(values("epoch/.ATTRIBUTES/VARIABLE_VALUE"))
    if epochs < cfg.train.epochs:
        return None
    log.info("%s has trained %d epochs: nothing to do.", run_dir, epochs)
    saved = jsonio.read_json(run_dir / RESULT_FILE) if (run_dir / RESULT_FILE).exists() else {}
    return {**saved, "epochs": epochs, "run_dir": str(run_dir), "checkpoint": latest}


def lock_holder(run_dir: str | Path) -> str | None:
    """Who holds run_dir's lock ("PID 12 on host"), or None (a killed holder's lock is free)."""
    path = Path(run_dir) / LOCK_FILE
    lock = filelock.FileLock(path, timeout=0) if path.exists() else contextlib.nullcontext()
    with contextlib.suppress(filelock.Timeout), lock:
        return None
    return path.read_text(encoding="utf-8")


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Holds run_dir/lock (naming its holder); a start that saved no checkpoint is removed."""
    path, before = Path(run_dir) / LOCK_FILE, set(os.listdir(run_dir))
    lock = filelock.FileLock(path, timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise RuntimeError(
            f"{run_dir} is in use by another training ({lock_holder(run_dir)}). Wait for it to "
            "end, or train into another run_dir."
        ) from None
    path.write_text(f"PID {os.getpid()} on {platform.node()}")
    try:
        yield
    finally:  # while still held: no one else writes here then
        written = [] if latest_checkpoint(run_dir) else set(os.listdir(run_dir)) - before
        temporary = checkpoints_dir(run_dir).rglob("*_temp")  # of a save that was stopped
        for leftover in [*(Path(run_dir) / name for name in written), *temporary, path]:
            shutil.rmtree(leftover, ignore_errors=True)  # a folder; a file or a link:
            leftover.unlink(missing_ok=True)
        lock.release()
        with contextlib.suppress(OSError):  # rmdir takes only an empty folder
            path.parent.rmdir()
{%- if cookiecutter.cluster %}


@contextlib.contextmanager
def worker_dir() -> Iterator[Path]:
    """A temporary folder for a multi-worker worker other than the chief: every worker must
    write its saves, but only the chief's are kept."""
    with tempfile.TemporaryDirectory(prefix="worker-", ignore_cleanup_errors=True) as path:
        yield Path(path)
{%- endif %}


def start_run(cfg: DictConfig, records_dir: str, metadata: Metadata) -> None:
    """Writes assets/ and config.yaml; refuses other data when the run has a checkpoint."""
    run_dir, saved = Path(cfg.run_dir), assets_dir(cfg.run_dir) / METADATA_FILE
    trained = saved.exists() and latest_checkpoint(run_dir)
    if trained and Metadata.read(saved).fingerprint != metadata.fingerprint:
        raise ValueError(
            f"{run_dir} was trained on other data (its assets/metadata.json differs from "
            f"{records_dir}). Train a new run (leave out run_dir), or restore the data."
        )
    saved.parent.mkdir(parents=True, exist_ok=True)  # preprocessing's assets (not the records)
    for name in tf.io.gfile.listdir(records_dir):  # again on resume: the same files
        source = os.path.join(records_dir, name)
        if not name.endswith((".tfrecord", ".tmp")) and not tf.io.gfile.isdir(source):
            tf.io.gfile.copy(source, str(saved.parent / name), overwrite=True)
    save_config(cfg, run_dir)


def point_latest(cfg: DictConfig) -> None:
    """Makes runs_root/latest and runs_root/<group>/latest name cfg.run_dir (once trained)."""
    run_dir = Path(cfg.run_dir).resolve()
    for pointer in {Path(cfg.runs_root).resolve() / LATEST, run_dir.parent / LATEST}:
        if pointer.parent in run_dir.parents:
            pointer.parent.mkdir(parents=True, exist_ok=True)
            jsonio.write_text(pointer, os.path.relpath(run_dir, pointer.parent) + "\n")


def kept_note(run_dir: str | None) -> str:
    """What a stopped training keeps, and how to go on."""
    if latest := run_dir and latest_checkpoint(run_dir):
        kept = f"{run_dir} keeps its checkpoint at step {latest.rsplit('-', 1)[-1]}"
        return f"{kept}; go on with: make resume RUN_DIR={run_dir}"
    return "it had saved no checkpoint, so it left no run; train again."


def run_records(cfg: DictConfig, metadata: Metadata, test_path: str | None = None) -> tuple:
    """(records folder, metadata) of a run's data (found by fingerprint) or of `test_path`."""
    if test_path is not None:
        data_cfg = OmegaConf.merge(cfg.data, {"test_path": test_path})
        return preprocess_data.ensure_preprocessed(data_cfg, cfg.seed)
    records_dir = preprocess_data.records_path(cfg.data, cfg.seed, metadata.fingerprint)
    records = preprocess_data.read_metadata(records_dir)
    if records is None or records.fingerprint != metadata.fingerprint:  # gone: written again
        return preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
    return records_dir, records
