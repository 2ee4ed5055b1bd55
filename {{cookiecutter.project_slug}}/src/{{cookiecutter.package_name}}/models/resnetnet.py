"""A small residual net for 32x32 to 96x96 images, after He et al. (2016), section 4.2 (CIFAR).

Three stages of `(depth - 2) / 6` basic blocks (two 3x3 convolutions with batch norm and an
identity shortcut) with `width`, 2 x `width` and 4 x `width` filters; the second and third
stages halve the resolution, and a 1x1 convolution matches the shortcut where they do.
depth=20, width=16 is ResNet-20 (about 0.27 M parameters).

Batch norm under tf.distribute: by default keras.layers.BatchNormalization normalises each
replica's part of the batch with that part's statistics and updates each replica's copy of
the moving averages on its own, so the copies drift apart and a checkpoint keeps the first
one. With synchronized_batch_norm every replica uses the statistics of the whole global
batch (one all-reduce per layer and step): the copies stay equal and training on N replicas
computes what one device computes on the same global batch. Print its summary:

    python -c "from {{ cookiecutter.package_name }}.models.resnetnet import build_resnet; build_resnet(input_shape=(32, 32, 3), num_classes=10, depth=20, width=16, dropout_rate=0.0, synchronized_batch_norm=True).summary()"
"""

import functools
from collections.abc import Callable, Sequence

import keras
from keras import layers

MIN_INPUT_SIZE = 8  # the last stage sees a quarter of the input's side


def build_resnet(
    *,
    input_shape: Sequence[int],
    num_classes: int,
    depth: int,
    width: int,
    dropout_rate: float,
    synchronized_batch_norm: bool,
) -> keras.Model:
    """Builds a CIFAR-style ResNet of `depth` layers.

    Args:
        input_shape: (height, width, channels) of the normalised images, at least 8x8.
        num_classes: number of output classes.
        depth: 6n + 2 weighted layers (20, 32, 44, 56, ...): n basic blocks per stage.
        width: filters of the first stage; the next two have twice and four times as many.
        dropout_rate: dropout before the classifier; 0 turns it off.
        synchronized_batch_norm: batch statistics over the global batch of all replicas
            rather than each replica's part (see the module's docstring).

    Returns:
        A functional keras.Model from float images to float32 logits.
    """
    check_options(input_shape, depth, width)
    blocks_per_stage = (depth - 2) // 6
    batch_norm = functools.partial(layers.BatchNormalization, synchronized=synchronized_batch_norm)

    # === Inputs ===
    inputs = keras.Input(shape=tuple(input_shape), name="images")

    # === Stem ===
    x = layers.Conv2D(width, 3, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = batch_norm(name="stem_bn")(x)
    x = layers.Activation("relu", name="stem_relu")(x)

    # === Residual stages ===
    for stage, filters in enumerate((width, 2 * width, 4 * width), start=1):
        for block in range(1, blocks_per_stage + 1):
            strides = 2 if stage > 1 and block == 1 else 1
            x = basic_block(x, filters, strides, batch_norm, name=f"stage{stage}_block{block}")

    # === Classifier ===
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dropout(dropout_rate, name="dropout")(x)
    # float32 logits even under a mixed-precision policy, for a stable softmax and loss.
    outputs = layers.Dense(num_classes, dtype="float32", name="logits")(x)

    # === Functional Model ===
    return keras.Model(inputs, outputs, name=f"resnet{depth}")


def check_options(input_shape: Sequence[int], depth: int, width: int) -> None:
    """Refuses a depth, width or image size that build_resnet cannot use."""
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"model.depth={depth} must be 6n + 2 with n >= 1, e.g. 20, 32 or 56.")
    if width < 1:
        raise ValueError(f"model.width={width} must be at least 1, e.g. 16.")
    height, image_width, _ = input_shape
    if min(height, image_width) < MIN_INPUT_SIZE:
        raise ValueError(
            f"ResNet needs images of at least {MIN_INPUT_SIZE}x{MIN_INPUT_SIZE}, got "
            f"{height}x{image_width}. Set data.image_size=[32,32]."
        )


def basic_block(
    x: keras.KerasTensor,
    filters: int,
    strides: int,
    batch_norm: Callable[..., layers.BatchNormalization],
    name: str,
) -> keras.KerasTensor:
    """conv-bn-relu, conv-bn, plus the shortcut, then relu (He et al., 2016, figure 2)."""
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        # Projection shortcut where the resolution or the number of filters changes.
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
