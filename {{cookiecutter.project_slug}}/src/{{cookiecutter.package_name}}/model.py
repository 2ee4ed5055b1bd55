"""Builds the net of model.* (its `_target_` builder, through hydra.utils.instantiate, with the
data's values) and what trains it: the loss, the optimizer and its learning-rate schedule{{ "
(for a net that fine-tunes, models.FineTune, one per phase)" if cookiecutter.model_type == "cnn" }}."""

import inspect
import logging
import pydoc
import sys
from collections.abc import Callable, Mapping

import hydra
import keras
import tensorflow as tf
from hydra.errors import InstantiationException

from . import distribute
from .data.metadata import Metadata
{%- if cookiecutter.model_type == "cnn" %}
from .models import FineTune
{%- endif %}

log = logging.getLogger(__name__)
# The builder arguments that come from the data (Metadata.model_arguments), not configs/model/.
{%- if cookiecutter.model_type == "cnn" %}
DATA_ARGUMENTS = ("num_classes", "input_shape", "mean", "std")
{%- else %}
DATA_ARGUMENTS = ("num_classes", "vectorizer")
{%- endif %}
PerExampleLoss = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]  # (labels, logits) -> losses
Schedule = keras.optimizers.schedules.LearningRateSchedule


def check_options(model_cfg: Mapping) -> Callable[..., keras.Model]:
    """The builder of model._target_, or a ValueError naming what it lacks or does not take."""
    name, target = model_cfg.get("name"), model_cfg.get("_target_")
    build = pydoc.locate(str(target))  # None if not found (hydra's lookup logs three lines)
    if not callable(build):
        raise ValueError(f"model._target_={target} (configs/model/{name}.yaml) names no function.")
    parameters = inspect.signature(build).parameters
    given = set(model_cfg) - {"name", "_target_"}
    required = [key for key, value in parameters.items() if value.default is value.empty]
    problems = [f"takes no model.{key}" for key in sorted(given - set(parameters))]
    problems += [f"needs model.{key}" for key in required if key not in {*given, *DATA_ARGUMENTS}]
    if problems:
        raise ValueError(
            f"model={name}: {target} {' and '.join(problems)}. Its options are that "
            f"function's keyword arguments, their values in configs/model/{name}.yaml."
        )
    return build


def build_model(model_cfg: Mapping, metadata: Metadata, data_dir: str | None = None):
    """The net of model.* for the data of `metadata`. Without `data_dir` (the records folder),
    its module's INITIAL_WEIGHTS options are None: a model to restore reads no starting weights."""
    build = check_options(model_cfg)
    options = {key: model_cfg[key] for key in model_cfg if key != "name"}
    if data_dir is None:
        module = sys.modules[build.__module__]
        options.update(dict.fromkeys(getattr(module, "INITIAL_WEIGHTS", ())))
    data = metadata.model_arguments()
    data = {key: data[key] for key in inspect.signature(build).parameters if key in data}
    try:
        return hydra.utils.instantiate(options, **data, _convert_="all")
    except InstantiationException as error:  # the builder's own error says what is wrong
        raise error.__cause__ or error from None


def build_loss(train_cfg: Mapping, metadata: Metadata) -> PerExampleLoss:
    """Each example's cross-entropy with train.label_smoothing (another loss: docs/training.md)."""
    loss = keras.losses.CategoricalCrossentropy(
        from_logits=True, label_smoothing=train_cfg.label_smoothing, reduction="none"
    )  # on float32 logits: bfloat16 ones lose too much in the log
    return lambda labels, logits: loss(
        tf.one_hot(labels, metadata.num_classes), tf.cast(logits, tf.float32)
    )


def build_for_training(
    cfg: Mapping, metadata: Metadata, records_dir: str, strategy, steps_per_epoch: int
) -> tuple[keras.Model, keras.optimizers.Optimizer]:
    """The model (train.mixed_precision's policy, starting weights) and its built optimizer."""
    policy = distribute.mixed_precision_policy(cfg.train.mixed_precision)
    log.info("Dtype policy %s", policy)
    previous_policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        with strategy.scope():
            model = build_model(cfg.model, metadata, records_dir)
{%- if cookiecutter.model_type == "cnn" %}
            fine_tune = getattr(model, "fine_tune", None)  # see models.FineTune
            schedule = run_schedule(cfg.train, steps_per_epoch, fine_tune)
            if fine_tune is not None:  # the second phase's weights include the first's
                fine_tune.set_trainable(model, True)
{%- else %}
            total_steps = cfg.train.epochs * steps_per_epoch
            schedule = build_schedule(cfg.train.lr_schedule, cfg.train.learning_rate, total_steps)
{%- endif %}
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


def build_schedule(name: str, learning_rate: float, total_steps: int) -> Schedule:
    """train.lr_schedule: cosine decay from the first step to 0 at `total_steps`, or constant."""
    final = 1.0 if name == "constant" else 0.0  # the fraction of the rate left at the end
    return keras.optimizers.schedules.CosineDecay(learning_rate, max(total_steps, 1), final)
{%- if cookiecutter.model_type == "cnn" %}


def run_schedule(train_cfg: Mapping, steps_per_epoch: int, fine_tune: FineTune | None) -> Schedule:
    """The schedule over the run; for a fine-tune, one per phase, the second at its rate."""
    name, total_steps = train_cfg.lr_schedule, train_cfg.epochs * steps_per_epoch
    if fine_tune is None:
        return build_schedule(name, train_cfg.learning_rate, total_steps)
    boundary = min(fine_tune.freeze_epochs, train_cfg.epochs) * steps_per_epoch
    first = build_schedule(name, train_cfg.learning_rate, boundary)
    second = build_schedule(name, fine_tune.learning_rate, total_steps - boundary)
    return TwoPhaseSchedule(first, second, boundary)


class TwoPhaseSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """`first` before step `boundary`, then `second` from there on."""

    def __init__(self, first: Schedule, second: Schedule, boundary: int) -> None:
        self.first, self.second, self.boundary = first, second, boundary

    def __call__(self, step: tf.Tensor) -> tf.Tensor:
        return tf.where(step < self.boundary, self.first(step), self.second(step - self.boundary))
{%- endif %}
