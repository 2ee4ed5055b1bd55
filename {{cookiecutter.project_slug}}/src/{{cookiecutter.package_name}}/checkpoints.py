"""Checkpoints of a run: the latest ones, the best one, and warm starts from other runs.

    run_dir/checkpoints/ckpt-<step>.*        the latest train.keep_checkpoints (model, optimizer,
                                             epoch, early-stopping state)
    run_dir/checkpoints/best/ckpt-<step>.*   the best by train.monitor, and best.json

A save writes the checkpoint's files first and then replaces the small `checkpoint` file that
names the latest one (TensorFlow writes it to a temporary file and renames it), so a crash
during a save leaves the previous checkpoint as the latest, complete and readable.

Warm start, e.g. fine-tuning a run's weights on other classes:

    {{ cookiecutter.package_name }}-train train.init_from=runs/first train.init_partial=true
"""

import hashlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from . import jsonio, runs
from . import model as model_lib

log = logging.getLogger(__name__)

BEST_DIR = "best"  # under checkpoints/: the best checkpoint by train.monitor
BEST_FILE = "best.json"
MONITORS = {"val_accuracy": "max", "val_loss": "min"}


@dataclass
class Checkpoints:
    """One tf.train.Checkpoint, saved as the latest N and as the best one."""

    checkpoint: tf.train.Checkpoint
    latest: tf.train.CheckpointManager
    best: tf.train.CheckpointManager


def make_checkpoints(directory: str | Path, keep: int, **objects: object) -> Checkpoints:
    """Managers of `objects` (model=..., optimizer=..., ...) in directory and directory/best."""
    checkpoint = tf.train.Checkpoint(**objects)
    return Checkpoints(
        checkpoint,
        tf.train.CheckpointManager(checkpoint, str(directory), max_to_keep=keep),
        tf.train.CheckpointManager(checkpoint, os.path.join(directory, BEST_DIR), max_to_keep=1),
    )


def restore_latest(checkpoints: Checkpoints, directory: str | Path) -> str | None:
{%- if cookiecutter.cluster %}
    """Restores the latest checkpoint in `directory`, if there is one; returns its path.

    `directory` is where the chief saves; other workers save to a directory of their own.
    """
{%- else %}
    """Restores the latest checkpoint in `directory`, if there is one; returns its path."""
{%- endif %}
    latest = tf.train.latest_checkpoint(str(directory))
    if latest:
        checkpoints.checkpoint.restore(latest).assert_existing_objects_matched()
    return latest


def restore_model(model: keras.Model, run_dir: str | Path, which: str = "latest") -> str:
    """Restores the model weights of a run's latest (or best) checkpoint; returns its path.

    A training beside it may replace that checkpoint while it is read: then the next one
    the `checkpoint` file names is read instead (up to three tries).
    """
    if which not in ("latest", "best"):
        raise ValueError(f"checkpoint={which!r} must be latest or best.")
    directory = runs.checkpoints_dir(run_dir) / (BEST_DIR if which == "best" else "")
    tries = 3
    for attempt in range(1, tries + 1):
        path = tf.train.latest_checkpoint(str(directory))
        if path is None:
            raise FileNotFoundError(
                f"{directory} holds no checkpoint: train into run_dir={run_dir} first."
            )
        try:
            tf.train.Checkpoint(model=model).restore(path).expect_partial()
            break
        except (tf.errors.NotFoundError, tf.errors.DataLossError):
            if attempt == tries:
                raise
    log.info("Restored %s", path)
    return path


def is_improvement(monitor: str, value: float, best: float, min_delta: float) -> bool:
    """Whether `value` of `monitor` beats `best` (NaN: nothing yet) by more than min_delta."""
    if np.isnan(best):
        return True
    if MONITORS[monitor] == "max":
        return value > best + min_delta
    return value < best - min_delta


class BestTracker:
    """The best value of train.monitor so far and the epochs since it last improved: what
    decides the best checkpoint and early stopping (train.patience). Both are variables
    (create it under the strategy's scope), saved in every checkpoint so that a resumed run
    goes on with them."""

    def __init__(self, monitor: str, min_delta: float, patience: int) -> None:
        self.monitor = monitor
        self.min_delta = min_delta
        self.patience = patience
        self.best_value = tf.Variable(np.nan, dtype=tf.float64, trainable=False, name="best")
        self.epochs_without_improvement = tf.Variable(
            0, dtype=tf.int64, trainable=False, name="epochs_waited"
        )

    @property
    def best(self) -> float:
        """The best value so far; NaN until the first full validation."""
        return float(self.best_value.numpy())

    def update(self, validation: dict) -> bool:
        """Counts a full validation (val_<name> is validation[name]); True when it is the best."""
        value = validation[self.monitor.removeprefix("val_")]
        improved = is_improvement(self.monitor, value, self.best, self.min_delta)
        if improved:
            self.best_value.assign(value)
            self.epochs_without_improvement.assign(0)
        else:
            self.epochs_without_improvement.assign_add(1)
        return improved

    def should_stop(self) -> bool:
        """True (and logged) once train.monitor has not improved for train.patience epochs."""
        waited = int(self.epochs_without_improvement.numpy())
        if not self.patience or waited < self.patience:
            return False
        log.info(
            "Early stopping: %s has not improved for %d epochs (best %.4f)",
            self.monitor,
            waited,
            self.best,
        )
        return True


def save_best(checkpoints: Checkpoints, step: int, record: dict) -> str:
    """Saves the best checkpoint, then best.json (metric, value, epoch, step, path) beside it."""
    path = checkpoints.best.save(checkpoint_number=step)
    record = {**record, "step": step, "checkpoint": path}
    jsonio.write_json(os.path.join(checkpoints.best.directory, BEST_FILE), record)
    return path


@dataclass
class TrainState:
    """Everything the loop updates (created under the strategy's scope) and its checkpoints."""

    model: keras.Model
    optimizer: keras.optimizers.Optimizer
    epoch: tf.Variable  # completed epochs
    best: BestTracker  # of train.monitor, for the best checkpoint and patience
    checkpoints: Checkpoints

    @property
    def step(self) -> int:
        return int(self.optimizer.iterations.numpy())


def restore_state(
    train_cfg: Mapping,
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    strategy: tf.distribute.Strategy,
{%- if cookiecutter.cluster %}
    write_dir: Path,
{%- endif %}
    run_dir: Path,
) -> TrainState:
{%- if cookiecutter.cluster %}
    """The run's state, resumed from the latest checkpoint of `run_dir` or warm-started
    (train.init_from); checkpoints are written to `write_dir` (run_dir, but on workers other
    than the chief)."""
{%- else %}
    """The run's state, resumed from the latest checkpoint of `run_dir` or warm-started
    (train.init_from)."""
{%- endif %}
    with strategy.scope():
        epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        best = BestTracker(train_cfg.monitor, train_cfg.min_delta, train_cfg.patience)
    checkpoints = make_checkpoints(
        runs.checkpoints_dir({{ "write_dir" if cookiecutter.cluster else "run_dir" }}),
        train_cfg.keep_checkpoints,
        model=model,
        # Keras' random seed states (dropout masks), which tf.train.Checkpoint does not reach
        # through the model: without them a resumed run would draw other masks than an
        # uninterrupted one.
        random_states=[
            v for v in model.non_trainable_variables if v.path.endswith("seed_generator_state")
        ],
        optimizer=optimizer,
        epoch=epoch,
        best_value=best.best_value,
        epochs_without_improvement=best.epochs_without_improvement,
    )
    latest = restore_latest(checkpoints, runs.checkpoints_dir(run_dir))
    if latest:
        log.info("Resuming from %s at step %d", latest, int(optimizer.iterations.numpy()))
    elif train_cfg.init_from:
        warm_start(model, str(train_cfg.init_from), train_cfg.init_partial)
    return TrainState(model, optimizer, epoch, best, checkpoints)


def weights_digest(model: keras.Model) -> str:
    """A short SHA-256 of every weight: equal digests, equal models (e.g. across workers)."""
    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()[:16]


# === Warm start ===


def warm_start(
    model: keras.Model,
    source: str,
    partial: bool,
) -> dict[str, list[str]]:
    """Loads the weights of `source` into the layers of `model` that match by name.

    Args:
        model: the freshly built model to start from.
        source: a run directory, a checkpoint (prefix or directory), a .keras file, or a
            .weights.h5 file saved from a model of the same architecture.
        partial: skip layers whose weight shapes differ instead of refusing the source.

    Returns:
        {"loaded": layer names, "not_loaded": "name (why)" entries}; both are logged.
    """
    if source.endswith(".weights.h5"):
        report = load_weights_file(model, source, partial)
    else:
        report = copy_layers(source_model(source), model, partial)
    if not report["loaded"]:
        raise ValueError(
            f"train.init_from={source} has no layer that fits this model "
            f"({'; '.join(report['not_loaded'])}). Check that it is a model of this project."
        )
    log.info(
        "Warm start from %s: loaded %s; not loaded: %s",
        source,
        ", ".join(report["loaded"]),
        "; ".join(report["not_loaded"]) or "none",
    )
    return report


def source_model(source: str) -> keras.Model:
    """The model of a .keras file, or of a run's checkpoint with its weights restored."""
    if source.endswith(".keras"):
        if not os.path.isfile(source):
            raise FileNotFoundError(f"train.init_from={source} does not exist.")
        return keras.saving.load_model(source, compile=False)
    checkpoint_path, run_dir = find_checkpoint(source)
    model = model_lib.build_model(runs.load_config(run_dir).model, runs.load_metadata(run_dir))
    tf.train.Checkpoint(model=model).restore(checkpoint_path).expect_partial()
    return model


def find_checkpoint(source: str) -> tuple[str, Path]:
    """(checkpoint prefix, run directory) of a run dir, a checkpoint dir or a prefix."""
    path = Path(source)
    if (path / runs.CONFIG_FILE).exists():
        path = runs.checkpoints_dir(path)
    prefix = tf.train.latest_checkpoint(str(path)) if path.is_dir() else source
    if prefix is None or not tf.io.gfile.exists(prefix + ".index"):
        raise FileNotFoundError(
            f"train.init_from={source} is not a run directory, checkpoint, .keras or "
            ".weights.h5 file. Give e.g. runs/<name>, runs/<name>/checkpoints/ckpt-100 or "
            "model.keras."
        )
    for run_dir in Path(prefix).resolve().parents:
        if (run_dir / runs.CONFIG_FILE).exists():
            return prefix, run_dir
    raise FileNotFoundError(
        f"{prefix} is not inside a run directory (no {runs.CONFIG_FILE} above it), so its "
        "model cannot be rebuilt. Point train.init_from at a checkpoint of a run."
    )


def copy_layers(source: keras.Model, target: keras.Model, partial: bool) -> dict[str, list[str]]:
    """Copies the weights of every layer of `target` that `source` has with the same shapes."""
    source_layers = {layer.name: layer for layer in source.layers}
    loaded, not_loaded, mismatched = [], [], []
    for layer in target.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        if layer.name not in source_layers:
            not_loaded.append(f"{layer.name} (not in the source)")
            continue
        source_weights = source_layers[layer.name].get_weights()
        shapes = [w.shape for w in weights]
        source_shapes = [w.shape for w in source_weights]
        if shapes != source_shapes:
            mismatched.append(f"{layer.name} (source {source_shapes}, here {shapes})")
            continue
        layer.set_weights(source_weights)
        loaded.append(layer.name)
    if mismatched and not partial:
        raise ValueError(
            f"train.init_from: the shapes of {'; '.join(mismatched)} differ. Set "
            "train.init_partial=true to load the other layers and keep these freshly "
            "initialised (e.g. a new output layer for other classes)."
        )
    return {"loaded": loaded, "not_loaded": not_loaded + mismatched}


def load_weights_file(model: keras.Model, path: str, partial: bool) -> dict[str, list[str]]:
    """Loads a .weights.h5 file with Keras (layers match by their path in the model)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"train.init_from={path} does not exist.")
    before = {layer.name: layer.get_weights() for layer in model.layers if layer.get_weights()}
    try:
        model.load_weights(path, skip_mismatch=partial)
    except ValueError as error:
        raise ValueError(
            f"train.init_from={path} does not fit this model: {error} Set "
            "train.init_partial=true to skip the layers that differ."
        ) from error
    loaded, not_loaded = [], []
    for layer in model.layers:
        if layer.name in before:
            changed = any(
                not np.array_equal(old, new)
                for old, new in zip(before[layer.name], layer.get_weights(), strict=True)
            )
            (loaded if changed else not_loaded).append(layer.name)
    return {"loaded": loaded, "not_loaded": [f"{name} (skipped by Keras)" for name in not_loaded]}
