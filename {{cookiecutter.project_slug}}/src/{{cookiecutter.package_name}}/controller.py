"""The training loop in orbit's shape (orbit/controller.py): the trainer runs train.steps_per_loop
steps per call (trainer.py); after a call, what is due at its step runs (log line and NaN check,
histograms, checkpoint), so every interval is a multiple of steps_per_loop. Each epoch ends with
a full validation, the best checkpoint and the epoch's checkpoint; callbacks see Keras' hooks.
"""

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
from omegaconf import OmegaConf

from . import checkpoints as checkpoints_lib
from . import summaries
from .callbacks import build_callbacks

log = logging.getLogger(__name__)


def is_due(step: int, every: int) -> bool:
    """orbit's contract: periodic work runs at the steps that are multiples of `every`."""
    return every > 0 and step % every == 0


class Controller:
    """orbit's Controller, by epochs: trains in calls that end at multiples of
    train.steps_per_loop (and at each epoch's end); after a call, what is due at its step."""
{% if cookiecutter.cluster %}
    def __init__(
        self, cfg, state, trainer, datasets, steps_per_epoch, class_names, write_dir, heartbeat
    ):
{%- else %}
    def __init__(self, cfg, state, trainer, datasets, steps_per_epoch, class_names, write_dir):
{%- endif %}
        self.cfg, self.every, self.state, self.trainer = cfg, cfg.train, state, trainer
        self.datasets, self.class_names = datasets, class_names
        self.steps_per_epoch = steps_per_epoch
        self.run_dir, self.values = Path(cfg.run_dir), {}
        self.tensorboard = summaries.TrainingSummaries(write_dir / "tensorboard")
{%- if cookiecutter.cluster %}
        self.heartbeat = heartbeat  # a worker's watchdog: called after each call and validation
        if write_dir != self.run_dir:  # a multi-worker run's other workers call no callbacks
            self.callbacks = keras.callbacks.CallbackList([], model=state.model)
            return
{%- endif %}
        self.callbacks = build_callbacks(cfg, self.run_dir, state.model)

    def run(self, evaluate: Callable) -> dict:
        """Trains the epochs left; returns train()'s result."""
        state, self.evaluate = self.state, evaluate
        state.model.stop_training = False  # a callback may set it, e.g. EarlyStopping
        self.tensorboard.write_config(OmegaConf.to_yaml(self.cfg, resolve=True), state.step)
        if state.step == 0:
            config = OmegaConf.to_container(self.cfg, resolve=True)
            self.tensorboard.write_hparams_and_trace(config, self.run_dir.name)
        self.train_iterator = iter(self.datasets.train)
        self.validation_iterator = None  # made at the first validation, then kept
        self.callbacks.on_train_begin()
        validation = None
        try:
            for epoch in range(int(state.epoch.numpy()), self.every.epochs):
                if state.best.should_stop() or state.model.stop_training:
                    break
                self.callbacks.on_epoch_begin(epoch)
                self.train_epoch(epoch)
                validation = self.end_epoch(epoch)
            validation = validation or self.validate()  # nothing left to train
        finally:
            self.tensorboard.close()
        result = {
            "epochs": int(state.epoch.numpy()),
            "steps": state.step,
            **{key: self.values.get(key) for key in ("loss", "accuracy")},
            **{f"val_{key}": validation[key] for key in ("loss", "accuracy", "macro_f1")},
            f"best_{self.every.monitor}": state.best.best,
            "run_dir": str(self.run_dir),
            "checkpoint": state.latest_checkpoints.latest_checkpoint,
            "best_checkpoint": state.best_checkpoint.latest_checkpoint,
            "weights_digest": checkpoints_lib.weights_digest(state.model),
        }
        metrics = {key: value for key, value in result.items() if key not in ("epochs", "steps")}
        log.info(
            "Done: %d epochs, %d steps - %s - latest %s - weights %s",
            *(result[key] for key in ("epochs", "steps")),
            describe(metrics),
            *(result[key] for key in ("checkpoint", "weights_digest")),
        )
        self.callbacks.on_train_end(result)
        return result

    def train_epoch(self, epoch: int) -> None:
        """The epoch's steps left, in calls of train.steps_per_loop steps at most."""
        self.trainer.train_loop_begin(epoch)
        every, step = self.every, self.state.step
        first, end = epoch * self.steps_per_epoch, (epoch + 1) * self.steps_per_epoch
        progbar = keras.utils.Progbar(self.steps_per_epoch, int(sys.stdout.isatty()))
        self.epoch_start = (time.perf_counter(), step)
        while step < end:
            num_steps = min(every.steps_per_loop - step % every.steps_per_loop, end - step)
            step += num_steps
            self.trainer.train(self.train_iterator, num_steps)
{%- if cookiecutter.cluster %}
            self.heartbeat()
{%- endif %}
            if step == num_steps:  # the run's first call, traced since run()
                self.tensorboard.write_graph()
            logged = is_due(step, every.log_every_steps) or step == end
            if logged:
                self.log_progress(epoch, step)  # with the NaN check
            if is_due(step, every.histogram_every_steps):
                self.tensorboard.write_histograms(self.state.model.trainable_variables, step)
            if is_due(step, every.checkpoint_every_steps) and step < end:
                if not logged:
                    self.trainer.train_loop_end(step)  # the NaN check, before any save
                self.state.latest_checkpoints.save(checkpoint_number=step)
            progbar.update(step - first)

    def log_progress(self, epoch: int, step: int) -> None:
        """The running training metrics: TensorBoard, a log line and the callbacks."""
        values = self.trainer.train_loop_end(step)
        start_time, start_step = self.epoch_start
        examples = (step - start_step) * self.trainer.global_batch_size
        values["examples_per_second"] = examples / (time.perf_counter() - start_time)
        learning_rate = float(np.asarray(self.state.optimizer.learning_rate))
        self.tensorboard.write_training(values, learning_rate, step)
        where = f"epoch {epoch + 1}/{self.every.epochs} step {step - epoch * self.steps_per_epoch}"
        progress = {"progress": True}  # on a terminal, the progress bar shows these
        log.info("%s/%d - %s", where, self.steps_per_epoch, describe(values), extra=progress)
        self.values = {**values, "learning_rate": learning_rate}
        self.callbacks.on_train_batch_end(step, self.values)

    def validate(self) -> dict:
        """A pass of the validation split, from the iterator that serves every pass (a new
        one per validation rebuilt the pipeline)."""
        if self.validation_iterator is None:
            self.validation_iterator = iter(self.datasets.validation)
{%- if cookiecutter.cluster %}
        self.heartbeat()
{%- endif %}
        return self.evaluate(self.validation_iterator, self.datasets.validation_steps)

    def end_epoch(self, epoch: int) -> dict:
        """Full validation, the best checkpoint, then the epoch's checkpoint."""
        state, monitor, step = self.state, self.every.monitor, self.state.step
        validation = self.validate()
        self.tensorboard.write_validation(validation, self.class_names, step)
        improved = state.best.update(validation)
        state.epoch.assign(epoch + 1)
        if improved:
            record = {"metric": monitor, "value": state.best.best, "epoch": epoch + 1}
            state.save_best(record)
        state.latest_checkpoints.save(checkpoint_number=step)
        logs = {key: self.values[key] for key in ("loss", "accuracy", "examples_per_second")}
        logs.update({f"val_{key}": validation[key] for key in ("loss", "accuracy", "macro_f1")})
        best = f" - best {monitor} so far" if improved else ""
        size = f" ({validation['num_examples']} validation examples)"
        log.info("epoch %d/%d - %s%s%s", epoch + 1, self.every.epochs, describe(logs), size, best)
        self.callbacks.on_epoch_end(epoch, {**logs, "learning_rate": self.values["learning_rate"]})
        return validation


def describe(values: dict) -> str:
    """`name value - name value ...` of the numbers among `values`, for a log line."""
    numbers = {k: v for k, v in values.items() if isinstance(v, int | float | np.number)}
    return " - ".join(f"{name} {value:.4g}" for name, value in numbers.items())
