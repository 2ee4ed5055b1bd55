"""Builds the chosen net and what trains it: loss, metrics, optimizer and schedule.

Try it:

    python -c "from {{ cookiecutter.package_name }} import model; help(model)"
"""

from collections.abc import Mapping

import keras

from .models import MODELS

OPTIMIZERS = {
    "adam": lambda rate, decay: keras.optimizers.Adam(rate),
    "adamw": lambda rate, decay: keras.optimizers.AdamW(rate, weight_decay=decay),
    "sgd": lambda rate, decay: keras.optimizers.SGD(rate, momentum=0.9),
}
LR_SCHEDULES = ("constant", "cosine")


def build_model(model_cfg: Mapping, metadata: dict, **extra_options: object) -> keras.Model:
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
    return MODELS[name](num_classes=metadata["num_classes"], **metadata["model_inputs"], **options)


def build_optimizer(
    name: str,
    learning_rate: float,
    lr_schedule: str = "constant",
    weight_decay: float = 0.0,
    total_steps: int = 1,
) -> keras.optimizers.Optimizer:
    """Returns the optimizer named by train.optimizer with its learning-rate schedule.

    Args:
        name: "adam", "adamw" or "sgd" (with momentum 0.9).
        learning_rate: the initial learning rate.
        lr_schedule: "constant", or "cosine" to decay to 0 over `total_steps`.
        weight_decay: decoupled weight decay (adamw only).
        total_steps: training steps of the whole run.
    """
    if name not in OPTIMIZERS:
        raise ValueError(
            f"train.optimizer={name!r} is not supported; choose one of {', '.join(OPTIMIZERS)}."
        )
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(
            f"train.lr_schedule={lr_schedule!r} is not supported; choose one of "
            f"{', '.join(LR_SCHEDULES)}."
        )
    rate = learning_rate
    if lr_schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(learning_rate, max(total_steps, 1))
    return OPTIMIZERS[name](rate, weight_decay)


def build_loss() -> keras.losses.Loss:
    """Per-example cross-entropy on logits; the loop averages it over the global batch."""
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="none")


def build_metrics() -> dict[str, keras.metrics.Metric]:
    """The running training metrics, aggregated over replicas by tf.distribute."""
    return {
        "loss": keras.metrics.Mean(name="loss"),
        "accuracy": keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
    }
