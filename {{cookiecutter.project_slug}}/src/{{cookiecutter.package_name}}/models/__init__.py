"""The nets of this project: ``model=<name>`` picks ``configs/model/<name>.yaml``, whose
``_target_`` names the builder that model.build_model calls through hydra.utils.instantiate.

A net is one file, ``models/<name>net.py``, with a function ``build_<name>(*, ...)`` that
returns a functional keras.Model whose last layer, named "logits", gives unnormalised scores;
and that YAML file, with `_target_`, `name` and a value for each of the builder's options.
A builder may give its model a FineTune as `model.fine_tune` to be trained in two phases.
"""

from collections.abc import Callable
from dataclasses import dataclass

import keras


@dataclass(frozen=True)
class FineTune:
    """Training in two phases, which a builder may give its model as `model.fine_tune`.

    The first `freeze_epochs` epochs train what `set_trainable(model, 0)` leaves trainable
    (e.g. a new classifier on a frozen pretrained backbone) at train.learning_rate; the rest
    train what `set_trainable(model, blocks)` does at `learning_rate`. The training loop
    builds the optimizer for the second phase's weights (a superset of the first's), sets
    the phase of the epoch it starts or resumes at, and retraces its step when the phase
    changes.
    """

    freeze_epochs: int
    blocks: int
    learning_rate: float
    set_trainable: Callable[[keras.Model, int], None]

    def phase(self, epoch: int) -> int:
        """0 while the epoch (counted from 0) is a frozen one, else 1."""
        return int(epoch >= self.freeze_epochs)

    def set_phase(self, model: keras.Model, epoch: int) -> None:
        self.set_trainable(model, self.blocks if self.phase(epoch) else 0)
