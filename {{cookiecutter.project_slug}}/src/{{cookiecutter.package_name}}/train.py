"""Train the model with one custom loop that serves every tf.distribute strategy.

    {{ cookiecutter.package_name }}-train                                  # default data, model and loop
    {{ cookiecutter.package_name }}-train train.epochs=5 run_dir=runs/exp1
    {{ cookiecutter.package_name }}-train experiment=smoke distribute=mirrored distribute.logical_cpus=2
    python -m {{ cookiecutter.package_name }}.train --cfg job              # print the resolved config

Training into a run directory that has checkpoints resumes from the latest one.
"""

import logging
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import hydra
import keras
import numpy as np
import tensorflow as tf
from omegaconf import DictConfig

from . import distribute, runs
from . import model as model_lib
from .config import register_configs
from .data import data_loader, input_ops, preprocess_data
from .eval import make_eval_step, run_evaluation

log = logging.getLogger(__name__)


@dataclass
class TrainState:
    """Everything the loop updates, created under the strategy's scope."""

    model: keras.Model
    optimizer: keras.optimizers.Optimizer
    metrics: dict[str, keras.metrics.Metric]
    epoch: tf.Variable
    manager: tf.train.CheckpointManager


@dataclass
class Plan:
    """The shape of the run: how many steps, of what size."""

    epochs: int
    steps_per_epoch: int
    global_batch_size: int


def train(cfg: DictConfig) -> dict:
    """Trains the model of `cfg` into cfg.run_dir, resuming from its latest checkpoint.

    Returns:
        The final metrics: train and validation loss and accuracy, epochs, steps,
        the run directory and the latest checkpoint.
    """
    for key in ("epochs", "batch_size", "log_every_steps", "keep_checkpoints"):
        if cfg.train[key] < 1:
            raise ValueError(f"train.{key}={cfg.train[key]} must be at least 1.")
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    runs.setup_logging(run_dir / "train.log")
    keras.utils.set_random_seed(cfg.seed)
    if cfg.train.deterministic:
        tf.config.experimental.enable_op_determinism()
    strategy = distribute.build_strategy(**cfg.distribute)
    records_dir, metadata = preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
    runs.copy_assets(records_dir, metadata, run_dir)
    runs.save_config(cfg, run_dir)

    global_batch_size = cfg.train.batch_size * strategy.num_replicas_in_sync
    steps_per_epoch = max(1, metadata["counts"]["train"]["total"] // global_batch_size)
    if cfg.train.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, cfg.train.max_steps_per_epoch)
    plan = Plan(cfg.train.epochs, steps_per_epoch, global_batch_size)

    train_data, validation_data = make_datasets(
        cfg, records_dir, metadata, strategy, plan, run_dir
    )
    state = build_state(cfg, metadata, strategy, plan, run_dir)
    return fit(cfg, state, strategy, plan, train_data, validation_data, metadata)


def make_datasets(
    cfg: DictConfig,
    records_dir: str,
    metadata: dict,
    strategy: tf.distribute.Strategy,
    plan: Plan,
    run_dir: Path,
) -> tuple[tf.distribute.DistributedDataset, tf.distribute.DistributedDataset]:
    """The distributed train (shuffled, repeated) and validation datasets.

    Each input pipeline (one per worker) reads its own shards and batches for its replicas.
    """
    example_fn = input_ops.make_example_fn(metadata, runs.assets_dir(run_dir))
    augment_fn = input_ops.make_augment_fn(cfg.data)

    def dataset_fn(split: str, training: bool) -> Callable:
        def make(input_context: tf.distribute.InputContext) -> tf.data.Dataset:
            return data_loader.load_split(
                records_dir,
                split,
                metadata,
                example_fn,
                input_context.get_per_replica_batch_size(plan.global_batch_size),
                training=training,
                seed=cfg.seed,
                cache=cfg.data.cache,
                augment_fn=augment_fn,
                shuffle_buffer=cfg.data.shuffle_buffer,
                deterministic=cfg.train.deterministic or not training,
                input_context=input_context,
            )

        return make

    return (
        strategy.distribute_datasets_from_function(dataset_fn("train", training=True)),
        strategy.distribute_datasets_from_function(dataset_fn("validation", training=False)),
    )


def build_state(
    cfg: DictConfig,
    metadata: dict,
    strategy: tf.distribute.Strategy,
    plan: Plan,
    run_dir: Path,
) -> TrainState:
    """Builds model, optimizer and metrics under the strategy and restores the latest checkpoint."""
    policy = distribute.mixed_precision_policy(cfg.train.mixed_precision)
    previous_policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        with strategy.scope():
            model = model_lib.build_model(cfg.model, metadata)
            schedule = model_lib.build_schedule(
                cfg.train.learning_rate,
                cfg.train.lr_schedule,
                total_steps=plan.epochs * plan.steps_per_epoch,
                warmup_steps=cfg.train.warmup_steps,
                decay_steps=cfg.train.lr_decay_steps,
                decay_rate=cfg.train.lr_decay_rate,
            )
            optimizer = model_lib.build_optimizer(
                cfg.train.optimizer, schedule, cfg.train.weight_decay, cfg.train.clip_norm
            )
            if policy == "mixed_float16":
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            optimizer.build(model.trainable_variables)
            metrics = model_lib.build_metrics()
            epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)

    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, epoch=epoch)
    manager = tf.train.CheckpointManager(
        checkpoint, str(runs.checkpoints_dir(run_dir)), max_to_keep=cfg.train.keep_checkpoints
    )
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        log.info("Resuming from %s at epoch %d", manager.latest_checkpoint, epoch.numpy())
    return TrainState(model, optimizer, metrics, epoch, manager)


def make_train_step(
    strategy: tf.distribute.Strategy,
    state: TrainState,
    global_batch_size: int,
    jit_compile: bool,
    l1: float = 0.0,
    l2: float = 0.0,
) -> Callable[[Iterator], None]:
    """Returns a tf.function that runs one synchronous step on every replica."""
    model, optimizer, metrics = state.model, state.optimizer, state.metrics
    loss_fn = model_lib.build_loss()

    def replica_step(inputs: tf.Tensor, labels: tf.Tensor) -> None:
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
        gradients = tape.gradient(scaled_loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        metrics["loss"].update_state(per_example_loss)
        metrics["accuracy"].update_state(labels, logits)

    if jit_compile:
        replica_step = tf.function(replica_step, jit_compile=True)

    @tf.function
    def train_step(iterator: Iterator) -> None:
        strategy.run(replica_step, args=next(iterator))

    return train_step


def train_epoch(
    train_step: Callable,
    iterator: Iterator,
    state: TrainState,
    plan: Plan,
    writer: tf.summary.SummaryWriter,
    log_every_steps: int,
) -> dict:
    """Runs one epoch of steps with a progress bar; logs scalars every `log_every_steps`."""
    for metric in state.metrics.values():
        metric.reset_state()
    progbar = keras.utils.Progbar(
        plan.steps_per_epoch, verbose=1 if sys.stdout.isatty() else 0, unit_name="step"
    )
    start = time.perf_counter()
    values = {}
    for step in range(1, plan.steps_per_epoch + 1):
        train_step(iterator)
        if step % log_every_steps and step != plan.steps_per_epoch:
            progbar.update(step)
            continue
        values = {name: float(metric.result()) for name, metric in state.metrics.items()}
        values["examples_per_second"] = (
            step * plan.global_batch_size / (time.perf_counter() - start)
        )
        global_step = int(state.optimizer.iterations.numpy())
        with writer.as_default(step=global_step):
            for name, value in values.items():
                tf.summary.scalar(name, value)
            tf.summary.scalar("learning_rate", float(np.asarray(state.optimizer.learning_rate)))
        progbar.update(step, values=list(values.items()))
    return values


def fit(
    cfg: DictConfig,
    state: TrainState,
    strategy: tf.distribute.Strategy,
    plan: Plan,
    train_data: tf.distribute.DistributedDataset,
    validation_data: tf.distribute.DistributedDataset,
    metadata: dict,
) -> dict:
    """The loop: train an epoch, validate, write summaries, save a checkpoint; repeat."""
    run_dir = Path(cfg.run_dir)
    jit_compile = distribute.resolve_switch(cfg.train.jit_compile, "train.jit_compile")
    train_step = make_train_step(
        strategy, state, plan.global_batch_size, jit_compile, cfg.train.l1, cfg.train.l2
    )
    eval_step = make_eval_step(strategy, state.model, metadata["num_classes"])
    writers = {
        name: tf.summary.create_file_writer(str(run_dir / "tensorboard" / name))
        for name in ("train", "validation")
    }
    iterator = iter(train_data)
    train_values, validation = {}, None
    for epoch in range(int(state.epoch.numpy()), plan.epochs):
        train_values = train_epoch(
            train_step, iterator, state, plan, writers["train"], cfg.train.log_every_steps
        )
        if not np.isfinite(train_values["loss"]):
            raise FloatingPointError(
                f"The training loss became {train_values['loss']} in epoch {epoch + 1} "
                f"(step {int(state.optimizer.iterations.numpy())}); nothing was saved for it. "
                "Lower train.learning_rate or check the data."
            )
        validation = run_evaluation(eval_step, validation_data, metadata["num_classes"])
        global_step = int(state.optimizer.iterations.numpy())
        with writers["validation"].as_default(step=global_step):
            tf.summary.scalar("loss", validation["loss"])
            tf.summary.scalar("accuracy", validation["accuracy"])
        state.epoch.assign(epoch + 1)
        state.manager.save(checkpoint_number=global_step)
        log.info(
            "epoch %d/%d - loss %.4f - accuracy %.4f - val_loss %.4f - val_accuracy %.4f"
            " - %.0f examples/s",
            epoch + 1,
            plan.epochs,
            train_values["loss"],
            train_values["accuracy"],
            validation["loss"],
            validation["accuracy"],
            train_values["examples_per_second"],
        )
    for writer in writers.values():
        writer.close()
    if validation is None:
        validation = run_evaluation(eval_step, validation_data, metadata["num_classes"])
    return summarize_run(state, train_values, validation, run_dir)


def summarize_run(state: TrainState, train_values: dict, validation: dict, run_dir: Path) -> dict:
    """The result of train(): logged as one line and returned."""
    result = {
        "epochs": int(state.epoch.numpy()),
        "steps": int(state.optimizer.iterations.numpy()),
        "loss": train_values.get("loss"),
        "accuracy": train_values.get("accuracy"),
        "val_loss": validation["loss"],
        "val_accuracy": validation["accuracy"],
        "run_dir": str(run_dir),
        "checkpoint": state.manager.latest_checkpoint,
    }
    log.info(
        "Done: %d epochs, %d steps, val_accuracy %.4f; checkpoints in %s",
        result["epochs"],
        result["steps"],
        result["val_accuracy"],
        runs.checkpoints_dir(run_dir),
    )
    return result


@hydra.main(version_base="1.3", config_path="configs", config_name="config")
def _main(cfg: DictConfig) -> None:
    with runs.exit_on_user_error():
        train(cfg)


def main() -> None:
    """Console script: {{ cookiecutter.package_name }}-train [key=value ...]"""
    register_configs()
    _main()


if __name__ == "__main__":
    main()
