"""Focal loss (Lin et al., 2017) for integer class labels: a custom Keras loss.

Cross-entropy weighs every example alike, so on imbalanced data the many easy examples of the
large class dominate the gradient. The focal loss multiplies each class's term by
(1 - p)^gamma, p the predicted probability of that class: confident, right predictions add
almost nothing and the hard ones count. gamma=0 and no alpha is plain cross-entropy. Try it:

    python -c "from {{ cookiecutter.package_name }}.losses import FocalLoss; print(FocalLoss(gamma=2.0)([0, 1], [[2.0, 0.0], [2.0, 0.0]]))"
"""

from collections.abc import Sequence

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="{{ cookiecutter.package_name }}")
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
