"""A small residual net for 32x32 to 96x96 images, after He et al. (2016), section 4.2 (CIFAR).

Under tf.distribute, keras.layers.BatchNormalization normalises each replica's part of the
batch on its own and lets the replicas' moving averages drift apart; synchronized_batch_norm
uses the statistics of the global batch (an all-reduce per layer), so N replicas compute what
one device does. Print its summary:

    python -c "from {{ cookiecutter.package_name }}.models.resnetnet import build_resnet; build_resnet(input_shape=(32, 32, 3), num_classes=10, depth=20, width=16, dropout_rate=0.0, synchronized_batch_norm=True).summary()"
"""

import functools
from collections.abc import Callable, Sequence

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
    """Builds a ResNet of `depth` = 6n + 2 weighted layers: a stem, then three stages of n
    basic blocks with `width`, 2 x `width` and 4 x `width` filters, the last two at half the
    resolution before. depth=20, width=16 is ResNet-20 (0.27 M weights)."""
    if depth < 8 or (depth - 2) % 6 or width < 1:
        raise ValueError(
            f"model.depth={depth} must be 6n + 2 with n >= 1, e.g. 20, 32 or 56, and "
            f"model.width={width} at least 1, e.g. 16."
        )
    if min(input_shape[:2]) < 8:  # the last stage sees a quarter of the input's side
        raise ValueError(
            f"ResNet needs images of at least 8x8, got {input_shape[0]}x{input_shape[1]}. "
            "Set data.image_size=[32,32]."
        )
    batch_norm = functools.partial(layers.BatchNormalization, synchronized=synchronized_batch_norm)

    # === Inputs ===
    inputs = keras.Input(shape=tuple(input_shape), name="images")

    # === Stem ===
    x = layers.Conv2D(width, 3, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = batch_norm(name="stem_bn")(x)
    x = layers.Activation("relu", name="stem_relu")(x)

    # === Residual stages ===
    for stage, filters in enumerate((width, 2 * width, 4 * width), start=1):
        for block in range(1, (depth - 2) // 6 + 1):
            strides = 2 if stage > 1 and block == 1 else 1
            x = basic_block(x, filters, strides, batch_norm, name=f"stage{stage}_block{block}")

    # === Classifier ===
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dropout(dropout_rate, name="dropout")(x)
    # float32 logits even under a mixed-precision policy, for a stable softmax and loss.
    outputs = layers.Dense(num_classes, dtype="float32", name="logits")(x)

    # === Functional Model ===
    return keras.Model(inputs, outputs, name=f"resnet{depth}")


def basic_block(
    x: keras.KerasTensor, filters: int, strides: int, batch_norm: Callable, name: str
) -> keras.KerasTensor:
    """conv-bn-relu, conv-bn, plus the shortcut, then relu (He et al., 2016, figure 2)."""
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:  # a 1x1 projection where the shape changes
        shortcut = layers.Conv2D(
            filters, 1, strides=strides, use_bias=False, name=f"{name}_shortcut_conv"
        )(x)
        shortcut = batch_norm(name=f"{name}_shortcut_bn")(shortcut)
    x = layers.Conv2D(
        filters, 3, strides=strides, padding="same", use_bias=False, name=f"{name}_conv1"
    )(x)
    x = batch_norm(name=f"{name}_bn1")(x)
    x = layers.Activation("relu", name=f"{name}_relu1")(x)
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv2")(x)
    # Zero-initialised last gamma: each block starts as the identity (Goyal et al., 2017).
    x = batch_norm(gamma_initializer="zeros", name=f"{name}_bn2")(x)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_relu2")(x)
