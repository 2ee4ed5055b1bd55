"""The optimizer of train.optimizer and its learning rate over the run (train.lr_schedule),
in two phases for a net that fine-tunes (models.FineTune). Try it:

    python -c "from {{ cookiecutter.package_name }} import optimizer; help(optimizer)"
"""

from collections.abc import Mapping

import keras
import tensorflow as tf

from .models import FineTune

Schedule = float | keras.optimizers.schedules.LearningRateSchedule


def build_optimizer(name: str, learning_rate: Schedule, weight_decay: float) -> keras.Optimizer:
    """train.optimizer's: adam, adamw (with decoupled weight decay) or sgd (momentum 0.9).
    The training step clips the gradient of the whole global batch (train.clip_norm), where
    a Keras optimizer would clip each replica's part."""
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=0.9)
    return keras.optimizers.Adam(learning_rate)


def build_schedule(train_cfg: Mapping, learning_rate: float, total_steps: int) -> Schedule:
    """The learning rate of train.lr_schedule over `total_steps`: constant; cosine decay to 0
    (after a linear warm-up from 0 over train.warmup_steps); or step: times
    train.lr_decay_rate every train.lr_decay_steps."""
    warmup = train_cfg.warmup_steps
    if train_cfg.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            0.0 if warmup else learning_rate,
            max(total_steps - warmup, 1),
            warmup_target=learning_rate if warmup else None,
            warmup_steps=warmup,
        )
    if train_cfg.lr_schedule == "step":
        decay_steps = max(train_cfg.lr_decay_steps, 1)
        return keras.optimizers.schedules.ExponentialDecay(
            learning_rate, decay_steps, train_cfg.lr_decay_rate, staircase=True
        )
    return learning_rate


def run_schedule(train_cfg: Mapping, steps_per_epoch: int, fine_tune: FineTune | None) -> Schedule:
    """train.lr_schedule over the run's steps; with a fine-tune, one over each phase's steps,
    the second at the fine-tune's learning rate."""
    total_steps = train_cfg.epochs * steps_per_epoch
    if fine_tune is None:
        return build_schedule(train_cfg, train_cfg.learning_rate, total_steps)
    boundary = min(fine_tune.freeze_epochs, train_cfg.epochs) * steps_per_epoch
    return TwoPhaseSchedule(
        build_schedule(train_cfg, train_cfg.learning_rate, boundary),
        build_schedule(train_cfg, fine_tune.learning_rate, total_steps - boundary),
        boundary,
    )


class TwoPhaseSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """`first` for the steps before `boundary`, then `second` counted from the boundary.
    Each is a rate or a schedule."""

    def __init__(self, first: Schedule, second: Schedule, boundary: int) -> None:
        self.first, self.second, self.boundary = first, second, boundary

    def __call__(self, step: tf.Tensor) -> tf.Tensor:
        step = tf.cast(step, tf.float32)
        first = self.first(step) if callable(self.first) else self.first
        second = self.second(step - self.boundary) if callable(self.second) else self.second
        return tf.where(step < self.boundary, tf.cast(first, tf.float32), second)

    def get_config(self) -> dict:
        return {"first": self.first, "second": self.second, "boundary": self.boundary}
