"""The nets: ``model=<name>`` picks ``configs/model/<name>.yaml``, whose ``_target_`` names
``build_<name>(*, ...)`` in ``models/<name>net.py``, a functional keras.Model whose last layer,
"logits", gives unnormalised scores. docs/architecture.md shows how to add one.
"""

from collections.abc import Callable
from dataclasses import dataclass

import keras


@dataclass(frozen=True)
class FineTune:
    """Two phases a builder may give its model as `model.fine_tune`: `freeze_epochs` epochs
    train what `set_trainable(model, 0)` leaves trainable at train.learning_rate, the rest what
    `set_trainable(model, blocks)` does at `learning_rate`."""

    freeze_epochs: int
    blocks: int
    learning_rate: float
    set_trainable: Callable[[keras.Model, int], None]

    def phase(self, epoch: int) -> int:
        return int(epoch >= self.freeze_epochs)

    def set_phase(self, model: keras.Model, epoch: int) -> None:
        self.set_trainable(model, self.blocks if self.phase(epoch) else 0)
