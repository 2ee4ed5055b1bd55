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
"""

{% if cookiecutter.model_type == "cnn" -%}
import dataclasses
{% endif -%}
import datetime
import functools
import hashlib
import logging
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import hydra
import keras
import numpy as np
import tensorflow as tf
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from . import checkpoints as checkpoints_lib
from . import cli, distribute, jsonio, report, runs, summaries
from . import model as model_lib
from .callbacks import build_callbacks
from .config import check_known_keys, register_configs
from .data import data_loader, input_ops, preprocess_data
from .data.metadata import Metadata
from .eval import make_eval_step
from .models import FineTune, get_net
from .watchdog import Watchdog

log = logging.getLogger(__name__)
AT_LEAST_ONE = (
    "epochs",
    "batch_size",
    "log_every_steps",
    "keep_checkpoints",
    "validation_steps",
    "steps_per_loop",
)
AT_LEAST_ZERO = ("checkpoint_every_steps", "validate_every_steps", "histogram_every_steps")


@dataclass
class TrainingPlan:
    """The shape of the run: how many steps, of what size."""

    epochs: int
    steps_per_epoch: int
    global_batch_size: int


@dataclass
class TrainState:
    """Everything the loop updates (created under the strategy's scope) and its checkpoints."""

    model: keras.Model
    optimizer: keras.optimizers.Optimizer
    metrics: dict[str, keras.metrics.Metric]
    epoch: tf.Variable  # completed epochs
    best: checkpoints_lib.BestTracker  # of train.monitor, for the best checkpoint and patience
    checkpoints: checkpoints_lib.Checkpoints

    @property
    def step(self) -> int:
        return int(self.optimizer.iterations.numpy())

    @property
    def fine_tune(self) -> FineTune | None:
        """The model's two training phases, where its builder gave it some."""
        return getattr(self.model, "fine_tune", None)


@dataclass
class Datasets:
    """The endless train stream, and the validation split and its subset, each repeated pass
    after pass so that one iterator serves every validation of the run."""

    train: tf.distribute.DistributedDataset
    validation: tf.distribute.DistributedDataset
    validation_subset: tf.distribute.DistributedDataset
    steps_per_pass: dict[str, int]  # global batches in one pass of validation{,_subset}
    spec: data_loader.InputSpec  # how every split is read, its example_fn traced once


def train(cfg: DictConfig) -> dict:
    """Trains the model of `cfg` into a new run directory, or on in an existing one.

    Without run_dir (and train.resume) every call makes a new dated folder under
    runs_root/<model>-<data>/. An existing run (run_dir=DIR with a config.yaml, or
    train.resume=DIR|latest) is resumed only when its config equals this one but for what a
    resume may change (runs.RESUMABLE_KEYS, more epochs); nothing is written into it before
    that check passes, and it stays locked while it trains. With distribute=multi_worker every
    worker runs this; the chief writes the run directory, the others a temporary one.

    Returns:
        The final metrics (train and validation loss and accuracy), epochs, steps, the best
        value of train.monitor, the run directory, the latest and best checkpoints and a
        digest of the final weights.
    """
    check_known_keys(cfg)
    get_net(cfg.model.name).typed_options(cfg.model)  # before any work, as the config's keys
    check_loop_settings(cfg.train)
    cli.setup_logging()
    multi_worker = cfg.distribute.name == "multi_worker"
    watchdog = Watchdog(cfg.distribute.worker_timeout_s) if multi_worker else None
    heartbeat = watchdog.heartbeat if watchdog else lambda: None
    try:
        strategy = distribute.build_strategy(**cfg.distribute)  # before any other TensorFlow op
        if not distribute.is_chief(strategy):
            with runs.worker_dir(cfg.run_dir, chief=False) as write_dir:
                return run_training(cfg, strategy, write_dir, heartbeat)
        run_dir, resuming = runs.choose_run_dir(cfg)
        cfg.run_dir = str(run_dir)
        with runs.RunLock(run_dir), runs.removed_when_left_empty(run_dir):
            if resuming:
                runs.check_resumable(cfg, run_dir)
                finished = runs.finished_result(cfg, run_dir)
                if finished is not None:
                    return finished
            return run_training(cfg, strategy, run_dir, heartbeat)
    finally:
        if watchdog is not None:
            watchdog.stop()


def run_training(
    cfg: DictConfig,
    strategy: tf.distribute.Strategy,
    write_dir: Path,
    heartbeat: Callable[[], None],
) -> dict:
    """train() once the strategy is up and the run accepted: checkpoints and summaries go to
    `write_dir`; `heartbeat` is called as training progresses (it feeds the multi-worker
    watchdog)."""
    run_dir = Path(cfg.run_dir)
    chief = write_dir == run_dir
    started = datetime.datetime.now().isoformat(timespec="seconds")
    seed_everything(cfg.seed, cfg.train.deterministic)
    records_dir, metadata = prepare_records(cfg, run_dir, chief, heartbeat)
    cli.setup_logging(write_dir / "train.log")
    log.info("Run directory %s", run_dir)
    plan = make_plan(cfg.train, metadata, strategy)
    state = build_state(cfg, metadata, records_dir, strategy, plan, write_dir)
    log.info(
        "Model %s: %d parameters, %d of them trainable now",
        state.model.name,
        state.model.count_params(),
        sum(int(np.prod(weight.shape)) for weight in state.model.trainable_weights),
    )
    datasets = make_datasets(cfg, records_dir, metadata, strategy, plan, state.step)
    make_step = functools.partial(
        make_train_step,
        strategy,
        state,
        plan.global_batch_size,
        use_jit_compile(cfg.train),
        model_lib.build_loss(cfg.train, metadata),
        cfg.train.clip_norm,
        cfg.train.l1,
        cfg.train.l2,
    )
    validator = Validator(strategy, state.model, metadata.num_classes, datasets)
    loop = TrainingLoop(
        cfg,
        state,
        plan,
        datasets,
        make_step,
        validator,
        metadata,
        records_dir,
        write_dir,
        heartbeat,
    )
    result = loop.run()
    if chief:
        finished = datetime.datetime.now().isoformat(timespec="seconds")
        jsonio.write_json(
            run_dir / runs.RESULT_FILE, {**result, "started": started, "finished": finished}
        )
    return result


def seed_everything(seed: int, deterministic: bool) -> None:
    """A fresh Keras session seeded for Python, NumPy and TensorFlow (the data order too)."""
    keras.backend.clear_session()  # a sweep trains several models in one process
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def prepare_records(
    cfg: DictConfig, run_dir: Path, chief: bool, heartbeat: Callable[[], None]
) -> tuple[str, dict]:
    """(records folder, metadata) of cfg.data. The chief preprocesses what is missing and
    writes the run's assets and config; the other workers wait for its records."""
    if not chief:
        timeout_s = cfg.distribute.worker_timeout_s
        return preprocess_data.wait_for_records(cfg.data, cfg.seed, timeout_s, heartbeat)
    records_dir, metadata = preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
    runs.check_assets(records_dir, metadata, run_dir)
    runs.copy_assets(records_dir, run_dir)
    runs.save_config(cfg, run_dir)
    runs.point_latest_at(run_dir, cfg.runs_root)
    return records_dir, metadata


def make_plan(
    train_cfg: DictConfig, metadata: Metadata, strategy: tf.distribute.Strategy
) -> TrainingPlan:
    """Epochs of whole global batches of the train split (train.max_steps_per_epoch at most)."""
    global_batch_size = train_cfg.batch_size * strategy.num_replicas_in_sync
    steps_per_epoch = max(1, metadata.counts["train"]["total"] // global_batch_size)
    if train_cfg.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, train_cfg.max_steps_per_epoch)
    return TrainingPlan(train_cfg.epochs, steps_per_epoch, global_batch_size)


def check_loop_settings(train_cfg: DictConfig) -> None:
    for key in AT_LEAST_ONE:
        if train_cfg[key] < 1:
            raise ValueError(f"train.{key}={train_cfg[key]} must be at least 1.")
    for key in AT_LEAST_ZERO:
        if train_cfg[key] < 0:
            raise ValueError(f"train.{key}={train_cfg[key]} must be 0 (off) or more.")
    if train_cfg.jit_compile is True and train_cfg.deterministic:
        raise ValueError(
            "train.jit_compile=true cannot run with train.deterministic=true: XLA has no "
            "deterministic kernel for some gradients (e.g. MaxPool). Set "
            "train.deterministic=false to compile with XLA."
        )


def use_jit_compile(train_cfg: DictConfig) -> bool:
    """train.jit_compile as a bool: `auto` is XLA on a GPU, unless the run must be
    deterministic (XLA has no deterministic MaxPool gradient; see check_loop_settings)."""
    wanted = distribute.resolve_switch(train_cfg.jit_compile, "train.jit_compile")
    return wanted and (train_cfg.jit_compile is True or not train_cfg.deterministic)


def make_datasets(
    cfg: DictConfig,
    records_dir: str,
    metadata: Metadata,
    strategy: tf.distribute.Strategy,
    plan: TrainingPlan,
    start_step: int = 0,
) -> Datasets:
    """The distributed train stream and the validation split (whole, and its first
    train.validation_steps global batches), both repeated endlessly.

    Each input pipeline (one per worker) reads its part of the data (data.shard_policy) and
    batches for its replicas. The train stream starts where `start_step` steps left it.
    Validation batches are padded (examples of weight 0) so that no replica gets a partial
    or empty batch (see data_loader.load_split's pad_to_full_batches)."""
    # Traced once for every split, instead of once per split (a second or two at start-up).
    example_fn = tf.function(
        input_ops.make_example_fn(metadata, records_dir),
        input_signature=[tf.TensorSpec([], tf.string)],
        autograph=False,  # see data_loader.NOT_CONVERTED
    )
    spec = data_loader.InputSpec.from_config(
        cfg,
        records_dir,
        metadata,
        example_fn,
        {{ "input_ops.make_augment_fn(cfg.data)," if cookiecutter.model_type == "cnn" else "None,  # text is not augmented" }}
    )
    steps_per_pass = {}

    def dataset_fn(name: str, training: bool, steps: int = -1) -> Callable:
        def make(input_context: tf.distribute.InputContext) -> tf.data.Dataset:
            # A pipeline feeds each of its replicas one batch per step, in turn.
            pipelines = input_context.num_input_pipelines
            local_replicas = input_context.num_replicas_in_sync // pipelines
            dataset = data_loader.load_split(
                spec,
                "train" if training else "validation",
                input_context.get_per_replica_batch_size(plan.global_batch_size),
                training=training,
                input_context=input_context,
                examples_fed=start_step * plan.global_batch_size,
                pad_to_full_batches=not training,
            ).take(steps * local_replicas if steps > 0 else -1)
            if training:
                return dataset
            steps_per_pass[name] = int(dataset.cardinality()) // local_replicas
            return dataset.repeat()

        return strategy.distribute_datasets_from_function(make, input_options(strategy))

    return Datasets(
        train=dataset_fn("train", training=True),
        validation=dataset_fn("validation", training=False),
        validation_subset=dataset_fn(
            "validation_subset", training=False, steps=cfg.train.validation_steps
        ),
        steps_per_pass=steps_per_pass,
        spec=spec,
    )


def input_options(strategy: tf.distribute.Strategy) -> tf.distribute.InputOptions | None:
    """No per-device buffer when every device is a CPU: the batches are on the host already,
    so it adds nothing, and its iterator's autotuning thread made the end of a run wait for
    seconds."""
    if all("CPU" in device.upper() for device in strategy.extended.worker_devices):
        return tf.distribute.InputOptions(experimental_per_replica_buffer_size=0)
    return None


def build_state(
    cfg: DictConfig,
    metadata: Metadata,
    records_dir: str,
    strategy: tf.distribute.Strategy,
    plan: TrainingPlan,
    write_dir: Path,
) -> TrainState:
    """Builds model, optimizer and metrics under the strategy; resumes or warm-starts them.

    Checkpoints are written to `write_dir` and resumed from cfg.run_dir (the same but on
    workers other than the chief).
    """
    model, optimizer = build_model_and_optimizer(cfg, metadata, records_dir, strategy, plan)
    with strategy.scope():
        metrics = model_lib.build_metrics()
        epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        best = checkpoints_lib.BestTracker(
            cfg.train.monitor, cfg.train.min_delta, cfg.train.patience
        )
    checkpoints = checkpoints_lib.make_checkpoints(
        runs.checkpoints_dir(write_dir),
        cfg.train.keep_checkpoints,
        model=model,
        # Keras' random seed states (dropout masks), which tf.train.Checkpoint does not reach
        # through the model: without them a resumed run would draw other masks than an
        # uninterrupted one.
        random_states=seed_states(model),
        optimizer=optimizer,
        epoch=epoch,
        best_value=best.best_value,
        epochs_without_improvement=best.epochs_without_improvement,
    )
    latest = checkpoints_lib.restore_latest(checkpoints, runs.checkpoints_dir(cfg.run_dir))
    if latest:
        log.info("Resuming from %s at step %d", latest, int(optimizer.iterations.numpy()))
    elif cfg.train.init_from:
        checkpoints_lib.warm_start(
            model,
            str(cfg.train.init_from),
            cfg.train.init_partial,
            lambda source_run: model_lib.build_model(
                runs.load_config(source_run).model, runs.load_metadata(source_run)
            ),
        )
    state = TrainState(model, optimizer, metrics, epoch, best, checkpoints)
    if state.fine_tune is not None:
        state.fine_tune.set_phase(model, int(epoch.numpy()))  # the phase it resumes in
    return state


def seed_states(model: keras.Model) -> list[tf.Variable]:
    """The state variables of the model's keras.random.SeedGenerators (one per dropout)."""
    return [v for v in model.non_trainable_variables if v.path.endswith("seed_generator_state")]


def build_model_and_optimizer(
    cfg: DictConfig,
    metadata: Metadata,
    records_dir: str,
    strategy: tf.distribute.Strategy,
    plan: TrainingPlan,
) -> tuple[keras.Model, keras.optimizers.Optimizer]:
    """The model in train.mixed_precision's dtype policy, with its starting weights, and its
    optimizer, built for every weight that will train (a fine-tune's second phase too)."""
    policy = distribute.mixed_precision_policy(cfg.train.mixed_precision)
    log.info("Dtype policy %s", policy)
    previous_policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        with strategy.scope():
            model = model_lib.build_model(
                cfg.model, metadata, initial_weights=True, data_dir=records_dir
            )
            fine_tune = getattr(model, "fine_tune", None)  # see models.FineTune
            schedule = build_run_schedule(cfg.train, plan, fine_tune)
            if fine_tune is not None:  # the second phase's weights include the first's
                fine_tune.set_phase(model, fine_tune.freeze_epochs)
            optimizer = model_lib.build_optimizer(
                cfg.train.optimizer, schedule, cfg.train.weight_decay
            )
            if policy == "mixed_float16":
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            optimizer.build(model.trainable_variables)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    return model, optimizer


def build_run_schedule(
    train_cfg: DictConfig, plan: TrainingPlan, fine_tune: FineTune | None
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """train.lr_schedule over the run's steps; with a fine-tune, one over each phase's steps,
    the second at the fine-tune's learning rate."""
    total_steps = plan.epochs * plan.steps_per_epoch

    def schedule(learning_rate: float, steps: int) -> object:
        return model_lib.build_schedule(
            learning_rate,
            train_cfg.lr_schedule,
            total_steps=steps,
            warmup_steps=train_cfg.warmup_steps,
            decay_steps=train_cfg.lr_decay_steps,
            decay_rate=train_cfg.lr_decay_rate,
        )

    if fine_tune is None:
        return schedule(train_cfg.learning_rate, total_steps)
    boundary = min(fine_tune.freeze_epochs, plan.epochs) * plan.steps_per_epoch
    return model_lib.TwoPhaseSchedule(
        schedule(train_cfg.learning_rate, boundary),
        schedule(fine_tune.learning_rate, total_steps - boundary),
        boundary,
    )


def make_train_step(
    strategy: tf.distribute.Strategy,
    state: TrainState,
    global_batch_size: int,
    jit_compile: bool,
    loss_fn: model_lib.WeightedLoss,
    clip_norm: float | None = None,
    l1: float = 0.0,
    l2: float = 0.0,
) -> Callable[[Iterator, bool], tuple[tf.Tensor, list | None]]:
    """Returns a tf.function that runs synchronous steps on every replica.

    step(iterator, with_gradients, num_steps=1) -> (each step's mean loss, [num_steps], and
    the last step's gradients or None). Several steps per call (train.steps_per_loop, Keras'
    steps_per_execution) leave out the Python side of a call for all but one of them; give
    num_steps as a tensor, so that every number of steps runs the same traced graph.
    """
    replica_step = make_replica_step(state, global_batch_size, loss_fn, clip_norm, l1, l2)
    if jit_compile:
        replica_step = tf.function(replica_step, jit_compile=True)

    def one_step(iterator: Iterator) -> tuple[tf.Tensor, list]:
        loss, gradients = strategy.run(replica_step, args=next(iterator))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None), gradients

    @tf.function
    def train_step(
        iterator: Iterator, with_gradients: bool, num_steps: tf.Tensor | int = 1
    ) -> tuple[tf.Tensor, list | None]:
        losses = tf.TensorArray(tf.float32, size=num_steps)
        for index in tf.range(num_steps - 1 if with_gradients else num_steps):
            losses = losses.write(index, tf.cast(one_step(iterator)[0], tf.float32))
        if not with_gradients:
            return losses.stack(), None
        loss, gradients = one_step(iterator)
        losses = losses.write(num_steps - 1, tf.cast(loss, tf.float32))
        # Equal on every replica (all-reduced): take them once.
        return losses.stack(), [strategy.experimental_local_results(g)[0] for g in gradients]

    return train_step


def make_replica_step(
    state: TrainState,
    global_batch_size: int,
    loss_fn: model_lib.WeightedLoss,
    clip_norm: float | None,
    l1: float,
    l2: float,
) -> Callable[[tf.Tensor, tf.Tensor], tuple[tf.Tensor, list]]:
    """One replica's part of a step: (inputs, labels) -> (its loss, the global gradients).

    The loss is each example's (weighted by its class, train.class_weight) summed over the
    replica's batch and divided by the global batch size, the same under every strategy."""
    model, optimizer, metrics = state.model, state.optimizer, state.metrics
    variables = model.trainable_variables

    def replica_step(inputs: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, list]:
        with tf.GradientTape() as tape:
            logits = model(inputs, training=True)
            per_example_loss = loss_fn(labels, logits)
            loss = tf.nn.compute_average_loss(
                per_example_loss, global_batch_size=global_batch_size
            )
            if model.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
            if l1 or l2:
                penalty = model_lib.weight_penalty(model, l1, l2)
                loss += tf.nn.scale_regularization_loss(penalty)
            scaled_loss = optimizer.scale_loss(loss)
        # The gradient of the whole global batch, summed over replicas once here so that it is
        # clipped and measured whole (Keras would clip each replica's part). Dense, because
        # Keras' Adam squares a sparse gradient (of a lookup table) row by row, duplicates apart.
        local_gradients = tape.gradient(scaled_loss, variables)
        context = tf.distribute.get_replica_context()
        gradients = context.all_reduce(tf.distribute.ReduceOp.SUM, local_gradients)
        gradients = [tf.convert_to_tensor(gradient) for gradient in gradients]
        loss_scale = optimizer.scale_loss(tf.constant(1.0))  # > 1 with float16 loss scaling
        norm = tf.linalg.global_norm(gradients)
        if clip_norm:
            gradients, _ = tf.clip_by_global_norm(gradients, clip_norm * loss_scale, norm)
        # The optimizer sums over replicas again: give each replica an equal share.
        shares = [gradient / context.num_replicas_in_sync for gradient in gradients]
        optimizer.apply_gradients(zip(shares, variables, strict=True))
        metrics["loss"].update_state(per_example_loss)  # weighted, as it is optimised
        metrics["accuracy"].update_state(labels, logits)
        metrics["gradient_norm"].update_state(norm / loss_scale)
        return loss, [gradient / loss_scale for gradient in gradients]

    return replica_step


def make_validation_run(eval_step: Callable, num_classes: int) -> Callable:
    """Returns a tf.function that runs `eval_step` on `num_steps` batches of an iterator.

    run(iterator, num_steps) -> (the summed loss, float64; the confusion matrix): one call
    and one read back per validation, not one per batch. The sums are those of
    eval.run_evaluation, in the same order.
    """

    @tf.function
    def run(iterator: Iterator, num_steps: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        loss_sum = tf.constant(0.0, tf.float64)
        confusion = tf.zeros([num_classes, num_classes], tf.int64)
        for _ in tf.range(num_steps):
            batch_loss, batch_confusion = eval_step(next(iterator))
            loss_sum += tf.cast(batch_loss, tf.float64)
            confusion += batch_confusion
        return loss_sum, confusion

    return run


class StepCall(NamedTuple):
    """One call of the training step, as the periodic actions see it after the call."""

    epoch: int
    step: int  # the global step the call ended at
    step_in_epoch: int  # the same step, counted from 1 in its epoch
    ends_epoch: bool
    gradients: list | None  # of the last step, when histograms were due


@dataclass(frozen=True)
class PeriodicAction:
    """orbit's ConditionalAction for work done every N steps: `action` runs after a call of
    the training step that ended at a multiple of `every` (0: never). `at_epoch_end` overrides
    that at the last step of an epoch: True runs it there too, False never (end_epoch does
    the same work then)."""

    every: int
    action: Callable[[StepCall], None]
    at_epoch_end: bool | None = None

    def is_due(self, call: StepCall) -> bool:
        if call.ends_epoch and self.at_epoch_end is not None:
            return self.at_epoch_end
        return bool(self.every) and call.step % self.every == 0

    def next_due(self, step: int) -> float:
        """The first step at or after `step` that is a multiple of `every` (inf: never)."""
        return -(-step // self.every) * self.every if self.every else math.inf


class FiniteLossCheck:
    """Collects each call's losses on the device and reads them back only when checked
    (before logging or saving), so that a call does not wait for the device."""

    def __init__(self) -> None:
        self.pending: list[tuple[int, tf.Tensor]] = []  # (first step, losses) of each call

    def add(self, first_step: int, losses: tf.Tensor) -> None:
        self.pending.append((first_step, losses))

    def check(self) -> None:
        """Stops the run, naming the first step whose loss was NaN or infinite.

        Called before anything is saved, so no checkpoint ever holds the broken weights.
        """
        if not self.pending:
            return
        losses = tf.concat([losses for _, losses in self.pending], axis=0).numpy()
        bad = np.flatnonzero(~np.isfinite(losses))
        steps = [
            first + index
            for first, call_losses in self.pending
            for index in range(call_losses.shape[0])
        ]
        self.pending = []
        if bad.size:
            raise FloatingPointError(
                f"The training loss became {losses[bad[0]]} at step {steps[bad[0]]}; the run "
                "stopped and saved nothing after it. Lower train.learning_rate, set "
                "train.clip_norm, or check the data."
            )


class ProgressLog:
    """An epoch's progress bar and, at the logging steps, the running training metrics: as
    TensorBoard scalars, a log line and the callbacks' on_train_batch_end."""

    def __init__(
        self,
        state: TrainState,
        plan: TrainingPlan,
        tensorboard: summaries.TrainingSummaries,
        callbacks: keras.callbacks.CallbackList,
    ) -> None:
        self.state, self.plan = state, plan
        self.tensorboard, self.callbacks = tensorboard, callbacks
        self.progbar: keras.utils.Progbar | None = None  # the epoch's, from start_epoch()
        self.epoch_start = (0.0, 0)  # (time, step in epoch) where the epoch (re)started
        self.values = {}  # the latest logged training metrics

    def start_epoch(self, first: int) -> None:
        """Resets the metrics and the bar for an epoch that starts at its step `first`."""
        for metric in self.state.metrics.values():
            metric.reset_state()
        verbose = 1 if sys.stdout.isatty() else 0
        self.progbar = keras.utils.Progbar(
            self.plan.steps_per_epoch, verbose=verbose, unit_name="step"
        )
        self.epoch_start = (time.perf_counter(), first - 1)

    def advance(self, step_in_epoch: int) -> None:
        self.progbar.update(step_in_epoch)

    def log(self, call: StepCall) -> None:
        """Writes the training scalars, a progress line and the progress bar."""
        values = {name: float(metric.result()) for name, metric in self.state.metrics.items()}
        start_time, start_step = self.epoch_start
        examples = (call.step_in_epoch - start_step) * self.plan.global_batch_size
        values["examples_per_second"] = examples / (time.perf_counter() - start_time)
        learning_rate = current_learning_rate(self.state.optimizer)
        self.tensorboard.write_training(values, learning_rate, call.step)
        log.info(
            "epoch %d/%d step %d/%d - %s",
            call.epoch + 1,
            self.plan.epochs,
            call.step_in_epoch,
            self.plan.steps_per_epoch,
            " - ".join(f"{name} {value:.4g}" for name, value in values.items()),
            extra={"progress": True},
        )
        self.values = values
        self.callbacks.on_train_batch_end(call.step, {**values, "learning_rate": learning_rate})
        self.progbar.update(call.step_in_epoch, values=list(values.items()))


class Validator:
    """Validates on the whole validation split or its subset in one call per pass, each read
    from one iterator that serves every pass of the run (a new one per validation rebuilt the
    pipeline, which took longer than validating)."""

    def __init__(
        self,
        strategy: tf.distribute.Strategy,
        model: keras.Model,
        num_classes: int,
        datasets: Datasets,
    ) -> None:
        eval_step = make_eval_step(strategy, model, num_classes)
        self.validation_run = make_validation_run(eval_step, num_classes)
        self.datasets = datasets
        self.iterators = {}  # dataset name -> its iterator

    def validate(self, name: str) -> dict:
        """One pass over Datasets' `name` (validation or validation_subset), read from the
        iterator that serves every pass of the run.

        Returns:
            Loss, accuracy, macro F1, num_examples (padding left out) and the confusion
            matrix.
        """
        if name not in self.iterators:
            self.iterators[name] = iter(getattr(self.datasets, name))
        num_steps = tf.constant(self.datasets.steps_per_pass[name])
        loss_sum, confusion = self.validation_run(self.iterators[name], num_steps)
        confusion = confusion.numpy()
        count = int(confusion.sum())
        return {
            "loss": float(loss_sum) / max(count, 1),
            "accuracy": float(np.trace(confusion)) / max(count, 1),
            "macro_f1": report.macro_f1(confusion),
            "num_examples": count,
            "confusion_matrix": confusion,
        }


class TrainingLoop:
    """The training loop in the shape of orbit's single-task trainer: begin() once; per
    epoch train_epoch(), one step() per call of the training step, and end_epoch() (full
    validation and the saves); then end() for the result. What is done every N steps is one
    list of PeriodicActions, which also decides where a call of several steps must stop."""

    def __init__(
        self,
        cfg: DictConfig,
        state: TrainState,
        plan: TrainingPlan,
        datasets: Datasets,
        make_step: Callable[[], Callable],  # make_train_step with its arguments
        validator: Validator,
        metadata: Metadata,
        records_dir: str,
        write_dir: Path,  # run_dir, but on workers other than the chief
        heartbeat: Callable[[], None],  # tells the watchdog that training progresses
    ) -> None:
        train_cfg = cfg.train
        self.cfg, self.state, self.plan, self.datasets = cfg, state, plan, datasets
        self.metadata, self.records_dir, self.heartbeat = metadata, records_dir, heartbeat
        self.run_dir = Path(cfg.run_dir)
        self.make_step, self.validator = make_step, validator
        self.train_step = None  # traced by enter_phase() for the weights that train
        self.phase = 0
        chief = write_dir == self.run_dir
        self.callbacks = build_callbacks(cfg, self.run_dir, state.model, chief)
        self.tensorboard = summaries.TrainingSummaries(write_dir / "tensorboard")
        self.losses = FiniteLossCheck()
        self.train_iterator = None  # opened by begin()
        self.progress_log = ProgressLog(state, plan, self.tensorboard, self.callbacks)
        self.progress = PeriodicAction(
            train_cfg.log_every_steps, self.log_progress, at_epoch_end=True
        )
        self.histograms = PeriodicAction(train_cfg.histogram_every_steps, self.write_histograms)
        self.periodic = [
            self.progress,
            self.histograms,
            PeriodicAction(train_cfg.validate_every_steps, self.validate_subset),
            PeriodicAction(
                train_cfg.checkpoint_every_steps, self.save_checkpoint, at_epoch_end=False
            ),
        ]

    def run(self) -> dict:
        """Trains the epochs left; returns train()'s result."""
        self.state.model.stop_training = False  # a callback may set it, e.g. EarlyStopping
        validation = None
        try:
            self.begin()
            for epoch in range(int(self.state.epoch.numpy()), self.plan.epochs):
                if self.state.best.should_stop() or self.state.model.stop_training:
                    break
                self.callbacks.on_epoch_begin(epoch)
                self.enter_phase(epoch)
                self.train_epoch(epoch)
                validation = self.end_epoch(epoch)
        finally:
            self.tensorboard.close()
        return self.end(validation)

    def begin(self) -> None:
        """Writes the config, hparams and (new run) the graph; opens the train stream."""
        step = self.state.step
        self.tensorboard.write_config(OmegaConf.to_yaml(self.cfg, resolve=True), step)
{%- if cookiecutter.model_type == "cnn" %}
        inputs = sample_inputs(self.datasets.spec)
        self.tensorboard.write_inputs(inputs, step)
{%- endif %}
        if step == 0:
            config = OmegaConf.to_container(self.cfg, resolve=True)
            self.tensorboard.write_hparams_and_trace(config, self.run_dir.name)
        self.train_iterator = iter(self.datasets.train)
        self.callbacks.on_train_begin()

    def enter_phase(self, epoch: int) -> None:
        """Traces the training step for the weights that train in the epoch: once, and again
        where a fine-tune's second phase starts (state.fine_tune)."""
        fine_tune = self.state.fine_tune
        phase = fine_tune.phase(epoch) if fine_tune is not None else 0
        if self.train_step is not None and phase == self.phase:
            return
        if fine_tune is not None:
            fine_tune.set_phase(self.state.model, epoch)
            log.info(
                "Epoch %d: fine-tune phase %d, %d trainable weights",
                epoch + 1,
                phase + 1,
                len(self.state.model.trainable_weights),
            )
        self.train_step, self.phase = self.make_step(), phase

    def train_epoch(self, epoch: int) -> None:
        """Runs the epoch's remaining steps, several per call (see last_step_of_call)."""
        steps_per_epoch = self.plan.steps_per_epoch
        first = self.state.step - epoch * steps_per_epoch + 1  # > 1 when resumed mid-epoch
        self.progress_log.start_epoch(first)
        while first <= steps_per_epoch:
            last = self.last_step_of_call(epoch, first)
            self.step(epoch, first, last)
            first = last + 1

    def last_step_of_call(self, epoch: int, first: int) -> int:
        """The step in the epoch at which a call that starts at its step `first` ends:
        train.steps_per_loop steps later at most, at the end of the epoch, or at the first
        step where a periodic action is due, so that every due step ends a call."""
        offset = epoch * self.plan.steps_per_epoch
        last = min(first + self.cfg.train.steps_per_loop - 1, self.plan.steps_per_epoch)
        due = (periodic.next_due(offset + first) - offset for periodic in self.periodic)
        return min(last, *due)

    def step(self, epoch: int, first: int, last: int) -> None:
        """One call of the training step for steps `first` to `last` of the epoch, then the
        periodic actions due at its last step."""
        offset = epoch * self.plan.steps_per_epoch
        call = StepCall(epoch, offset + last, last, last == self.plan.steps_per_epoch, None)
        losses, gradients = self.train_step(
            self.train_iterator, self.histograms.is_due(call), tf.constant(last - first + 1)
        )
        self.losses.add(offset + first, losses)
        self.heartbeat()
        if offset + first == 1:  # the run's first call, traced since begin()
            self.tensorboard.write_graph()
        call = call._replace(gradients=gradients)
        if not self.progress.is_due(call):
            self.progress_log.advance(last)
        for periodic in self.periodic:
            if periodic.is_due(call):
                periodic.action(call)

    def end_epoch(self, epoch: int) -> dict:
        """Full validation, the best checkpoint, then the epoch's checkpoint."""
        self.losses.check()
        state, monitor = self.state, self.cfg.train.monitor
        step = state.step
        validation = self.validator.validate("validation")
        self.heartbeat()
        self.tensorboard.write_validation(validation, self.metadata.class_names, step)
        improved = state.best.update(validation)
        state.epoch.assign(epoch + 1)
        if improved:
            record = {"metric": monitor, "value": state.best.best, "epoch": epoch + 1}
            checkpoints_lib.save_best(state.checkpoints, step, record)
        state.checkpoints.latest.save(checkpoint_number=step)
        train_values = self.progress_log.values
        logs = epoch_logs(train_values, validation, state.optimizer)
        log_epoch(epoch, self.plan.epochs, train_values, validation, improved, monitor)
        self.callbacks.on_epoch_end(epoch, logs)
        return validation

    def end(self, validation: dict | None) -> dict:
        """The result of train(), logged as one line."""
        if validation is None:  # nothing left to train: report the checkpoint as it is
            validation = self.validator.validate("validation")
{%- if cookiecutter.model_type == "rnn" %}
        self.tensorboard.write_embedding(self.state.model, self.records_dir)
{%- endif %}
        monitor = self.cfg.train.monitor
        train_values = self.progress_log.values
        result = make_result(self.state, monitor, train_values, validation, self.run_dir)
        log_result(result, monitor)
        self.callbacks.on_train_end(result)
        return result

    # === The periodic actions ===

    def log_progress(self, call: StepCall) -> None:
        self.losses.check()
        self.progress_log.log(call)

    def write_histograms(self, call: StepCall) -> None:
        variables = self.state.model.trainable_variables
        self.tensorboard.write_histograms(variables, call.gradients, call.step)

    def validate_subset(self, call: StepCall) -> None:
        """Validates on the first train.validation_steps batches of the split."""
        subset = self.validator.validate("validation_subset")
        self.tensorboard.write_subset_validation(subset, call.step)
        log.info(
            "step %d - validation subset of %d examples - loss %.4f - accuracy %.4f",
            call.step,
            subset["num_examples"],
            subset["loss"],
            subset["accuracy"],
        )

    def save_checkpoint(self, call: StepCall) -> None:
        self.losses.check()
        self.state.checkpoints.latest.save(checkpoint_number=call.step)
{%- if cookiecutter.model_type == "cnn" %}


def sample_inputs(spec: data_loader.InputSpec) -> tf.Tensor:
    """The first training examples as the model sees them (augmented as in training)."""
    spec = dataclasses.replace(spec, cache="none", shuffle_buffer=1, deterministic=True)
    dataset = data_loader.load_split(spec, "train", summaries.INPUT_GRID_SIZE, training=True)
    return next(iter(dataset))[0]
{%- endif %}


def current_learning_rate(optimizer: keras.optimizers.Optimizer) -> float:
    return float(np.asarray(optimizer.learning_rate))


def epoch_logs(
    train_values: dict, validation: dict, optimizer: keras.optimizers.Optimizer
) -> dict:
    """What the callbacks' on_epoch_end gets."""
    return {
        "loss": train_values["loss"],
        "accuracy": train_values["accuracy"],
        "val_loss": validation["loss"],
        "val_accuracy": validation["accuracy"],
        "val_macro_f1": validation["macro_f1"],
        "learning_rate": current_learning_rate(optimizer),
    }


def log_epoch(
    epoch: int, epochs: int, train_values: dict, validation: dict, improved: bool, monitor: str
) -> None:
    log.info(
        "epoch %d/%d - loss %.4f - accuracy %.4f - val_loss %.4f - val_accuracy %.4f"
        " - val_macro_f1 %.4f (%d validation examples) - %.0f examples/s%s",
        epoch + 1,
        epochs,
        train_values["loss"],
        train_values["accuracy"],
        validation["loss"],
        validation["accuracy"],
        validation["macro_f1"],
        validation["num_examples"],
        train_values["examples_per_second"],
        f" - best {monitor} so far" if improved else "",
    )


def make_result(
    state: TrainState, monitor: str, train_values: dict, validation: dict, run_dir: Path
) -> dict:
    """train()'s result: the final metrics, the checkpoints and a digest of the weights."""
    return {
        "epochs": int(state.epoch.numpy()),
        "steps": state.step,
        "loss": train_values.get("loss"),
        "accuracy": train_values.get("accuracy"),
        "val_loss": validation["loss"],
        "val_accuracy": validation["accuracy"],
        "val_macro_f1": validation["macro_f1"],
        f"best_{monitor}": state.best.best,
        "run_dir": str(run_dir),
        "checkpoint": state.checkpoints.latest.latest_checkpoint,
        "best_checkpoint": state.checkpoints.best.latest_checkpoint,
        "weights_digest": weights_digest(state.model),
    }


def log_result(result: dict, monitor: str) -> None:
    log.info(
        "Done: %d epochs, %d steps, val_accuracy %.4f; best %s %.4f in %s; latest in %s; "
        "weights %s",
        result["epochs"],
        result["steps"],
        result["val_accuracy"],
        monitor,
        result[f"best_{monitor}"],
        result["best_checkpoint"],
        result["checkpoint"],
        result["weights_digest"],
    )


def weights_digest(model: keras.Model) -> str:
    """A short SHA-256 of every weight: equal digests, equal models (e.g. across workers)."""
    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()[:16]


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
