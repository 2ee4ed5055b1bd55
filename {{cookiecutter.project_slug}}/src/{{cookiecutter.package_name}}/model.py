"""Builds the chosen net and what trains it: loss, metrics, optimizer and schedule.

The training loss is Keras' cross-entropy or its focal loss (Lin et al., 2017), with label
smoothing and class weights as train.* says.

Try it:

    python -c "from {{ cookiecutter.package_name }} import model; help(model)"
"""

import logging
from collections.abc import Mapping
from pathlib import Path

import keras
import tensorflow as tf

from . import distribute
from .data.metadata import Metadata
from .models import FineTune, get_net

log = logging.getLogger(__name__)
# By train.optimizer; config.Optimizer and config.LrSchedule name the choices, and the config
# refuses any other when it is composed.
OPTIMIZERS = {
    "adam": lambda rate, decay: keras.optimizers.Adam(rate),
    "adamw": lambda rate, decay: keras.optimizers.AdamW(rate, weight_decay=decay),
    "sgd": lambda rate, decay: keras.optimizers.SGD(rate, momentum=0.9),
}


def build_model(
    model_cfg: Mapping,
    metadata: Metadata,
    *,
    initial_weights: bool = False,
    data_dir: str | Path | None = None,
    **build_options: object,
) -> keras.Model:
    """Builds the net named by model.name for the data of `metadata` (see models/__init__.py).

    Args:
        model_cfg: model.* of the config: the name and the net's options, checked against
            its builder's signature.
        metadata: the data's; the builder gets those of its arguments named in
            models.DATA_ARGUMENTS.
        initial_weights: load the starting weights that the net's INITIAL_WEIGHTS options
            name (training from scratch); False, to restore a checkpoint into the model.
        data_dir: the folder of metadata.json and the files it names.
        build_options: given to builders that take them, e.g. unroll=True for TFLite.
    """
    net = get_net(model_cfg["name"])
    options = net.typed_options(model_cfg)
    if not initial_weights:
        options.update(dict.fromkeys(net.initial_weights))
    taken = net.parameters()
    data = metadata.model_arguments(data_dir).items()
    return net.build(
        **{key: value for key, value in data if key in taken},
        **options,
        **{key: value for key, value in build_options.items() if key in taken},
    )


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


def cross_entropy() -> keras.losses.Loss:
    """Per-example cross-entropy on logits: the validation and test loss (whatever the
    training loss), so that runs compare."""
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="none")


def build_loss(train_cfg: Mapping, metadata: Metadata) -> "WeightedLoss":
    """The training loss of train.loss, train.label_smoothing and train.class_weight."""
    if train_cfg.loss == "cross_entropy" and not train_cfg.label_smoothing:
        return WeightedLoss(cross_entropy(), class_weights(train_cfg.class_weight, metadata))
    # On one-hot targets, which label smoothing needs; cross-entropy is focal with gamma 0.
    loss = keras.losses.CategoricalFocalCrossentropy(
        alpha=1.0,  # no weight per example here: train.class_weight is the class weighting
        gamma=train_cfg.focal_gamma if train_cfg.loss == "focal" else 0.0,
        from_logits=True,
        label_smoothing=train_cfg.label_smoothing,
        reduction="none",
    )
    return WeightedLoss(
        loss, class_weights(train_cfg.class_weight, metadata), metadata.num_classes
    )


def class_weights(setting: object, metadata: Metadata) -> list[float] | None:
    """train.class_weight as one weight per class: None (none, null), the inverse class
    frequencies of the training split scaled to average 1 (balanced), or a {class name:
    weight} mapping (classes it leaves out weigh 1)."""
    names = metadata.class_names
    if setting in (None, "none"):
        return None
    if setting == "balanced":
        counts = metadata.counts["train"]["per_class"]
        total = sum(counts.values())
        return [total / (len(names) * max(counts.get(name, 0), 1)) for name in names]
    if isinstance(setting, Mapping) and set(setting) <= set(names):
        return [float(setting.get(name, 1.0)) for name in names]
    example = "{" + f"{names[0]}: 1.0, {names[-1]}: 5.0" + "}"
    raise ValueError(
        f"train.class_weight={setting!r} must be none, balanced or a mapping from class "
        f"names to weights, e.g. {example}; the classes are {', '.join(names)}."
    )


class WeightedLoss:
    """Each example's training loss times the weight of its class (if any), on integer labels
    (or on their one-hot targets, for a loss that takes those)."""

    def __init__(
        self, loss: keras.losses.Loss, weights: list[float] | None, one_hot: int | None = None
    ) -> None:
        self.loss = loss
        self.weights = None if weights is None else tf.constant(weights, tf.float32)
        self.one_hot = one_hot  # the number of classes, for a loss on one-hot targets

    def __call__(self, labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
        logits = tf.cast(logits, tf.float32)  # bfloat16 logits lose too much in the log
        targets = labels if self.one_hot is None else tf.one_hot(labels, self.one_hot)
        per_example = self.loss(targets, logits)
        if self.weights is None:
            return per_example
        return per_example * tf.gather(self.weights, tf.cast(labels, tf.int32))


class TwoPhaseSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """`first` for the steps before `boundary`, then `second` counted from the boundary
    (models.FineTune's two phases). Each is a rate or a schedule."""

    def __init__(self, first: object, second: object, boundary: int) -> None:
        self.first, self.second, self.boundary = first, second, boundary

    def __call__(self, step: tf.Tensor) -> tf.Tensor:
        step = tf.cast(step, tf.float32)
        first = self.first(step) if callable(self.first) else self.first
        second = self.second(step - self.boundary) if callable(self.second) else self.second
        return tf.where(step < self.boundary, tf.cast(first, tf.float32), second)

    def get_config(self) -> dict:
        return {"first": self.first, "second": self.second, "boundary": self.boundary}


def build_metrics() -> dict[str, keras.metrics.Metric]:
    """The running training metrics, aggregated over replicas by tf.distribute."""
    return {
        "loss": keras.metrics.Mean(name="loss"),
        "accuracy": keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
        "gradient_norm": keras.metrics.Mean(name="gradient_norm"),
    }


def build_for_training(
    cfg: Mapping,
    metadata: Metadata,
    records_dir: str,
    strategy: tf.distribute.Strategy,
    steps_per_epoch: int,
) -> tuple[keras.Model, keras.optimizers.Optimizer]:
    """The model in train.mixed_precision's dtype policy, with its starting weights, and its
    optimizer, built under the strategy for every weight that will train (a fine-tune's
    second phase too)."""
    policy = distribute.mixed_precision_policy(cfg.train.mixed_precision)
    log.info("Dtype policy %s", policy)
    previous_policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        with strategy.scope():
            model = build_model(cfg.model, metadata, initial_weights=True, data_dir=records_dir)
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


def run_schedule(
    train_cfg: Mapping, steps_per_epoch: int, fine_tune: FineTune | None
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """train.lr_schedule over the run's steps; with a fine-tune, one over each phase's steps,
    the second at the fine-tune's learning rate."""
    total_steps = train_cfg.epochs * steps_per_epoch

    def schedule(learning_rate: float, steps: int) -> object:
        return build_schedule(
            learning_rate,
            train_cfg.lr_schedule,
            total_steps=steps,
            warmup_steps=train_cfg.warmup_steps,
            decay_steps=train_cfg.lr_decay_steps,
            decay_rate=train_cfg.lr_decay_rate,
        )

    if fine_tune is None:
        return schedule(train_cfg.learning_rate, total_steps)
    boundary = min(fine_tune.freeze_epochs, train_cfg.epochs) * steps_per_epoch
    return TwoPhaseSchedule(
        schedule(train_cfg.learning_rate, boundary),
        schedule(fine_tune.learning_rate, total_steps - boundary),
        boundary,
    )
