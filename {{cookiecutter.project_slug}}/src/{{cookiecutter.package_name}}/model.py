"""Builds the chosen net and what trains it: loss, metrics, optimizer and schedule.

The training loss is cross-entropy, or the focal loss (Lin et al., 2017) written below as a
small custom Keras loss (FocalLoss), with label smoothing and class weights as train.* says.

Try it:

    python -c "from {{ cookiecutter.package_name }} import model; help(model)"
"""

from collections.abc import Mapping, Sequence
from pathlib import Path

import keras
import tensorflow as tf
from keras import ops

from .data.metadata import Metadata
from .models import get_net

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
            Metadata.MODEL_ARGUMENTS.
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
        loss = cross_entropy()
    else:  # cross-entropy is the focal loss with gamma 0
        gamma = train_cfg.focal_gamma if train_cfg.loss == "focal" else 0.0
        loss = FocalLoss(gamma, label_smoothing=train_cfg.label_smoothing, reduction="none")
    return WeightedLoss(loss, class_weights(train_cfg.class_weight, metadata))


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
    """Each example's training loss times the weight of its class (if any)."""

    def __init__(self, loss: keras.losses.Loss, weights: list[float] | None) -> None:
        self.loss = loss
        self.weights = None if weights is None else tf.constant(weights, tf.float32)

    def __call__(self, labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
        per_example = self.loss(labels, logits)
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


@keras.saving.register_keras_serializable(package=__package__)
class FocalLoss(keras.losses.Loss):
    """Focal loss between integer labels [batch] and scores [batch, num_classes].

    Args:
        gamma: focusing parameter, at least 0; 2 in the paper.
        alpha: None, a weight for every example, or one weight per class (the weight of each
            example's true class), e.g. the inverse class frequencies.
        from_logits: the scores are logits (True) or probabilities (False).
        label_smoothing: in [0, 1): the target is (1 - label_smoothing) on the true class
            plus label_smoothing spread evenly over all classes.
        reduction, name: as for every keras.losses.Loss; reduction="none" gives one loss
            per example, for a training step that averages over the global batch itself.
    """

    def __init__(
        self,
        gamma: float = 2.0,
        alpha: float | Sequence[float] | None = None,
        from_logits: bool = True,
        label_smoothing: float = 0.0,
        reduction: str | None = "sum_over_batch_size",
        name: str = "focal_loss",
        dtype: str | None = None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if gamma < 0:
            raise ValueError(f"gamma={gamma} must be at least 0.")
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"label_smoothing={label_smoothing} must be in [0, 1).")
        self.gamma = float(gamma)
        if alpha is not None:
            alpha = float(alpha) if isinstance(alpha, int | float) else [float(a) for a in alpha]
        self.alpha = alpha
        self.from_logits = from_logits
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        y_pred = ops.cast(y_pred, "float32")  # bfloat16 logits lose too much in the log
        labels = ops.cast(ops.reshape(y_true, [-1]), "int32")
        num_classes = ops.shape(y_pred)[-1]
        if self.from_logits:
            log_probabilities = ops.log_softmax(y_pred, axis=-1)
        else:
            epsilon = keras.config.epsilon()
            log_probabilities = ops.log(ops.clip(y_pred, epsilon, 1.0 - epsilon))
        targets = ops.one_hot(labels, num_classes, dtype="float32")
        if self.label_smoothing:
            targets = targets * (1.0 - self.label_smoothing) + self.label_smoothing / ops.cast(
                num_classes, "float32"
            )
        modulation = ops.power(1.0 - ops.exp(log_probabilities), self.gamma)
        losses = -ops.sum(targets * modulation * log_probabilities, axis=-1)
        if self.alpha is None:
            return losses
        alpha = ops.convert_to_tensor(self.alpha, "float32")
        return losses * (ops.take(alpha, labels) if len(alpha.shape) else alpha)

    def get_config(self):
        return {
            **super().get_config(),
            "gamma": self.gamma,
            "alpha": self.alpha,
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
        }
