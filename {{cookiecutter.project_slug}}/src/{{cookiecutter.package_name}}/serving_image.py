"""The signatures of an image model's export, on raw images.

``serving_default`` takes uint8 images [N, height, width, channels] of the data's size and
``serve_bytes`` encoded image files [N] of any size, decoded the way preprocess stored the
training images. Both prepare them with the ops training used (data/image_ops.py) before the
classifier export.py wraps around them. Checked by:

    python -m pytest tests/test_export.py
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
    """Adds serving_default (decoded images) and serve_bytes (image files) to `archive`.

    Args:
        archive: the export archive, which already tracks the model.
        classify: model inputs [N, ...] -> probabilities, class_id and class_name.
        metadata: the data's metadata.json (input shape, normalisation, stored size).
        assets_dir: the run's assets folder; an image model needs nothing there.
    """
    channels = metadata.input_shape[-1]
    height, width, _ = metadata.raw_shape
    prepare = image_ops.make_prepare_fn(metadata)  # as in training

    def serve_images(images: tf.Tensor) -> dict[str, tf.Tensor]:
        return classify(prepare(images))

    def serve_bytes(image_bytes: tf.Tensor) -> dict[str, tf.Tensor]:
        images = tf.map_fn(
            lambda encoded: prepare(
                image_ops.decode_as_stored(encoded, channels, metadata.max_stored_size)
            ),
            image_bytes,
            fn_output_signature=tf.TensorSpec(metadata.input_shape, tf.float32),
        )
        return classify(images)

    images_spec = tf.TensorSpec([None, height, width, channels], tf.uint8, DEFAULT_INPUT)
    archive.add_endpoint("serving_default", serve_images, [images_spec])
    bytes_spec = tf.TensorSpec([None], tf.string, "image_bytes")
    archive.add_endpoint("serve_bytes", serve_bytes, [bytes_spec])


def serving_batches(raw_inputs: Sequence[bytes], metadata: Metadata) -> list[tf.Tensor]:
    """Raw examples (encoded images) as serving_default takes them, in batches it can take:
    one batch, or one per image when the images differ in size."""
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
