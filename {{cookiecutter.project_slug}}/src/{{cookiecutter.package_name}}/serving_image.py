"""What an image model's export takes: its signatures, and how to feed them.

``serving_default`` takes uint8 images [N, height, width, channels] of the data's size and
``serve_bytes`` encoded image files [N] of any size, decoded the way preprocess stored the
training images. Both prepare them with the ops training used (data/image_ops.py) before the
classifier export.py wraps around them. Checked by:

    python -m pytest tests/test_eval_export.py
"""

import base64
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from .data import image_ops
from .data.metadata import Metadata

Classify = Callable[[tf.Tensor], dict[str, tf.Tensor]]  # model inputs -> the export's outputs
Endpoint = tuple[Callable, list[tf.TensorSpec]]  # a function and its input signature
DEFAULT_INPUT = "images"  # serving_default's input


def endpoints(
    classify: Classify, metadata: Metadata, assets_dir: Path
) -> tuple[dict[str, Endpoint], list]:
    """The export's signatures, name -> (function of raw inputs, input signature), and the
    resources they use besides the model's (an image model has none).

    Args:
        classify: model inputs [N, ...] -> probabilities, class_id and class_name.
        metadata: the data's metadata.json (input shape, normalisation, stored size).
        assets_dir: the export's assets folder; an image model keeps nothing there.
    """
    channels = metadata.input_shape[-1]
    height, width, _ = metadata.raw_shape
    max_stored_size = metadata.max_stored_size  # photos are stored shrunk
    prepare = image_ops.make_prepare_fn(metadata)  # as in training

    def serve_images(images: tf.Tensor) -> dict[str, tf.Tensor]:
        return classify(prepare(images))

    def serve_bytes(image_bytes: tf.Tensor) -> dict[str, tf.Tensor]:
        images = tf.map_fn(
            lambda encoded: prepare(
                image_ops.decode_as_stored(encoded, channels, max_stored_size)
            ),
            image_bytes,
            fn_output_signature=tf.TensorSpec(metadata.input_shape, tf.float32),
        )
        return classify(images)

    return {
        "serving_default": (
            serve_images,
            [tf.TensorSpec([None, height, width, channels], tf.uint8, DEFAULT_INPUT)],
        ),
        "serve_bytes": (serve_bytes, [tf.TensorSpec([None], tf.string, "image_bytes")]),
    }, []


def serving_batches(raw_inputs: Sequence[bytes], metadata: Metadata) -> list[tf.Tensor]:
    """Raw test examples (encoded images) as serving_default takes them, in batches it can
    take: one batch, or one per image when the images differ in size."""
    channels = metadata.input_shape[-1]
    images = [image_ops.decode_image(raw, channels) for raw in raw_inputs]
    if None in metadata.raw_shape:
        return [image[tf.newaxis] for image in images]
    return [tf.stack(images)]


def signature_requests(
    raw_inputs: Sequence[bytes], metadata: Metadata
) -> list[tuple[str, dict[str, np.ndarray]]]:
    """(signature, inputs) of every signature for the same raw examples: decoded batches for
    serving_default, the encoded files for serve_bytes."""
    requests = [
        ("serving_default", {DEFAULT_INPUT: batch.numpy()})
        for batch in serving_batches(raw_inputs, metadata)
    ]
    return [*requests, ("serve_bytes", {"image_bytes": np.array(list(raw_inputs), dtype=object)})]


def rest_bodies(raw_inputs: Sequence[bytes], metadata: Metadata) -> dict[str, dict]:
    """TensorFlow Serving REST bodies (POST .../models/NAME:predict) for each signature, of
    the first raw examples: decoded pixels for serving_default, base64 files for serve_bytes."""
    images, *_ = serving_batches(raw_inputs[:2], metadata)
    return {
        "serving_default": {
            "signature_name": "serving_default",
            "instances": images.numpy().tolist(),
        },
        "serve_bytes": {
            "signature_name": "serve_bytes",
            "instances": [
                {"b64": base64.b64encode(raw).decode("ascii")} for raw in raw_inputs[:2]
            ],
        },
    }
