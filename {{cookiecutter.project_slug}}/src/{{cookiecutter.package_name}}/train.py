"""Train the model with one custom loop that serves every tf.distribute strategy.

    {{ cookiecutter.package_name }}-train                                  # default data, model and loop
    {{ cookiecutter.package_name }}-train train.epochs=5 run_dir=runs/exp1
    {{ cookiecutter.package_name }}-train train.resume=latest train.epochs=10            # train on
    {{ cookiecutter.package_name }}-train -m train.learning_rate=1e-3,3e-3 model.dropout_rate=0.1,0.3
    {{ cookiecutter.package_name }}-train experiment=smoke distribute=mirrored distribute.logical_cpus=2
    {{ cookiecutter.package_name }}-train train.init_from=runs/exp1 train.init_partial=true run_dir=runs/exp2
    python -m {{ cookiecutter.package_name }}.train --cfg job              # print the resolved config

Every run gets a new folder runs/<model>-<data>/<date>_<time>/ (runs/latest names the newest).
train.resume=latest (or run_dir= of an existing run) trains on in a run, from its latest
checkpoint at the step and data position where it was saved, when the config is the same but
for more epochs and when to log or save.

The loop is orbit's: the trainer runs train.steps_per_loop steps per call (fewer where an
epoch ends), and after a call whatever is due at its step runs (`is_due`); so every interval
(log, validate, checkpoint, histograms) is a multiple of train.steps_per_loop.
"""

{% if cookiecutter.model_type == "cnn" -%}
import dataclasses
{% endif -%}
import datetime
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

import hydra
import keras
import numpy as np
import tensorflow as tf
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from . import checkpoints as checkpoints_lib
from . import cli, distribute, jsonio, runs, summaries
from . import model as model_lib
from .callbacks import build_callbacks
from .config import check_known_keys, check_loop_settings, register_configs
from .data import data_loader, preprocess_data
from .data.metadata import Metadata
from .models import get_net
from .trainer import Datasets, Trainer, distributed_datasets, make_evaluator
{%- if cookiecutter.cluster %}
from .watchdog import Watchdog
{%- endif %}

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> dict:
    """Trains the model of `cfg` into a new run directory, or on in an existing one.

    Without run_dir (and train.resume) every call makes a new dated folder under
    runs_root/<model>-<data>/. An existing run (run_dir=DIR with a config.yaml, or
    train.resume=DIR|latest) is resumed only when its config equals this one but for what a
    resume may change (runs.RESUMABLE_KEYS, more epochs); nothing is written into it before
    that check passes, and it stays locked while it trains.
{%- if cookiecutter.cluster %} With distribute=multi_worker every
    worker runs this; the chief writes the run directory, the others a temporary one.
{%- endif %}

    Returns:
        The final metrics (train and validation loss and accuracy), epochs, steps, the best
        value of train.monitor, the run directory, the latest and best checkpoints and a
        digest of the final weights.
    """
    check_known_keys(cfg)
    get_net(cfg.model.name).typed_options(cfg.model)  # before any work, as the config's keys
    check_loop_settings(cfg.train)
    cli.setup_logging()
{%- if cookiecutter.cluster %}
    multi_worker = cfg.distribute.name == "multi_worker"
    watchdog = Watchdog(cfg.distribute.worker_timeout_s) if multi_worker else None
    heartbeat = watchdog.heartbeat if watchdog else lambda: None
    try:
        strategy = distribute.build_strategy(**cfg.distribute)  # before any other TensorFlow op
        if not distribute.is_chief(strategy):
            with runs.worker_dir(cfg.run_dir, chief=False) as write_dir:
                return run_training(cfg, strategy, write_dir, heartbeat)
        return train_in_run_dir(cfg, strategy, heartbeat)
    finally:
        if watchdog is not None:
            watchdog.stop()


def train_in_run_dir(
    cfg: DictConfig, strategy: tf.distribute.Strategy, heartbeat: Callable
) -> dict:
    """The chief's part: the run directory chosen, checked, locked and trained in."""
{%- else %}
    strategy = distribute.build_strategy(**cfg.distribute)  # before any other TensorFlow op
{%- endif %}
    run_dir, resuming = runs.choose_run_dir(cfg)
    cfg.run_dir = str(run_dir)
    with runs.RunLock(run_dir), runs.removed_when_left_empty(run_dir):
        if resuming:
            runs.check_resumable(cfg, run_dir)
            finished = runs.finished_result(cfg, run_dir)
            if finished is not None:
                return finished
        return run_training(cfg, strategy, run_dir{{ ", heartbeat" if cookiecutter.cluster else "" }})


def is_due(step: int, every: int) -> bool:
    """orbit's contract: periodic work runs at the steps that are multiples of `every`."""
    return every > 0 and step % every == 0
{%- if cookiecutter.cluster %}


def run_training(
    cfg: DictConfig, strategy: tf.distribute.Strategy, write_dir: Path, heartbeat: Callable
) -> dict:
    """train() once the strategy is up and the run accepted, in named steps. Checkpoints and
    summaries go to `write_dir`; `heartbeat` feeds the multi-worker watchdog."""
    run_dir = Path(cfg.run_dir)
{%- else %}


def run_training(cfg: DictConfig, strategy: tf.distribute.Strategy, run_dir: Path) -> dict:
    """train() once the strategy is up and the run accepted, in named steps."""
{%- endif %}
    started = datetime.datetime.now().isoformat(timespec="seconds")
    keras.backend.clear_session()  # a sweep trains several models in one process
    keras.utils.set_random_seed(cfg.seed)  # Python, NumPy, TensorFlow and the data order
    if cfg.train.deterministic:
        tf.config.experimental.enable_op_determinism()
{%- if cookiecutter.cluster %}
    records_dir, metadata = prepare_data(cfg, write_dir == run_dir, heartbeat)
    cli.setup_logging(write_dir / "train.log")
{%- else %}
    records_dir, metadata = preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
    runs.start_run(cfg, records_dir, metadata)
    cli.setup_logging(run_dir / "train.log")
{%- endif %}
    log.info("Run directory %s", run_dir)
    # The model, its optimizer and the checkpoints it resumes from or starts with.
    global_batch_size = cfg.train.batch_size * strategy.num_replicas_in_sync
    steps_per_epoch = max(1, metadata.counts["train"]["total"] // global_batch_size)
    steps_per_epoch = min(steps_per_epoch, cfg.train.max_steps_per_epoch or steps_per_epoch)
    model, optimizer = model_lib.build_for_training(
        cfg, metadata, records_dir, strategy, steps_per_epoch
    )
{%- if cookiecutter.cluster %}
    state = checkpoints_lib.restore_state(
        cfg.train, model, optimizer, strategy, write_dir, run_dir
    )
{%- else %}
    state = checkpoints_lib.restore_state(cfg.train, model, optimizer, strategy, run_dir)
{%- endif %}
    log.info("Model %s: %d parameters", model.name, model.count_params())
    # The trainer, its data, and the loop.
    loss_fn = model_lib.build_loss(cfg.train, metadata)
    trainer = Trainer(strategy, model, optimizer, loss_fn, global_batch_size, cfg.train)
    spec = data_loader.InputSpec.for_training(cfg, records_dir, metadata)
    datasets = distributed_datasets(
        strategy, spec, global_batch_size, cfg.train.validation_steps, state.step
    )
{%- if cookiecutter.cluster %}
    loop = Loop(cfg, state, trainer, datasets, metadata, write_dir, steps_per_epoch, heartbeat)
{%- else %}
    loop = Loop(cfg, state, trainer, datasets, metadata, steps_per_epoch)
{%- endif %}
{%- if cookiecutter.model_type == "cnn" %}
    loop.tensorboard.write_inputs(sample_inputs(spec), state.step)
{%- endif %}
    result = loop.run(make_evaluator(strategy, model, metadata.num_classes))
{%- if cookiecutter.model_type == "rnn" %}
    loop.tensorboard.write_embedding(model, records_dir)
{%- endif %}
{%- if cookiecutter.cluster %}
    if write_dir == run_dir:  # the chief
        finished = datetime.datetime.now().isoformat(timespec="seconds")
        jsonio.write_json(
            run_dir / runs.RESULT_FILE, {**result, "started": started, "finished": finished}
        )
{%- else %}
    finished = datetime.datetime.now().isoformat(timespec="seconds")
    jsonio.write_json(
        run_dir / runs.RESULT_FILE, {**result, "started": started, "finished": finished}
    )
{%- endif %}
    return result
{%- if cookiecutter.cluster %}


def prepare_data(cfg: DictConfig, chief: bool, heartbeat: Callable) -> tuple[str, Metadata]:
    """(records folder, metadata) of cfg.data. The chief writes the records that are missing
    and starts the run folder; the other workers wait for the chief's records."""
    if not chief:
        timeout_s = cfg.distribute.worker_timeout_s
        return preprocess_data.wait_for_records(cfg.data, cfg.seed, timeout_s, heartbeat)
    records_dir, metadata = preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
    runs.start_run(cfg, records_dir, metadata)
    return records_dir, metadata
{%- endif %}


{%- if cookiecutter.model_type == "cnn" %}


def sample_inputs(spec: data_loader.InputSpec) -> tf.Tensor:
    """The first training examples as the model sees them (augmented as in training)."""
    spec = dataclasses.replace(spec, cache="none", shuffle_buffer=1, deterministic=True)
    dataset = data_loader.load_split(spec, "train", summaries.INPUT_GRID_SIZE, training=True)
    return next(iter(dataset))[0]
{%- endif %}


class Loop:
    """orbit's Controller, by epochs: trains in calls that end at multiples of
    train.steps_per_loop (and at each epoch's end); after a call, what is due at its step."""

    def __init__(
        self,
        cfg: DictConfig,
        state: checkpoints_lib.TrainState,
        trainer: Trainer,
        datasets: Datasets,
        metadata: Metadata,
{%- if cookiecutter.cluster %}
        write_dir: Path,
        steps_per_epoch: int,
        heartbeat: Callable,
    ) -> None:
        self.cfg, self.every, self.state, self.trainer = cfg, cfg.train, state, trainer
        self.datasets, self.metadata, self.heartbeat = datasets, metadata, heartbeat
        self.steps_per_epoch, self.run_dir = steps_per_epoch, Path(cfg.run_dir)
        self.tensorboard = summaries.TrainingSummaries(write_dir / "tensorboard")
        if write_dir == self.run_dir:  # the chief; the other workers call no callbacks
            self.callbacks = build_callbacks(cfg, self.run_dir, state.model)
        else:
            self.callbacks = keras.callbacks.CallbackList([], model=state.model)
{%- else %}
        steps_per_epoch: int,
    ) -> None:
        self.cfg, self.every, self.state, self.trainer = cfg, cfg.train, state, trainer
        self.datasets, self.metadata = datasets, metadata
        self.steps_per_epoch, self.run_dir = steps_per_epoch, Path(cfg.run_dir)
        self.tensorboard = summaries.TrainingSummaries(self.run_dir / "tensorboard")
        self.callbacks = build_callbacks(cfg, self.run_dir, state.model)
{%- endif %}
        self.iterators, self.phase, self.values = {}, None, {}

    def run(self, evaluate: Callable) -> dict:
        """Trains the epochs left; returns train()'s result."""
        state, self.evaluate = self.state, evaluate
        state.model.stop_training = False  # a callback may set it, e.g. EarlyStopping
        step, validation = state.step, None
        self.tensorboard.write_config(OmegaConf.to_yaml(self.cfg, resolve=True), step)
        if step == 0:
            config = OmegaConf.to_container(self.cfg, resolve=True)
            self.tensorboard.write_hparams_and_trace(config, self.run_dir.name)
        self.iterators["train"] = iter(self.datasets.train)
        self.callbacks.on_train_begin()
        try:
            for epoch in range(int(state.epoch.numpy()), self.every.epochs):
                if state.best.should_stop() or state.model.stop_training:
                    break
                self.callbacks.on_epoch_begin(epoch)
                self.train_epoch(epoch)
                validation = self.end_epoch(epoch)
            validation = validation or self.validate("validation")  # nothing left to train
        finally:
            self.tensorboard.close()
        result = self.result(validation)
        self.callbacks.on_train_end(result)
        return result

    def train_epoch(self, epoch: int) -> None:
        """The epoch's steps left, in calls of train.steps_per_loop steps at most."""
        self.enter_phase(epoch)
        self.trainer.train_loop_begin()
        every, step = self.every, self.state.step
        first, end = epoch * self.steps_per_epoch, (epoch + 1) * self.steps_per_epoch
        progbar = keras.utils.Progbar(self.steps_per_epoch, int(sys.stdout.isatty()))
        self.epoch_start = (time.perf_counter(), step)
        while step < end:
            num_steps = min(every.steps_per_loop - step % every.steps_per_loop, end - step)
            step += num_steps
            with_gradients = is_due(step, every.histogram_every_steps)
            gradients = self.trainer.train(self.iterators["train"], num_steps, with_gradients)
{%- if cookiecutter.cluster %}
            self.heartbeat()
{%- endif %}
            if step == num_steps:  # the run's first call, traced since run()
                self.tensorboard.write_graph()
            if is_due(step, every.log_every_steps) or step == end:
                self.log_progress(epoch, step)
            if with_gradients:
                variables = self.state.model.trainable_variables
                self.tensorboard.write_histograms(variables, gradients, step)
            if is_due(step, every.validate_every_steps):
                self.validate_subset(step)
            if is_due(step, every.checkpoint_every_steps) and step < end:
                self.check_finite(self.trainer.train_loop_end(), step)
                self.state.checkpoints.latest.save(checkpoint_number=step)
            progbar.update(step - first)

    def enter_phase(self, epoch: int) -> None:
        """Sets the fine-tune phase of the epoch (models.FineTune), where the net has one."""
        fine_tune = getattr(self.state.model, "fine_tune", None)
        if fine_tune is None or fine_tune.phase(epoch) == self.phase:
            return
        self.phase = fine_tune.phase(epoch)
        fine_tune.set_phase(self.state.model, epoch)
        self.trainer.retrace()  # for the weights that train now
        trainable = len(self.state.model.trainable_weights)
        log.info(
            "Epoch %d: fine-tune phase %d, %d trainable weights",
            epoch + 1,
            self.phase + 1,
            trainable,
        )

    def check_finite(self, values: dict[str, float], step: int) -> None:
        """Before anything is logged or saved: no checkpoint ever holds broken weights."""
        loss = values["loss"]
        if not np.isfinite(loss):
            raise FloatingPointError(
                f"The training loss became {loss} by step {step}; the run stopped and saved "
                "nothing after it. Lower train.learning_rate, set train.clip_norm, or check "
                "the data."
            )

    def log_progress(self, epoch: int, step: int) -> None:
        """The running training metrics: TensorBoard, a log line and the callbacks."""
        values = self.trainer.train_loop_end()
        self.check_finite(values, step)
        start_time, start_step = self.epoch_start
        examples = (step - start_step) * self.trainer.global_batch_size
        values["examples_per_second"] = examples / (time.perf_counter() - start_time)
        learning_rate = float(np.asarray(self.state.optimizer.learning_rate))
        self.tensorboard.write_training(values, learning_rate, step)
        log.info(
            "epoch %d/%d step %d/%d - %s",
            epoch + 1,
            self.every.epochs,
            step - epoch * self.steps_per_epoch,
            self.steps_per_epoch,
            " - ".join(f"{name} {value:.4g}" for name, value in values.items()),
            extra={"progress": True},
        )
        self.values = {**values, "learning_rate": learning_rate}
        self.callbacks.on_train_batch_end(step, self.values)

    def validate(self, name: str) -> dict:
        """A pass of `name` (validation or validation_subset), from the iterator that serves
        every pass of the run (a new one per validation rebuilt the pipeline)."""
        if name not in self.iterators:
            self.iterators[name] = iter(getattr(self.datasets, name))
{%- if cookiecutter.cluster %}
        validation = self.evaluate(self.iterators[name], self.datasets.steps_per_pass[name])
        self.heartbeat()
        return validation
{%- else %}
        return self.evaluate(self.iterators[name], self.datasets.steps_per_pass[name])
{%- endif %}

    def validate_subset(self, step: int) -> None:
        subset = self.validate("validation_subset")
        self.tensorboard.write_subset_validation(subset, step)
        log.info(
            "step %d - validation subset of %d examples - loss %.4f - accuracy %.4f",
            step,
            subset["num_examples"],
            subset["loss"],
            subset["accuracy"],
        )

    def end_epoch(self, epoch: int) -> dict:
        """Full validation, the best checkpoint, then the epoch's checkpoint."""
        state, monitor, step = self.state, self.every.monitor, self.state.step
        validation = self.validate("validation")
        self.tensorboard.write_validation(validation, self.metadata.class_names, step)
        improved = state.best.update(validation)
        state.epoch.assign(epoch + 1)
        if improved:
            record = {"metric": monitor, "value": state.best.best, "epoch": epoch + 1}
            checkpoints_lib.save_best(state.checkpoints, step, record)
        state.checkpoints.latest.save(checkpoint_number=step)
        logs = {key: self.values[key] for key in ("loss", "accuracy")}
        logs.update({f"val_{key}": validation[key] for key in ("loss", "accuracy", "macro_f1")})
        log.info(
            "epoch %d/%d - %s (%d validation examples) - %.0f examples/s%s",
            epoch + 1,
            self.every.epochs,
            " - ".join(f"{key} {value:.4f}" for key, value in logs.items()),
            validation["num_examples"],
            self.values["examples_per_second"],
            f" - best {monitor} so far" if improved else "",
        )
        self.callbacks.on_epoch_end(epoch, {**logs, "learning_rate": self.values["learning_rate"]})
        return validation

    def result(self, validation: dict) -> dict:
        """train()'s result, logged as one line: the final metrics, the checkpoints and a
        digest of the weights."""
        state, monitor = self.state, self.every.monitor
        result = {
            "epochs": int(state.epoch.numpy()),
            "steps": state.step,
            "loss": self.values.get("loss"),
            "accuracy": self.values.get("accuracy"),
            **{f"val_{key}": validation[key] for key in ("loss", "accuracy", "macro_f1")},
            f"best_{monitor}": state.best.best,
            "run_dir": str(self.run_dir),
            "checkpoint": state.checkpoints.latest.latest_checkpoint,
            "best_checkpoint": state.checkpoints.best.latest_checkpoint,
            "weights_digest": checkpoints_lib.weights_digest(state.model),
        }
        log.info(
            "Done: %d epochs, %d steps, val_accuracy %.4f; best %s %.4f in %s; latest in %s; "
            "weights %s",
            *(result[key] for key in ("epochs", "steps", "val_accuracy")),
            monitor,
            *(result[key] for key in (f"best_{monitor}", "best_checkpoint", "checkpoint")),
            result["weights_digest"],
        )
        return result


@hydra.main(version_base="1.3", config_path="configs", config_name="config")
def _main(cfg: DictConfig) -> float:
    hydra_config = HydraConfig.get()
    if hydra_config.mode == RunMode.MULTIRUN and not cfg.run_dir:
        cfg.run_dir = hydra_config.runtime.output_dir  # the job's folder in the sweep folder
    with cli.exit_on_user_error():
        result = train(cfg)
    # What a sweeper (hparams_search=optuna) optimises: the best value of train.monitor.
    return result.get(f"best_{cfg.train.monitor}", float("nan"))


def main() -> None:
    """Console script: {{ cookiecutter.package_name }}-train [key=value ...]"""
    register_configs()
    _main()


if __name__ == "__main__":
    main()
