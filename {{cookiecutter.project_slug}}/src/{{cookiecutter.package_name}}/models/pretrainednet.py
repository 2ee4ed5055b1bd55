"""Transfer learning: a keras.applications backbone, pretrained on ImageNet, with a new classifier.

The project feeds every CNN the same normalised images, (pixels / 255 - mean) / std with the
training set's mean and std (input_ops.prepare_images), so the data pipeline and the export
stay as they are. This net turns them back into [0, 255] pixels (its first layer,
"to_pixels"), repeats a grey channel three times, and hands them to the backbone, which
rescales them its own way (include_preprocessing=True): a saved model or TFLite file still
takes raw uint8 images and needs no backbone-specific code.

Fine-tuning in two phases (Keras guide "Transfer learning & fine-tuning"): train the new
classifier on a frozen backbone (`set_trainable_blocks(model, 0)`), then unfreeze the
backbone's top blocks (`set_trainable_blocks(model, n)`) and train on at a lower learning
rate. Print its summary:

    python -c "from {{ cookiecutter.package_name }}.models.pretrainednet import build_pretrained; build_pretrained(input_shape=(224, 224, 3), mean=[0.5] * 3, std=[0.25] * 3, num_classes=10, backbone='mobilenet_v3_small', weights=None, dropout_rate=0.2, synchronized_batch_norm=True, freeze_epochs=2, fine_tune_blocks=3, fine_tune_learning_rate=1e-4).summary()"
"""

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import keras
from keras import layers

from . import FineTune

MIN_INPUT_SIZE = 32  # what keras.applications accepts without the top


@dataclass(frozen=True)
class Backbone:
    """A keras.applications constructor and how to find its blocks by layer name."""

    build: Callable[..., keras.Model]
    default_size: int  # the side of the images its ImageNet weights were trained on
    block_pattern: str  # group 1 of a match names the block a layer starts or belongs to


BACKBONES = {
    "mobilenet_v3_small": Backbone(
        keras.applications.MobileNetV3Small, 224, r"^(expanded_conv(?:_\d+)?)_"
    ),
    "mobilenet_v3_large": Backbone(
        keras.applications.MobileNetV3Large, 224, r"^(expanded_conv(?:_\d+)?)_"
    ),
    "efficientnet_v2_b0": Backbone(keras.applications.EfficientNetV2B0, 224, r"^(block\d+[a-z])_"),
}
BACKBONE_LAYER = "backbone"
INITIAL_WEIGHTS = ("weights",)
RANDOM_INIT_BATCH_NORM_MOMENTUM = 0.99  # keras.layers.BatchNormalization's default
WEIGHTS_SUFFIXES = (".weights.h5", ".keras", ".h5")


def build_pretrained(
    *,
    input_shape: Sequence[int],
    mean: Sequence[float],
    std: Sequence[float],
    num_classes: int,
    backbone: Literal["mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_v2_b0"],
    weights: str | None,
    dropout_rate: float,
    synchronized_batch_norm: bool,
    freeze_epochs: int,
    fine_tune_blocks: int,
    fine_tune_learning_rate: float,
) -> keras.Model:
    """Builds backbone + global average pooling + dropout + a dense classifier: a functional
    keras.Model from normalised float images to float32 logits, with the backbone as its
    nested model "backbone" and, for pretrained weights, `model.fine_tune` (two phases).

    Args:
        input_shape: (height, width, channels) of the normalised images, at least 32x32;
            1 (grey) or 3 channels.
        mean, std: per-channel mean and standard deviation, in [0, 1], that the images were
            normalised with (metadata.json's "normalization").
        num_classes: number of output classes.
        The others: the options of configs/model/pretrained.yaml, which says what each does.
    """
    check_options(input_shape, backbone, weights)

    # === Inputs ===
    inputs = keras.Input(shape=tuple(input_shape), name="images")

    # === Pretrained feature extractor, on what it expects: [0, 255] RGB pixels ===
    extractor = load_backbone(backbone, weights, input_shape[:2], synchronized_batch_norm)
    features = extractor(to_rgb_pixels(inputs, mean, std, channels=input_shape[-1]))

    # === Classifier ===
    x = layers.GlobalAveragePooling2D(name="pool")(features)
    x = layers.Dropout(dropout_rate, name="dropout")(x)
    # float32 logits even under a mixed-precision policy, for a stable softmax and loss.
    outputs = layers.Dense(num_classes, dtype="float32", name="logits")(x)

    # === Functional Model ===
    model = keras.Model(inputs, outputs, name=f"pretrained_{backbone}")
    model.fine_tune = None  # random weights train whole, batch norm included, from the start
    if weights is not None:  # pretrained ones in two phases
        model.fine_tune = FineTune(
            freeze_epochs, fine_tune_blocks, fine_tune_learning_rate, set_trainable_blocks
        )
        model.fine_tune.set_phase(model, epoch=0)
    return model


def to_rgb_pixels(
    images: keras.KerasTensor, mean: Sequence[float], std: Sequence[float], channels: int
) -> keras.KerasTensor:
    """Undoes the data's normalisation: [0, 255] pixels, grey images repeated as RGB."""
    pixels = layers.Normalization(
        mean=[255.0 * value for value in mean],
        variance=[(255.0 * value) ** 2 for value in std],
        invert=True,
        name="to_pixels",
    )(images)
    if channels == 1:
        pixels = layers.Concatenate(name="to_rgb")([pixels, pixels, pixels])
    return pixels


def check_options(input_shape: Sequence[int], backbone: str, weights: str | None) -> None:
    """Refuses a backbone, weights or image shape that build_pretrained cannot use."""
    if backbone not in BACKBONES:
        raise ValueError(
            f"model.backbone={backbone!r} is not supported; choose one of "
            f"{', '.join(BACKBONES)}."
        )
    if weights not in ("imagenet", None) and not (
        str(weights).endswith(WEIGHTS_SUFFIXES) and Path(weights).is_file()
    ):
        raise ValueError(
            f"model.weights={weights!r} is neither imagenet, null nor an existing "
            f"{', '.join(WEIGHTS_SUFFIXES)} file."
        )
    height, width, channels = input_shape
    if channels not in (1, 3):
        raise ValueError(f"An ImageNet backbone takes 1 or 3 channels, got {channels}.")
    if min(height, width) < MIN_INPUT_SIZE:
        size = BACKBONES[backbone].default_size
        raise ValueError(
            f"model={backbone} needs images of at least {MIN_INPUT_SIZE}x{MIN_INPUT_SIZE}, "
            f"got {height}x{width}. Set data.image_size=[{size},{size}]."
        )


def load_backbone(
    backbone: str, weights: str | None, size: Sequence[int], synchronized_batch_norm: bool
) -> keras.Model:
    """The keras.applications backbone without its top, for RGB images of `size`, named
    "backbone", with its pretrained weights (imagenet or a file; None: random)."""
    try:
        extractor = BACKBONES[backbone].build(
            input_shape=(*size, 3),
            include_top=False,
            weights=str(weights) if weights is not None else None,
            include_preprocessing=True,
        )
    except Exception as error:  # keras.utils.get_file raises a bare Exception when offline
        if weights != "imagenet":
            raise
        raise ValueError(
            f"model.weights=imagenet: the {backbone} weights could not be downloaded ({error}). "
            "On a machine without internet, download them elsewhere (they land in "
            "~/.keras/models/) and pass model.weights=PATH, or train from scratch with "
            "model.weights=null."
        ) from error
    # Renamed after construction: EfficientNetV2 reads its `name` argument as its variant.
    extractor.name = BACKBONE_LAYER
    for layer in extractor.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.synchronized = synchronized_batch_norm  # read when the layer is called
            if weights is None:
                # keras.applications' 0.999 suits fine-tuning ImageNet statistics; from
                # scratch the moving averages lag the weights so far that inference fails.
                layer.momentum = RANDOM_INIT_BATCH_NORM_MOMENTUM
    return extractor


def backbone_blocks(model: keras.Model) -> list[list[keras.layers.Layer]]:
    """The layers of the backbone of a `build_pretrained` model, grouped into its blocks.

    The first group is the stem (the layers before the first block); a layer without a block
    name (e.g. an activation) joins the block before it, and the final convolution after the
    last block joins that block.
    """
    backbone = model.get_layer(BACKBONE_LAYER)
    pattern = BACKBONES[model.name.removeprefix("pretrained_")].block_pattern
    groups: list[list[keras.layers.Layer]] = [[]]
    current = None
    for layer in backbone.layers:
        match = re.match(pattern, layer.name)
        if match and match.group(1) != current:
            current = match.group(1)
            groups.append([])
        groups[-1].append(layer)
    return groups


def set_trainable_blocks(model: keras.Model, num_blocks: int) -> None:
    """Freezes the backbone but for its top `num_blocks` blocks; the classifier stays trainable.

    0 freezes the whole backbone (the first phase of a fine-tune); a number at least the
    number of blocks makes all of it trainable. Batch norm layers stay frozen either way, so
    that they keep normalising with their ImageNet statistics (in Keras 3 a frozen
    BatchNormalization runs in inference mode) and a small batch cannot wreck them.

    Call it before the training step is traced and the optimizer is built: both see the
    trainable weights of the moment.
    """
    if num_blocks < 0:
        raise ValueError(f"num_blocks={num_blocks} must be at least 0.")
    stem, *blocks = backbone_blocks(model)
    model.get_layer(BACKBONE_LAYER).trainable = True
    thawed = [stem, *blocks] if num_blocks >= len(blocks) else blocks[len(blocks) - num_blocks :]
    thawed_ids = {id(layer) for block in thawed for layer in block}
    for layer in model.get_layer(BACKBONE_LAYER).layers:
        layer.trainable = id(layer) in thawed_ids and not isinstance(
            layer, layers.BatchNormalization
        )
