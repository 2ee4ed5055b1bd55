"""Run directories: logging, the saved config, data assets and checkpoints.

A run directory holds config.yaml (the resolved config), assets/ (metadata.json and, for text,
the vocabulary the model was trained with), checkpoints/, tensorboard/, train.log, and later
metrics.json and export/. Eval and export need nothing but the run directory.
"""

import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import tensorflow as tf
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from .config import Config

log = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"
ASSETS_DIR = "assets"
CHECKPOINTS_DIR = "checkpoints"
BEST_DIR = "best"  # under checkpoints/: the best checkpoint by train.monitor
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(log_file: Path | None = None) -> None:
    """Logs INFO and above to stderr and, when given, to `log_file` (appending)."""
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for handler in [h for h in root.handlers if getattr(h, "_from_runs", False)]:
        root.removeHandler(handler)
        handler.close()
    console = logging.StreamHandler(sys.stderr)
    if sys.stdout.isatty():  # the progress bar shows these; the log file keeps them
        console.addFilter(lambda record: not getattr(record, "progress", False))
    handlers = [console]
    if log_file is not None:
        handlers.append(logging.FileHandler(log_file))
    for handler in handlers:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler._from_runs = True
        root.addHandler(handler)
    # tf.distribute's chatter: per epoch (absl) and per collective op (tensorflow)
    for name in ("absl", "tensorflow"):
        logging.getLogger(name).setLevel(logging.WARNING)


@contextlib.contextmanager
def exit_on_user_error() -> Iterator[None]:
    """Turns a bad config or bad data into one clear message and exit status 1."""
    try:
        yield
    except (
        ValueError,
        FileNotFoundError,
        FileExistsError,
        FloatingPointError,
        RuntimeError,
    ) as error:
        log.error("%s", error)
        sys.exit(1)


def command_line_overrides() -> list[str]:
    """The key=value overrides given to the running Hydra command, but run_dir."""
    overrides = HydraConfig.get().overrides.task
    return [item for item in overrides if not item.lstrip("+~").startswith("run_dir=")]


def save_config(cfg: DictConfig, run_dir: Path) -> None:
    OmegaConf.save(cfg, run_dir / CONFIG_FILE, resolve=True)


def load_config(run_dir: str | Path, overrides: Sequence[str] = ()) -> DictConfig:
    """Loads a run's resolved config, applies key=value overrides, checks it against the schema."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist: run_dir={run_dir} is not a run directory. "
            "Train into it first, e.g. `train run_dir=...`."
        )
    saved = OmegaConf.load(path)
    groups = [item for item in overrides if OmegaConf.is_dict(saved.get(item.split("=")[0]))]
    if groups:
        raise ValueError(
            f"{groups} would replace a whole config group of the trained run; override single "
            "values instead, e.g. data.test_path=... (the run's config.yaml holds the rest)."
        )
    return OmegaConf.merge(
        OmegaConf.structured(Config), saved, OmegaConf.from_dotlist(list(overrides))
    )


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


def assets_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / ASSETS_DIR


def copy_assets(records_dir: str, metadata: dict, run_dir: Path) -> None:
    """Copies metadata.json (and the vocabulary) into the run, the first time only.

    Resuming a run on records of another data config would silently change the meaning of
    the inputs, so that is refused.
    """
    target = assets_dir(run_dir)
    saved = load_metadata(run_dir) if (target / "metadata.json").exists() else None
    if saved is not None:
        if saved["fingerprint"] != metadata["fingerprint"]:
            raise ValueError(
                f"{run_dir} was trained on other data (its assets/metadata.json differs from "
                f"{records_dir}). Train into a new run_dir, or restore the data config."
            )
        return
    target.mkdir(parents=True, exist_ok=True)
    for name in tf.io.gfile.listdir(records_dir):
        if not name.endswith((".tfrecord", ".tmp")):
            tf.io.gfile.copy(os.path.join(records_dir, name), str(target / name), overwrite=True)


def load_metadata(run_dir: str | Path) -> dict:
    """Returns the metadata.json of the data the run was trained on."""
    path = assets_dir(run_dir) / "metadata.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: train into {run_dir} first.")
    return json.loads(path.read_text())


def checkpoints_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / CHECKPOINTS_DIR


def restore_model(model: object, run_dir: str | Path, which: str = "latest") -> str:
    """Restores the model weights of a run's latest (or best) checkpoint; returns its path."""
    if which not in ("latest", "best"):
        raise ValueError(f"checkpoint={which!r} must be latest or best.")
    directory = checkpoints_dir(run_dir) / (BEST_DIR if which == "best" else "")
    path = tf.train.latest_checkpoint(str(directory))
    if path is None:
        raise FileNotFoundError(
            f"{directory} holds no checkpoint: train into run_dir={run_dir} first."
        )
    tf.train.Checkpoint(model=model).restore(path).expect_partial()
    log.info("Restored %s", path)
    return path
