"""A run's checkpoints (tf.train.CheckpointManager), resume and warm start. checkpoints/ckpt-<step>
are the latest train.keep_checkpoints (model, random states, optimizer, epoch, early stopping);
checkpoints/best/ the best by train.monitor, with best.json. Warm start, e.g. on other classes:

    {{ cookiecutter.package_name }}-train train.init_from=runs/first train.init_partial=true
"""
{% if cookiecutter.cluster %}
import hashlib
{%- endif %}
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

BEST_DIR, BEST_FILE = "best", "best.json"  # checkpoints/best/: the best by train.monitor
MONITORS = {"val_accuracy": "max", "val_loss": "min"}


def restore_model(model: keras.Model, run_dir: str | Path, which: str = "latest") -> str:
    """Restores the model weights of a run's latest (or best) checkpoint; returns its path."""
    if which not in ("latest", "best"):
        raise ValueError(f"checkpoint={which!r} must be latest or best.")
    directory = runs.checkpoints_dir(run_dir) / (BEST_DIR if which == "best" else "")
    path = tf.train.latest_checkpoint(str(directory))
    if path is None:
        raise FileNotFoundError(f"{directory} holds no checkpoint: train into {run_dir} first.")
    tf.train.Checkpoint(model=model).restore(path).expect_partial()
    return path


class BestTracker:
    """The best train.monitor and the epochs since it improved, as variables every checkpoint
    saves (create it in the strategy's scope)."""

    def __init__(self, monitor: str, min_delta: float, patience: int) -> None:
        self.monitor, self.min_delta, self.patience = monitor, min_delta, patience
        self.best_value = tf.Variable(np.nan, dtype=tf.float64, trainable=False)
        self.waited = tf.Variable(0, dtype=tf.int64, trainable=False)

    @property
    def best(self) -> float:  # NaN until the first validation
        return float(self.best_value.numpy())

    def update(self, validation: dict) -> bool:
        """Counts a validation (val_<name> is validation[name]); True when it is the best."""
        value = validation[self.monitor.removeprefix("val_")]
        sign = 1 if MONITORS[self.monitor] == "max" else -1
        improved = bool(np.isnan(self.best) or sign * (value - self.best) > self.min_delta)
        self.best_value.assign(value if improved else self.best)
        self.waited.assign(0 if improved else self.waited + 1)
        return improved

    def should_stop(self) -> bool:
        """True (and logged) once train.monitor has not improved for train.patience epochs."""
        waited = int(self.waited.numpy())
        if not self.patience or waited < self.patience:
            return False
        log.info("Early stopping: %s has not improved for %d epochs", self.monitor, waited)
        return True


@dataclass
class TrainState:
    """Everything the loop updates and its checkpoints."""

    model: keras.Model
    optimizer: keras.optimizers.Optimizer
    epoch: tf.Variable  # completed epochs
    best: BestTracker
    latest_checkpoints: tf.train.CheckpointManager
    best_checkpoint: tf.train.CheckpointManager

    @property
    def step(self) -> int:
        return int(self.optimizer.iterations.numpy())

    def save_best(self, record: dict) -> None:
        """Saves the best checkpoint, then best.json (record, step, checkpoint) beside it."""
        path = self.best_checkpoint.save(checkpoint_number=self.step)
        record = {**record, "step": self.step, "checkpoint": path}
        jsonio.write_json(os.path.join(self.best_checkpoint.directory, BEST_FILE), record)


def restore_state(
    train_cfg: Mapping,
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    strategy: tf.distribute.Strategy,
{%- if cookiecutter.cluster %}
    write_dir: Path,  # run_dir, but on the workers other than the chief
{%- endif %}
    run_dir: Path,
) -> TrainState:
    """The run's state, resumed from the latest checkpoint of `run_dir`, else warm-started."""
    with strategy.scope():
        epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        best = BestTracker(train_cfg.monitor, train_cfg.min_delta, train_cfg.patience)
    checkpoint = tf.train.Checkpoint(
        model=model,
        # Keras' seed states (dropout masks), which the model does not track: without them
        # a resumed run would draw other masks than an uninterrupted one.
        random_states=[
            v for v in model.non_trainable_variables if v.path.endswith("seed_generator_state")
        ],
        optimizer=optimizer,
        epoch=epoch,
        best_value=best.best_value,
        epochs_without_improvement=best.waited,
    )
    directory = runs.checkpoints_dir({{ "write_dir" if cookiecutter.cluster else "run_dir" }})
    latest = tf.train.CheckpointManager(checkpoint, str(directory), train_cfg.keep_checkpoints)
    best_checkpoint = tf.train.CheckpointManager(checkpoint, str(directory / BEST_DIR), 1)
    state = TrainState(model, optimizer, epoch, best, latest, best_checkpoint)
    path = tf.train.latest_checkpoint(str(runs.checkpoints_dir(run_dir)))
    if path:
        checkpoint.restore(path).assert_existing_objects_matched()
        log.info("Resuming from %s at step %d", path, state.step)
    elif train_cfg.init_from:
        warm_start(model, str(train_cfg.init_from), train_cfg.init_partial)
    return state
{%- if cookiecutter.cluster %}


def weights_digest(model: keras.Model) -> str:
    """A short SHA-256 of every weight: equal digests, equal models (e.g. across workers)."""
    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()[:16]
{%- endif %}


def warm_start(model: keras.Model, source: str, partial: bool) -> list[str]:
    """Copies into `model` each layer's weights that `source` (a run folder, or a checkpoint of
    a run) has under the same name and shapes; refuses the others, or with `partial` leaves them
    as they are. Returns the layers loaded."""
    path = Path(source)
    latest = tf.train.latest_checkpoint(str(runs.checkpoints_dir(path)))
    prefix = latest if path.is_dir() else source
    run_dirs = [d for d in (path, *path.resolve().parents) if (d / runs.CONFIG_FILE).exists()]
    if not run_dirs or prefix is None or not tf.io.gfile.exists(prefix + ".index"):
        raise FileNotFoundError(
            f"train.init_from={source} is neither a run folder with a checkpoint nor a "
            "checkpoint of a run. Give e.g. runs/<name> or runs/<name>/checkpoints/ckpt-300."
        )
    model_cfg, metadata = runs.load_config(run_dirs[0]).model, runs.load_metadata(run_dirs[0])
    source_model = model_lib.build_model(model_cfg, metadata)
    tf.train.Checkpoint(model=source_model).restore(prefix).expect_partial()
    source_layers = {layer.name: layer for layer in source_model.layers}
    loaded, skipped = [], []
    for layer in (layer for layer in model.layers if layer.weights):
        weights = source_layers[layer.name].get_weights() if layer.name in source_layers else []
        if [w.shape for w in weights] == [w.shape for w in layer.get_weights()]:
            layer.set_weights(weights)
            loaded.append(layer.name)
        else:
            skipped.append(f"{layer.name} (source {[w.shape for w in weights]})")
    if not loaded or (skipped and not partial):
        raise ValueError(
            f"train.init_from={source}: the layers {'; '.join(skipped)} are missing or have "
            "other shapes. Set train.init_partial=true to load the other layers and keep these "
            "freshly initialised (e.g. a new output layer for other classes)."
        )
    log.info("Warm start from %s: loaded %s; not loaded: %s", source, loaded, skipped or "none")
    return loaded
