"""The training loop in orbit's shape (orbit/controller.py): calls of train.steps_per_loop steps,
then what is due (log line and NaN check, checkpoint); an epoch ends with a full validation.
Keras callbacks{{ " (the loggers' and yours)" if cookiecutter.tracking != "tensorboard" }} see every hook but per-batch ones (on_train_batch_end: log steps):

    {{ cookiecutter.package_name }}-train 'callbacks=[{_target_: keras.callbacks.CSVLogger, filename: ${run_dir}/metrics.csv, append: true}]'
"""

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig{% if cookiecutter.tracking != "tensorboard" %}, OmegaConf{% endif %}

{% if cookiecutter.cluster -%}
from . import checkpoints as checkpoints_lib
{% endif -%}
from . import runs, summaries

log = logging.getLogger(__name__)


def is_due(step: int, every: int) -> bool:
    """orbit's contract: periodic work runs at the steps that are multiples of `every`."""
    return every > 0 and step % every == 0


class Controller:
    """orbit's Controller, by epochs: calls end at multiples of steps_per_loop and epoch ends."""

    def __init__(self, cfg, state, trainer, datasets, steps_per_epoch, write_dir{{ ", heartbeat" if cookiecutter.cluster }}):
        self.cfg, self.every, self.state, self.trainer = cfg, cfg.train, state, trainer
        self.datasets, self.steps_per_epoch, self.values = datasets, steps_per_epoch, {}
        self.run_dir, self.profiling = Path(cfg.run_dir), False  # profiling: an XProf trace is on
        self.tensorboard = summaries.TrainingSummaries(write_dir / "tensorboard")
{%- if cookiecutter.cluster %}
        self.chief = write_dir == self.run_dir  # it alone moves runs_root/latest
        self.heartbeat = heartbeat  # a worker's watchdog: called after each call and validation
        if write_dir != self.run_dir:  # a multi-worker run's other workers call no callbacks
            self.callbacks = keras.callbacks.CallbackList([], model=state.model)
            return
{%- endif %}
        self.callbacks = build_callbacks(cfg, state.model)

    def run(self, evaluate: Callable) -> dict:
        """Trains the epochs left; returns train()'s result."""
        state = self.state
        state.model.stop_training = False  # a callback may set it, e.g. EarlyStopping
        if state.step == 0:  # a new run
            self.tensorboard.write_hparams(self.cfg)
        self.train_iterator = iter(self.datasets.train)
        validation_iterator = iter(self.datasets.validation)  # a new one per pass rebuilt it
        self.validate = lambda: evaluate(validation_iterator, self.datasets.validation_steps)
        self.callbacks.on_train_begin()
        validation = None
        try:
            for epoch in range(first := int(state.epoch.numpy()), self.every.epochs):
                if state.model.stop_training:
                    break
                self.callbacks.on_epoch_begin(epoch)
                self.train_epoch(epoch)
                validation = self.end_epoch(epoch)
                if epoch == first{{ " and self.chief" if cookiecutter.cluster }}:  # it has a checkpoint: `latest` names it
                    runs.point_latest(self.cfg)
            validation = validation or self.validate()  # nothing left to train
        finally:
            self.tensorboard.close()
            if self.profiling:  # the run ended before train.profile_steps did
                tf.profiler.experimental.stop()
        epochs, steps = int(state.epoch.numpy()), state.step
        result = {key: self.values.get(key) for key in ("loss", "accuracy")}
        result |= {f"val_{key}": validation[key] for key in ("loss", "accuracy", "macro_f1")}
        result[f"best_{self.every.monitor}"] = float(state.best.numpy())
{%- if cookiecutter.cluster %}
        digest = checkpoints_lib.weights_digest(state.model)  # equal on every worker
        log.info(
            "Done: %d epochs, %d steps - %s - weights %s", epochs, steps, describe(result), digest
        )
        result["weights_digest"] = digest
{%- else %}
        log.info("Done: %d epochs, %d steps - %s", epochs, steps, describe(result))
{%- endif %}
        result.update(epochs=epochs, steps=steps, run_dir=str(self.run_dir))
        result["checkpoint"] = state.latest_checkpoints.latest_checkpoint
        result["best_checkpoint"] = state.best_checkpoint.latest_checkpoint
        self.callbacks.on_train_end(result)
        return result

    def train_epoch(self, epoch: int) -> None:
        """The epoch's steps left, in calls of train.steps_per_loop steps at most."""
        self.trainer.train_loop_begin(epoch)
        every, step = self.every, self.state.step
        first, end = epoch * self.steps_per_epoch, (epoch + 1) * self.steps_per_epoch
        progbar = keras.utils.Progbar(self.steps_per_epoch, int(sys.stdout.isatty()))
        self.epoch_start = (time.perf_counter(), step)
        first_profiled, last_profiled = every.profile_steps or (0, 0)
        while step < end:
            num_steps = min(every.steps_per_loop - step % every.steps_per_loop, end - step)
            if step < first_profiled <= step + num_steps:  # whole calls, for the Profile tab
                tf.profiler.experimental.start(str(self.tensorboard.log_dir))
                self.profiling = True
            with tf.profiler.experimental.Trace("train", step_num=step, _r=1):  # a step to XProf
                self.trainer.train(self.train_iterator, num_steps)
            step += num_steps
            if self.profiling and step >= last_profiled:
                tf.profiler.experimental.stop()
                self.profiling = False
{%- if cookiecutter.cluster %}
            self.heartbeat()
{%- endif %}
            saved = is_due(step, every.checkpoint_every_steps) and step < end
            if is_due(step, every.log_every_steps) or saved or step == end:
                self.log_progress(epoch, step)  # with the NaN check, before any save
            if saved:
                self.state.latest_checkpoints.save(checkpoint_number=step)
            progbar.update(step - first)

    def log_progress(self, epoch: int, step: int) -> None:
        """The running training metrics to TensorBoard, the log and the callbacks."""
        values = self.trainer.train_loop_end(step)
        start_time, start_step = self.epoch_start
        examples = (step - start_step) * self.trainer.global_batch_size
        values["examples_per_second"] = examples / (time.perf_counter() - start_time)
        values["learning_rate"] = float(np.asarray(self.state.optimizer.learning_rate))
        self.tensorboard.write_training(values, step)
        where = f"epoch {epoch + 1}/{self.every.epochs} step {step - epoch * self.steps_per_epoch}"
        progress = {"progress": True}  # on a terminal, the progress bar shows these
        log.info("%s/%d - %s", where, self.steps_per_epoch, describe(values), extra=progress)
        self.values = values
        self.callbacks.on_train_batch_end(step, values)

    def end_epoch(self, epoch: int) -> dict:
        """Full validation, the best checkpoint, then the epoch's checkpoint."""
        state, monitor, step = self.state, self.every.monitor, self.state.step
        validation = self.validate()
{%- if cookiecutter.cluster %}
        self.heartbeat()
{%- endif %}
        self.tensorboard.write_validation(validation, step)
        state.epoch.assign(epoch + 1)
        improved = state.save_if_best(validation)
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


def build_callbacks(cfg: DictConfig, model: keras.Model) -> keras.callbacks.CallbackList:
    """{{ "The callback of each logger chosen (logger=...), then each" if cookiecutter.tracking != "tensorboard" else "Each" }} `{_target_: some.Callback, arg: value}` of cfg.callbacks, set to `model`."""
    callbacks = []
{%- if cookiecutter.tracking != "tensorboard" %}
    params = summaries.flat_hparams(OmegaConf.to_container(cfg, resolve=True))
    for name, spec in cfg.logger.items():  # logger=[mlflow,wandb]: each gets every epoch
        if spec is not None:
            try:
                logger = instantiate(spec, run_dir=cfg.run_dir, params=params, _convert_="all")
            except InstantiationException as error:  # e.g. without its extra
                extra = f"pip install -e '.[{name}]' installs {name}"
                raise ValueError(f"logger={name} could not start ({error}); {extra}") from error
            callbacks.append(logger)
{%- endif %}
    for index, spec in enumerate(cfg.callbacks):
        try:
            callback = instantiate(spec, _convert_="all")
        except InstantiationException as error:
            raise ValueError(f"callbacks[{index}] could not be made: {error}") from error
        if not isinstance(callback, keras.callbacks.Callback):
            raise ValueError(
                f"callbacks[{index}] = {spec} made a {type(callback).__name__}, not a "
                "keras.callbacks.Callback; e.g. callbacks=[{_target_: keras.callbacks.TerminateOnNaN}]."
            )
        callbacks.append(callback)
    return keras.callbacks.CallbackList(callbacks, model=model)
