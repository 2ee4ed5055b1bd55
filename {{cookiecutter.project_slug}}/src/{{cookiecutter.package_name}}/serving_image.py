"""An image export's signatures (``python -m pytest tests/test_export.py``): serving_default
takes uint8 images [N, height, width, channels] of data.image_size, serve_bytes image files [N]
of any size, read as preprocess stored the training images (image_ops.store_image).
"""

from collections.abc import Callable, Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from .data import image_ops
from .data.metadata import Metadata

Classify = Callable[[tf.Tensor], dict[str, tf.Tensor]]  # model inputs -> the export's outputs
DEFAULT_INPUT = "images"  # serving_default's input


def add_signatures(
    archive: keras.export.ExportArchive, classify: Classify, metadata: Metadata, assets_dir: Path
) -> None:
    """Adds serving_default (decoded images) and serve_bytes (image files) to `archive`, which
    tracks the model; an image model needs nothing from `assets_dir`."""
    height, width, channels = metadata.input_shape
    prepare = image_ops.make_prepare_fn(metadata)  # as in training

    def serve_images(images: tf.Tensor) -> dict[str, tf.Tensor]:
        return classify(prepare(images))

    def serve_bytes(image_bytes: tf.Tensor) -> dict[str, tf.Tensor]:
        images = tf.map_fn(
            lambda encoded: image_ops.store_image(encoded, [height, width], channels),
            image_bytes,
            fn_output_signature=tf.TensorSpec(metadata.input_shape, tf.uint8),
        )
        return serve_images(images)

    images_spec = tf.TensorSpec([None, height, width, channels], tf.uint8, DEFAULT_INPUT)
    archive.add_endpoint("serving_default", serve_images, [images_spec])
    bytes_spec = tf.TensorSpec([None], tf.string, "image_bytes")
    archive.add_endpoint("serve_bytes", serve_bytes, [bytes_spec])


def serving_batches(raw_inputs: Sequence[bytes], metadata: Metadata) -> list[tf.Tensor]:
    """Stored images (from the records) as serving_default takes them: one batch."""
    return [tf.stack([image_ops.decode_stored(raw, metadata.input_shape) for raw in raw_inputs])]


def signature_requests(raw_inputs: Sequence[bytes], metadata: Metadata) -> list[tuple[str, dict]]:
    """(signature, inputs) of every signature for the same stored images: decoded for
    serving_default, as PNG files for serve_bytes."""
    (images,) = serving_batches(raw_inputs, metadata)
    return [
        ("serving_default", {DEFAULT_INPUT: images.numpy()}),
        ("serve_bytes", {"image_bytes": np.array(list(raw_inputs), dtype=object)}),
    ]
