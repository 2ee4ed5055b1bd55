"""Transfer learning: a keras.applications backbone pretrained on ImageNet, a new classifier and
a fine-tune in two phases (Keras guide "Transfer learning & fine-tuning"). The first layer turns
the normalised images that every CNN here takes back into the [0, 255] pixels the backbone
rescales its own way, so the data pipeline and the export stay as they are. Print its summary:

    python -c "from {{ cookiecutter.package_name }}.models.pretrainednet import build_pretrained; build_pretrained(input_shape=(224, 224, 3), mean=[0.5] * 3, std=[0.25] * 3, num_classes=10, backbone='mobilenet_v3_small', weights=None, dropout_rate=0.2, synchronized_batch_norm=True, freeze_epochs=2, fine_tune_blocks=3, fine_tune_learning_rate=1e-4).summary()"
"""

import re
from collections.abc import Sequence
from pathlib import Path

import keras
from keras import layers

from . import FineTune

# Each backbone's constructor, and a pattern whose group 1 names the block a layer is part of.
BACKBONES = {
    "mobilenet_v3_small": (keras.applications.MobileNetV3Small, r"^(expanded_conv(?:_\d+)?)_"),
    "mobilenet_v3_large": (keras.applications.MobileNetV3Large, r"^(expanded_conv(?:_\d+)?)_"),
    "efficientnet_v2_b0": (keras.applications.EfficientNetV2B0, r"^(block\d+[a-z])_"),
}
INITIAL_WEIGHTS = ("weights",)  # see model.build_model


def build_pretrained(
    *,
    input_shape: Sequence[int],
    mean: Sequence[float],
    std: Sequence[float],
    num_classes: int,
    backbone: str,
    weights: str | None,
    dropout_rate: float,
    synchronized_batch_norm: bool,
    freeze_epochs: int,
    fine_tune_blocks: int,
    fine_tune_learning_rate: float,
) -> keras.Model:
    """Builds backbone (a nested model, "backbone") + pooling + dropout + a dense classifier
    for 1- or 3-channel images of at least 32x32, normalised with `mean` and `std`; with
    pretrained weights, the model gets a `fine_tune`. Options: configs/model/pretrained.yaml."""
    check_options(input_shape, backbone, weights)

    # === Inputs ===
    inputs = keras.Input(shape=tuple(input_shape), name="images")

    # === Pretrained feature extractor, on what it expects: [0, 255] RGB pixels ===
    pixels = layers.Normalization(
        mean=[255.0 * value for value in mean],
        variance=[(255.0 * value) ** 2 for value in std],
        invert=True,
        name="to_pixels",
    )(inputs)
    if input_shape[-1] == 1:
        pixels = layers.Concatenate(name="to_rgb")([pixels, pixels, pixels])
    extractor = load_backbone(backbone, weights, input_shape[:2], synchronized_batch_norm)

    # === Classifier ===
    x = layers.GlobalAveragePooling2D(name="pool")(extractor(pixels))
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


def check_options(input_shape: Sequence[int], backbone: str, weights: str | None) -> None:
    """Refuses a backbone, weights or image shape that build_pretrained cannot use."""
    if backbone not in BACKBONES:
        raise ValueError(f"model.backbone={backbone!r}: choose one of {', '.join(BACKBONES)}.")
    if weights not in ("imagenet", None) and not Path(weights).is_file():
        raise ValueError(f"model.weights={weights!r} is neither imagenet, null nor a file.")
    height, width, channels = input_shape
    if channels not in (1, 3):
        raise ValueError(f"An ImageNet backbone takes 1 or 3 channels, got {channels}.")
    if min(height, width) < 32:  # the smallest keras.applications takes without its top
        raise ValueError(
            f"model=pretrained needs images of at least 32x32, got {height}x{width}. Set "
            "data.image_size=[224,224], the size of the backbones' ImageNet images."
        )


def load_backbone(
    backbone: str, weights: str | None, size: Sequence[int], synchronized_batch_norm: bool
) -> keras.Model:
    """The backbone without its top, for RGB images of `size`, with `weights` (imagenet, a
    file, or None: random)."""
    try:
        extractor = BACKBONES[backbone][0](
            input_shape=(*size, 3), include_top=False, weights=weights, include_preprocessing=True
        )
    except Exception as error:  # keras.utils.get_file raises a bare Exception when offline
        if weights != "imagenet":
            raise
        raise ValueError(
            f"model.weights=imagenet: the {backbone} weights could not be downloaded ({error}). "
            "Offline, pass model.weights=PATH (a file that keras.applications downloaded to "
            "~/.keras/models/ elsewhere) or model.weights=null to train from scratch."
        ) from error
    extractor.name = "backbone"  # after construction: EfficientNetV2 reads `name` as its variant
    for layer in extractor.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.synchronized = synchronized_batch_norm  # read when the layer is called
            if weights is None:  # from scratch, keras.applications' 0.999 leaves the moving
                layer.momentum = 0.99  # averages so far behind that inference fails
    return extractor


def layer_blocks(model: keras.Model) -> list[int]:
    """The block of each backbone layer, counted from 1; 0 is the stem (the layers before the
    first block). A layer without a block name is in the block before it."""
    pattern, names, blocks = BACKBONES[model.name.removeprefix("pretrained_")][1], [], []
    for layer in model.get_layer("backbone").layers:
        match = re.match(pattern, layer.name)
        if match and match.group(1) not in names:
            names.append(match.group(1))
        blocks.append(len(names))
    return blocks


def set_trainable_blocks(model: keras.Model, num_blocks: int) -> None:
    """Freezes the backbone but for its top `num_blocks` blocks (all of it if it has no more).
    Batch norm stays frozen, so that it keeps its ImageNet statistics (a frozen
    BatchNormalization runs in inference mode). Call it before the training step is traced
    and the optimizer built: both see the weights trainable at that moment."""
    blocks = layer_blocks(model)
    first = blocks[-1] - num_blocks + 1 if num_blocks < blocks[-1] else 0
    model.get_layer("backbone").trainable = True
    for layer, block in zip(model.get_layer("backbone").layers, blocks, strict=True):
        layer.trainable = block >= first and not isinstance(layer, layers.BatchNormalization)
