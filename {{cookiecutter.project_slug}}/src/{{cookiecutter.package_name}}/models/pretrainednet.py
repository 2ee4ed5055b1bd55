"""Transfer learning as in the Keras guide "Transfer learning & fine-tuning": an ImageNet
backbone and a new classifier, trained alone on the frozen backbone, then with all of it but
its batch norm. The backbone gets the [0, 255] pixels it expects back from normalised images."""

from collections.abc import Sequence

import keras
from keras import layers
from keras.applications import EfficientNetV2B0, MobileNetV3Small

from . import FineTune

BACKBONES = {"mobilenet_v3_small": MobileNetV3Small, "efficientnet_v2_b0": EfficientNetV2B0}
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
    fine_tune_learning_rate: float,
) -> keras.Model:
    """Backbone + pooling + dropout + a dense classifier; pretrained weights add a `fine_tune`."""
    if backbone not in BACKBONES:
        raise ValueError(f"model.backbone={backbone!r}: choose one of {', '.join(BACKBONES)}.")
    height, width, _ = input_shape
    if min(height, width) < 32:  # the smallest keras.applications takes without its top
        raise ValueError(
            f"model=pretrained needs images of at least 32x32, got {height}x{width}. Set "
            "data.image_size=[224,224], the size of the backbones' ImageNet images."
        )

    # === Inputs, as [0, 255] RGB pixels ===
    inputs = keras.Input(shape=tuple(input_shape), name="images")
    moments = {"mean": [255.0 * m for m in mean], "variance": [(255.0 * s) ** 2 for s in std]}
    pixels = layers.Normalization(**moments, invert=True, name="to_pixels")(inputs)
    if input_shape[-1] == 1:
        pixels = layers.Concatenate(name="to_rgb")([pixels, pixels, pixels])

    # === Pretrained feature extractor ===
    extractor = load_backbone(backbone, weights, input_shape[:2], synchronized_batch_norm)

    # === Classifier ===
    x = layers.GlobalAveragePooling2D(name="pool")(extractor(pixels))
    x = layers.Dropout(dropout_rate, name="dropout")(x)
    # float32 logits even under a mixed-precision policy, for a stable softmax and loss.
    outputs = layers.Dense(num_classes, dtype="float32", name="logits")(x)

    # === Functional Model ===
    model = keras.Model(inputs, outputs, name=f"pretrained_{backbone}")
    model.fine_tune = None  # random weights train whole, batch norm included, from the start
    if weights is not None:
        model.fine_tune = FineTune(freeze_epochs, fine_tune_learning_rate, set_trainable)
        set_trainable(model, False)
    return model


def load_backbone(
    backbone: str, weights: str | None, size: Sequence[int], synchronized_batch_norm: bool
) -> keras.Model:
    """The backbone without its top, with `weights` (imagenet, a file, or None: random)."""
    try:
        extractor = BACKBONES[backbone](
            input_shape=(*size, 3), include_top=False, weights=weights, include_preprocessing=True
        )
    except Exception as error:  # keras.utils.get_file raises a bare Exception when offline
        if weights != "imagenet":
            raise
        raise ValueError(
            f"model.weights=imagenet could not be downloaded ({error}). Offline, pass "
            "model.weights=PATH (a file keras.applications saved in ~/.keras/models/ on "
            "another computer) or model.weights=null to train from scratch."
        ) from error
    extractor.name = "backbone"  # after construction: EfficientNetV2 reads `name` as its variant
    for layer in extractor.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.synchronized = synchronized_batch_norm  # read when the layer is called
            if weights is None:  # from scratch, keras.applications' 0.999 leaves the moving
                layer.momentum = 0.99  # averages so far behind that inference fails
    return extractor


def set_trainable(model: keras.Model, fine_tune: bool) -> None:
    """Freezes the backbone, or (`fine_tune`) thaws it but batch norm (kept in inference mode).
    Call it before the train step is traced and the optimizer built: both see what trains."""
    for layer in model.get_layer("backbone").layers:
        layer.trainable = fine_tune and not isinstance(layer, layers.BatchNormalization)
