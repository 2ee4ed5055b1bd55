"""The optimizer of train.optimizer and its learning rate (train.lr_schedule), in two phases
for a net that fine-tunes (models.FineTune). Try it:

    python -c "from {{ cookiecutter.package_name }} import optimizer; help(optimizer)"
"""

from collections.abc import Mapping

import keras
import tensorflow as tf

from .models import FineTune

Schedule = float | keras.optimizers.schedules.LearningRateSchedule


def build_optimizer(name: str, learning_rate: Schedule, weight_decay: float) -> keras.Optimizer:
    """adam, adamw (decoupled weight decay) or sgd (momentum 0.9). No clipnorm: the train
    step clips the global batch's gradient, where Keras would clip each replica's part."""
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=0.9)
    return keras.optimizers.Adam(learning_rate)


def build_schedule(train_cfg: Mapping, learning_rate: float, total_steps: int) -> Schedule:
    """Constant, or cosine decay to 0 over `total_steps` (after a linear warm-up from 0 over
    train.warmup_steps)."""
    if train_cfg.lr_schedule == "constant":
        return learning_rate
    warmup = train_cfg.warmup_steps
    return keras.optimizers.schedules.CosineDecay(
        0.0 if warmup else learning_rate,
        max(total_steps - warmup, 1),
        warmup_target=learning_rate if warmup else None,
        warmup_steps=warmup,
    )


def run_schedule(train_cfg: Mapping, steps_per_epoch: int, fine_tune: FineTune | None) -> Schedule:
    """The schedule over the run; for a fine-tune, one per phase, the second at its rate."""
    total_steps = train_cfg.epochs * steps_per_epoch
    if fine_tune is None:
        return build_schedule(train_cfg, train_cfg.learning_rate, total_steps)
    boundary = min(fine_tune.freeze_epochs, train_cfg.epochs) * steps_per_epoch
    first = build_schedule(train_cfg, train_cfg.learning_rate, boundary)
    second = build_schedule(train_cfg, fine_tune.learning_rate, total_steps - boundary)
    return TwoPhaseSchedule(first, second, boundary)


class TwoPhaseSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """`first` (a rate or a schedule) before step `boundary`, then `second` from there on."""

    def __init__(self, first: Schedule, second: Schedule, boundary: int) -> None:
        self.first, self.second, self.boundary = first, second, boundary

    def __call__(self, step: tf.Tensor) -> tf.Tensor:
        step = tf.cast(step, tf.float32)
        first = self.first(step) if callable(self.first) else self.first
        second = self.second(step - self.boundary) if callable(self.second) else self.second
        return tf.where(step < self.boundary, tf.cast(first, tf.float32), second)
