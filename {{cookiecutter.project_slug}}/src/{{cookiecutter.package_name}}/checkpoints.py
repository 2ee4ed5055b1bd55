"""A run's checkpoints: checkpoints/ckpt-<step> the latest train.keep_checkpoints (model, random
states, optimizer, epoch, best value), checkpoints/best/ the best by train.monitor (best.json);
resume, and warm start (e.g. on other classes: train.init_from=runs/first)."""
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


def is_better(monitor: str, value: float, best: float) -> bool:
    """Whether `value` of train.monitor beats `best` (NaN: none yet): loss lower, else higher."""
    return bool(np.isnan(best) or (value < best if monitor == "val_loss" else value > best))


@dataclass
class TrainState:  # everything the loop updates and its checkpoints
    model: keras.Model
    optimizer: keras.optimizers.Optimizer
    epoch: tf.Variable  # completed epochs
    best: tf.Variable  # the best value of `monitor` so far
    monitor: str
    latest_checkpoints: tf.train.CheckpointManager
    best_checkpoint: tf.train.CheckpointManager

    @property
    def step(self) -> int:
        return int(self.optimizer.iterations.numpy())

    def save_if_best(self, validation: dict) -> bool:
        """Saves the best checkpoint and best.json when train.monitor is the best so far."""
        value = float(validation[self.monitor.removeprefix("val_")])
        if not is_better(self.monitor, value, float(self.best.numpy())):
            return False
        self.best.assign(value)
        path = self.best_checkpoint.save(checkpoint_number=self.step)
        record = {"metric": self.monitor, "value": value, "epoch": int(self.epoch.numpy())}
        record.update(step=self.step, checkpoint=path)
        jsonio.write_json(os.path.join(self.best_checkpoint.directory, BEST_FILE), record)
        return True


{% if cookiecutter.cluster -%}
def restore_state(
    train_cfg: Mapping,
    model: keras.Model,
    optimizer: keras.Optimizer,
    strategy: tf.distribute.Strategy,
    write_dir: Path,  # run_dir, but on the workers other than the chief
    run_dir: Path,
) -> TrainState:
{%- else -%}
def restore_state(
    train_cfg: Mapping, model: keras.Model, optimizer: keras.Optimizer, strategy, run_dir: Path
) -> TrainState:
{%- endif %}
    """The run's state, resumed from the latest checkpoint of `run_dir`, else warm-started."""
    with strategy.scope():
        epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        best = tf.Variable(np.nan, dtype=tf.float64, trainable=False)
    # Keras' seed states (dropout masks), untracked: a resume must draw the same masks.
    seeds = [v for v in model.non_trainable_variables if v.path.endswith("seed_generator_state")]
    checkpoint = tf.train.Checkpoint(
        model=model, random_states=seeds, optimizer=optimizer, epoch=epoch, best_value=best
    )
    directory = runs.checkpoints_dir({{ "write_dir" if cookiecutter.cluster else "run_dir" }})
    latest = tf.train.CheckpointManager(checkpoint, str(directory), train_cfg.keep_checkpoints)
    best_checkpoint = tf.train.CheckpointManager(checkpoint, str(directory / BEST_DIR), 1)
    state = TrainState(model, optimizer, epoch, best, train_cfg.monitor, latest, best_checkpoint)
    if path := runs.latest_checkpoint(run_dir):
        checkpoint.restore(path).assert_existing_objects_matched()
        log.info("Resuming from %s at step %d", path, state.step)
    elif train_cfg.init_from:
        warm_start(model, str(train_cfg.init_from))
    return state
{%- if cookiecutter.cluster %}


def weights_digest(model: keras.Model) -> str:
    """A short SHA-256 of every weight: equal digests, equal models (e.g. across workers)."""
    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()[:16]
{%- endif %}


def warm_start(model: keras.Model, source: str) -> list[str]:
    """Copies the weights of each layer that `source` (a run, or a checkpoint of one) has by the
    same name and shapes; logs the others. Returns the names of the layers loaded."""
    path = Path(source)
    prefix = runs.latest_checkpoint(path) if path.is_dir() else source
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
    if not loaded:
        raise ValueError(f"train.init_from={source}: no layer matches; {'; '.join(skipped)}.")
    log.info("Warm start from %s: loaded %s; not loaded: %s", source, loaded, skipped or "none")
    return loaded
