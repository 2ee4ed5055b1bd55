"""Builds the chosen net and what trains it: loss, metrics, optimizer and schedule.

Try it:

    python -c "from {{ cookiecutter.package_name }} import model; help(model)"
"""

from collections.abc import Mapping

import keras
import tensorflow as tf

from .data.metadata import Metadata
from .models import MODELS

# By train.optimizer; config.Optimizer and config.LrSchedule name the choices, and the config
# refuses any other when it is composed.
OPTIMIZERS = {
    "adam": lambda rate, decay: keras.optimizers.Adam(rate),
    "adamw": lambda rate, decay: keras.optimizers.AdamW(rate, weight_decay=decay),
    "sgd": lambda rate, decay: keras.optimizers.SGD(rate, momentum=0.9),
}


def build_model(model_cfg: Mapping, metadata: Metadata, **extra_options: object) -> keras.Model:
    """Calls the builder named by model.name with the data's shapes and the model options.

    `extra_options` go to the builder too (export passes unroll=True for TFLite).
    """
    options = {**model_cfg, **extra_options}
    name = options.pop("name")
    if name not in MODELS:
        raise ValueError(
            f"model={name!r} is not a model of this project; choose one of "
            f"{', '.join(sorted(MODELS))}."
        )
    return MODELS[name](num_classes=metadata.num_classes, **metadata.model_inputs, **options)


def build_schedule(
    learning_rate: float,
    lr_schedule: str,
    total_steps: int,
    *,
    warmup_steps: int,
    decay_steps: int,
    decay_rate: float,
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """The learning rate, or its schedule over the optimizer's steps.

    Args:
        learning_rate: the initial (constant, step) or peak (cosine) learning rate.
        lr_schedule: "constant"; "cosine": linear warm-up from 0 over `warmup_steps`, then
            cosine decay to 0 at `total_steps`; "step": times `decay_rate` every `decay_steps`.
        total_steps: training steps of the whole run.
        warmup_steps: warm-up steps of the cosine schedule.
        decay_steps, decay_rate: the step schedule.
    """
    if lr_schedule == "cosine" and warmup_steps:
        return keras.optimizers.schedules.CosineDecay(
            0.0,
            max(total_steps - warmup_steps, 1),
            warmup_target=learning_rate,
            warmup_steps=warmup_steps,
        )
    if lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(learning_rate, max(total_steps, 1))
    if lr_schedule == "step":
        return keras.optimizers.schedules.ExponentialDecay(
            learning_rate, max(decay_steps, 1), decay_rate, staircase=True
        )
    return learning_rate


def build_optimizer(
    name: str,
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule,
    weight_decay: float,
) -> keras.optimizers.Optimizer:
    """Returns the optimizer named by train.optimizer.

    Args:
        name: "adam", "adamw" or "sgd" (with momentum 0.9).
        learning_rate: a rate or a schedule (`build_schedule`).
        weight_decay: decoupled weight decay (adamw only).

    Gradient clipping (train.clip_norm) is the training step's job: it clips the gradient of
    the whole global batch, where a Keras optimizer would clip each replica's part.
    """
    return OPTIMIZERS[name](learning_rate, weight_decay)


def weight_penalty(model: keras.Model, l1: float, l2: float) -> tf.Tensor:
    """l1 * sum|w| + l2 * sum w^2 over the kernels (matrices) of every layer; biases are free."""
    kernels = [
        tf.cast(weight, tf.float32) for weight in model.trainable_weights if len(weight.shape) >= 2
    ]
    return tf.add_n(
        [tf.reduce_sum(l1 * tf.abs(kernel) + l2 * tf.square(kernel)) for kernel in kernels]
    )


def build_loss() -> keras.losses.Loss:
    """Per-example cross-entropy on logits; the loop averages it over the global batch."""
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="none")


def build_metrics() -> dict[str, keras.metrics.Metric]:
    """The running training metrics, aggregated over replicas by tf.distribute."""
    return {
        "loss": keras.metrics.Mean(name="loss"),
        "accuracy": keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
        "gradient_norm": keras.metrics.Mean(name="gradient_norm"),
    }
