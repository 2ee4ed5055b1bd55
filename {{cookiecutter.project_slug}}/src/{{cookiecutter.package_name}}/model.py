"""Builds the net of model.* (its `_target_` builder, through hydra.utils.instantiate, with the
data's values) and what trains it: the loss, the optimizer of train.optimizer and its learning
rate (train.lr_schedule; for a net that fine-tunes, models.FineTune, one schedule per phase).
"""

import inspect
import logging
import sys
from collections.abc import Callable, Mapping

import hydra
import keras
import tensorflow as tf
from hydra.errors import InstantiationException

from . import distribute
from .data.metadata import Metadata
from .models import FineTune

log = logging.getLogger(__name__)
# The builder arguments that come from the data (Metadata.model_arguments), not configs/model/.
{%- if cookiecutter.model_type == "cnn" %}
DATA_ARGUMENTS = ("num_classes", "input_shape", "mean", "std")
{%- else %}
DATA_ARGUMENTS = ("num_classes", "vectorizer")
{%- endif %}
WeightedLoss = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]  # (labels, logits) -> per example
Schedule = float | keras.optimizers.schedules.LearningRateSchedule


def check_options(model_cfg: Mapping) -> Callable[..., keras.Model]:
    """The builder of model._target_; a ValueError names the model.* keys it does not take
    and the options left unset."""
    name, target = model_cfg.get("name"), model_cfg.get("_target_")
    try:
        build = hydra.utils.get_method(str(target))
    except ImportError as error:
        raise ValueError(f"model._target_={target} (configs/model/{name}.yaml): {error}") from None
    parameters = inspect.signature(build).parameters
    given = set(model_cfg) - {"name", "_target_"}
    problems = [f"takes no model.{key}" for key in sorted(given - set(parameters))] + [
        f"needs model.{key}"
        for key, parameter in parameters.items()
        if parameter.default is parameter.empty and key not in {*given, *DATA_ARGUMENTS}
    ]
    if problems:
        raise ValueError(
            f"model={name}: {target} {' and '.join(problems)}. Its options are that "
            f"function's keyword arguments, their values in configs/model/{name}.yaml."
        )
    return build


def build_model(
    model_cfg: Mapping, metadata: Metadata, data_dir: str | None = None
) -> keras.Model:
    """The net of model.* for the data of `metadata`. Without `data_dir` (the records folder),
    its module's INITIAL_WEIGHTS options are None: a model to restore reads no starting weights."""
    build = check_options(model_cfg)
    options = {key: model_cfg[key] for key in model_cfg if key != "name"}
    if data_dir is None:
        module = sys.modules[build.__module__]
        options.update(dict.fromkeys(getattr(module, "INITIAL_WEIGHTS", ())))
    data = metadata.model_arguments(data_dir)
    data = {key: data[key] for key in inspect.signature(build).parameters if key in data}
    try:
        return hydra.utils.instantiate(options, **data, _convert_="all")
    except InstantiationException as error:  # the builder's own error says what is wrong
        raise error.__cause__ or error from None


def cross_entropy() -> keras.losses.Loss:
    """Per-example cross-entropy on logits: the validation loss, whatever trains, so runs compare."""
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="none")


def build_loss(train_cfg: Mapping, metadata: Metadata) -> WeightedLoss:
    """Each example's loss of train.loss and train.label_smoothing; with
    train.class_weight=balanced, times its class's inverse frequency (scaled to average 1)."""
    options = {"from_logits": True, "label_smoothing": train_cfg.label_smoothing}
    if train_cfg.loss == "focal":  # alpha 1: train.class_weight is the class weighting
        loss = keras.losses.CategoricalFocalCrossentropy(
            alpha=1.0, gamma=train_cfg.focal_gamma, reduction="none", **options
        )
    else:
        loss = keras.losses.CategoricalCrossentropy(reduction="none", **options)
    weights = None
    if train_cfg.class_weight == "balanced":
        counts = metadata.counts["train"]["per_class"]
        scale = sum(counts.values()) / metadata.num_classes
        weights = tf.constant([scale / max(counts.get(n, 0), 1) for n in metadata.class_names])

    def weighted_loss(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
        weight = None if weights is None else tf.gather(weights, tf.cast(labels, tf.int32))
        targets = tf.one_hot(labels, metadata.num_classes)
        # In float32: bfloat16 logits lose too much in the log.
        return loss(targets, tf.cast(logits, tf.float32), sample_weight=weight)

    return weighted_loss


def build_for_training(
    cfg: Mapping,
    metadata: Metadata,
    records_dir: str,
    strategy: tf.distribute.Strategy,
    steps_per_epoch: int,
) -> tuple[keras.Model, keras.optimizers.Optimizer]:
    """The model in train.mixed_precision's dtype policy with its starting weights, and an
    optimizer for every weight that will train (a fine-tune's second phase's too)."""
    policy = distribute.mixed_precision_policy(cfg.train.mixed_precision)
    log.info("Dtype policy %s", policy)
    previous_policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        with strategy.scope():
            model = build_model(cfg.model, metadata, records_dir)
            fine_tune = getattr(model, "fine_tune", None)  # see models.FineTune
            schedule = run_schedule(cfg.train, steps_per_epoch, fine_tune)
            if fine_tune is not None:  # the second phase's weights include the first's
                fine_tune.set_phase(model, fine_tune.freeze_epochs)
            optimizer = build_optimizer(cfg.train.optimizer, schedule, cfg.train.weight_decay)
            if policy == "mixed_float16":
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            optimizer.build(model.trainable_variables)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    return model, optimizer


def build_optimizer(name: str, learning_rate: Schedule, weight_decay: float) -> keras.Optimizer:
    """adam, adamw (decoupled weight decay) or sgd (momentum 0.9). No clipnorm: the train
    step clips the global batch's gradient, where Keras would clip each replica's part."""
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=0.9)
    return keras.optimizers.Adam(learning_rate)


def build_schedule(train_cfg: Mapping, learning_rate: float, total_steps: int) -> Schedule:
    """Constant, or cosine decay to 0 over `total_steps`, after train.warmup_steps from 0."""
    if train_cfg.lr_schedule == "constant":
        return learning_rate
    warmup = train_cfg.warmup_steps
    return keras.optimizers.schedules.CosineDecay(
        0.0, max(total_steps - warmup, 1), warmup_target=learning_rate, warmup_steps=warmup
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
