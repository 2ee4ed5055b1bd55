"""A small residual net for 32x32 to 96x96 images, after He et al. (2016), section 4.2 (CIFAR).
Under tf.distribute, BatchNormalization normalises each replica's part of the batch on its own;
synchronized_batch_norm uses the global batch's statistics, so N replicas compute what one does."""

import functools
from collections.abc import Sequence

import keras
from keras import layers


def build_resnet(
    *,
    input_shape: Sequence[int],
    num_classes: int,
    depth: int,
    width: int,
    dropout_rate: float,
    synchronized_batch_norm: bool,
) -> keras.Model:
    """A stem, then three stages of (depth - 2) / 6 basic blocks, the last two at half the
    resolution before. depth=20, width=16 is ResNet-20 (0.27 M weights)."""
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"model.depth={depth} must be 6n + 2 with n >= 1, e.g. 20, 32 or 56.")

    # === Inputs ===
    inputs = keras.Input(shape=tuple(input_shape), name="images")

    # === Stem ===
    x = layers.Conv2D(width, 3, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = layers.BatchNormalization(synchronized=synchronized_batch_norm, name="stem_bn")(x)
    x = layers.Activation("relu", name="stem_relu")(x)

    # === Residual stages ===
    for stage, filters in enumerate((width, 2 * width, 4 * width), start=1):
        for block in range(1, (depth - 2) // 6 + 1):
            strides = 2 if stage > 1 and block == 1 else 1
            name = f"stage{stage}_block{block}"
            x = basic_block(x, filters, strides, synchronized_batch_norm, name)

    # === Classifier ===
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dropout(dropout_rate, name="dropout")(x)
    # float32 logits even under a mixed-precision policy, for a stable softmax and loss.
    outputs = layers.Dense(num_classes, dtype="float32", name="logits")(x)

    # === Functional Model ===
    return keras.Model(inputs, outputs, name=f"resnet{depth}")


def basic_block(
    x: keras.KerasTensor, filters: int, strides: int, synchronized: bool, name: str
) -> keras.KerasTensor:
    """conv-bn-relu, conv-bn, plus the shortcut, then relu (He et al., 2016, figure 2)."""
    conv = functools.partial(layers.Conv2D, filters, padding="same", use_bias=False)
    batch_norm = functools.partial(layers.BatchNormalization, synchronized=synchronized)
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:  # a 1x1 projection where the shape changes
        shortcut = conv(1, strides=strides, name=f"{name}_shortcut_conv")(x)
        shortcut = batch_norm(name=f"{name}_shortcut_bn")(shortcut)
    x = conv(3, strides=strides, name=f"{name}_conv1")(x)
    x = batch_norm(name=f"{name}_bn1")(x)
    x = layers.Activation("relu", name=f"{name}_relu1")(x)
    x = conv(3, name=f"{name}_conv2")(x)
    # Zero-initialised last gamma: each block starts as the identity (Goyal et al., 2017).
    x = batch_norm(gamma_initializer="zeros", name=f"{name}_bn2")(x)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_relu2")(x)
