"""LeNet-5 (LeCun et al., 1998), with ReLU and max pooling instead of tanh and subsampling.
Print its summary:

    python -c "from {{ cookiecutter.package_name }}.models.lenet5net import build_lenet5; build_lenet5(input_shape=(32, 32, 1), num_classes=10, activation='relu', dropout_rate=0.3).summary()"
"""

from collections.abc import Sequence

import keras
from keras import layers


def build_lenet5(
    *, input_shape: Sequence[int], num_classes: int, activation: str, dropout_rate: float
) -> keras.Model:
    """Two convolution + pooling blocks, then three dense layers, for images of at least 16x16."""
    if min(input_shape[:2]) < 16:  # what two 5x5 convolutions and two poolings leave > 0
        raise ValueError("LeNet-5 needs images of at least 16x16: set data.image_size=[32,32].")

    # === Inputs ===
    inputs = keras.Input(shape=tuple(input_shape), name="images")

    # === Feature extractor ===
    x = layers.Conv2D(6, 5, activation=activation, name="conv1")(inputs)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(16, 5, activation=activation, name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)

    # === Classifier ===
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(120, activation=activation, name="fc1")(x)
    x = layers.Dropout(dropout_rate, name="dropout1")(x)
    x = layers.Dense(84, activation=activation, name="fc2")(x)
    x = layers.Dropout(dropout_rate, name="dropout2")(x)
    # float32 logits even under a mixed-precision policy, for a stable softmax and loss.
    outputs = layers.Dense(num_classes, dtype="float32", name="logits")(x)

    # === Functional Model ===
    return keras.Model(inputs, outputs, name="lenet5")
