"""Builds the chosen net and what trains it: the loss, the metrics, the optimizer.

model.* of the config names the net's builder (`_target_`, e.g. models.lenet5net.build_lenet5)
and gives its options; hydra.utils.instantiate calls it with them and the data's values. The
training loss is Keras' cross-entropy or focal loss, with label smoothing and class weights.

    python -c "from {{ cookiecutter.package_name }} import model; help(model)"
"""

import inspect
import logging
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import hydra
import keras
import tensorflow as tf
from hydra.errors import InstantiationException

from . import distribute
from . import optimizer as optimizer_lib
from .data.metadata import Metadata

log = logging.getLogger(__name__)
# The builder arguments whose values come from the data (Metadata.model_arguments), not from
# configs/model/: a net takes those of them it needs.
{%- if cookiecutter.model_type == "cnn" %}
DATA_ARGUMENTS = ("num_classes", "input_shape", "mean", "std")
{%- else %}
DATA_ARGUMENTS = ("num_classes", "sequence_length", "vocab_size", "vocabulary_file")
{%- endif %}
WeightedLoss = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]  # (labels, logits) -> per example


def check_options(model_cfg: Mapping) -> Callable[..., keras.Model]:
    """The builder that model._target_ names, once model.*'s keys are checked against its
    keyword arguments: a ValueError names those it does not take and the options left unset."""
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
    model_cfg: Mapping,
    metadata: Metadata,
    *,
    initial_weights: bool = False,
    data_dir: str | Path | None = None,
) -> keras.Model:
    """The net of model.* (name, _target_, options) for the data of `metadata` (and of
    `data_dir`, the folder of metadata.json and the files it names).

    initial_weights=False sets the options that the net module's INITIAL_WEIGHTS names (e.g.
    model.weights) to None: a model that a checkpoint is restored into reads nothing.
    """
    build = check_options(model_cfg)
    module = sys.modules[build.__module__]
    options = {key: model_cfg[key] for key in model_cfg if key != "name"}
    if not initial_weights:
        options.update(dict.fromkeys(getattr(module, "INITIAL_WEIGHTS", ())))
    data = metadata.model_arguments(data_dir)
    data = {key: data[key] for key in inspect.signature(build).parameters if key in data}
    try:
        return hydra.utils.instantiate(options, **data, _convert_="all")
    except InstantiationException as error:  # the builder's own error says what is wrong
        raise error.__cause__ or error from None


def weight_penalty(model: keras.Model, l1: float, l2: float) -> tf.Tensor:
    """Keras' L1L2 penalty (l1 * sum|w| + l2 * sum w^2) on every kernel; biases are free."""
    penalty = keras.regularizers.L1L2(l1, l2)
    kernels = [weight for weight in model.trainable_weights if len(weight.shape) >= 2]
    return tf.add_n([penalty(tf.cast(kernel, tf.float32)) for kernel in kernels])


def cross_entropy() -> keras.losses.Loss:
    """Per-example cross-entropy on logits: the validation and test loss (whatever the
    training loss), so that runs compare."""
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="none")


def build_loss(train_cfg: Mapping, metadata: Metadata) -> WeightedLoss:
    """The loss of train.loss and train.label_smoothing, each example's times the weight of
    its class (train.class_weight)."""
    weights = class_weights(train_cfg.class_weight, metadata)
    one_hot = train_cfg.loss == "focal" or bool(train_cfg.label_smoothing)
    loss = cross_entropy()
    if one_hot:  # label smoothing needs one-hot targets; cross-entropy is focal at gamma 0
        loss = keras.losses.CategoricalFocalCrossentropy(
            alpha=1.0,  # no weight per example here: train.class_weight is the class weighting
            gamma=train_cfg.focal_gamma if train_cfg.loss == "focal" else 0.0,
            from_logits=True,
            label_smoothing=train_cfg.label_smoothing,
            reduction="none",
        )

    def weighted_loss(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
        weight = None if weights is None else tf.gather(weights, tf.cast(labels, tf.int32))
        targets = tf.one_hot(labels, metadata.num_classes) if one_hot else labels
        # In float32: bfloat16 logits lose too much in the log.
        return loss(targets, tf.cast(logits, tf.float32), sample_weight=weight)

    return weighted_loss


def class_weights(setting: object, metadata: Metadata) -> tf.Tensor | None:
    """train.class_weight as one weight per class: None (none, null), the inverse class
    frequencies of the training split scaled to average 1 (balanced), or a {class name:
    weight} mapping (classes it leaves out weigh 1)."""
    names = metadata.class_names
    if setting in (None, "none"):
        return None
    if setting == "balanced":
        counts = metadata.counts["train"]["per_class"]
        total = sum(counts.values())
        return tf.constant([total / (len(names) * max(counts.get(n, 0), 1)) for n in names])
    if isinstance(setting, Mapping) and set(setting) <= set(names):
        return tf.constant([float(setting.get(name, 1.0)) for name in names])
    example = "{" + f"{names[0]}: 1.0, {names[-1]}: 5.0" + "}"
    raise ValueError(
        f"train.class_weight={setting!r} must be none, balanced or a mapping from class "
        f"names to weights, e.g. {example}; the classes are {', '.join(names)}."
    )


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
            schedule = optimizer_lib.run_schedule(cfg.train, steps_per_epoch, fine_tune)
            if fine_tune is not None:  # the second phase's weights include the first's
                fine_tune.set_phase(model, fine_tune.freeze_epochs)
            optimizer = optimizer_lib.build_optimizer(
                cfg.train.optimizer, schedule, cfg.train.weight_decay
            )
            if policy == "mixed_float16":
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            optimizer.build(model.trainable_variables)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    return model, optimizer
