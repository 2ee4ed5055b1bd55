"""The nets: ``model=<name>`` picks ``configs/model/<name>.yaml``, whose ``_target_`` names
``build_<name>(*, ...)`` in ``models/<name>net.py``, a functional keras.Model whose last layer,
"logits", gives unnormalised scores. docs/architecture.md shows how to add one."""
{%- if cookiecutter.model_type == "cnn" %}

from collections.abc import Callable
from dataclasses import dataclass

import keras


@dataclass(frozen=True)
class FineTune:
    """A builder's `model.fine_tune`: `freeze_epochs` epochs train what set_trainable(model, False)
    leaves trainable (at train.learning_rate), then what (model, True) does, at `learning_rate`."""

    freeze_epochs: int
    learning_rate: float
    set_trainable: Callable[[keras.Model, bool], None]
{%- endif %}
