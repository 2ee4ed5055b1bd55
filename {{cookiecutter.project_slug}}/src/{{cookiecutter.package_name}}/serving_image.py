"""An image export's signatures, checked by ``python -m pytest tests/test_export.py``:
serving_default takes uint8 images [N, height, width, channels] of data.image_size, serve_bytes
image files [N] of any size, read as preprocess stored the training images (store_image)."""

import functools
from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from .data import image_ops
from .data.metadata import Metadata


def add_signatures(
    archive: keras.export.ExportArchive, classify: Callable, metadata: Metadata
) -> None:
    """Adds serving_default and serve_bytes; `classify`: model inputs -> the export's outputs."""
    height, width, channels = metadata.input_shape
    prepare = image_ops.make_prepare_fn(metadata)  # as in training
    store = functools.partial(image_ops.store_image, image_size=[height, width], channels=channels)
    stored_spec = tf.TensorSpec(metadata.input_shape, tf.uint8)

    def serve_images(images: tf.Tensor) -> dict[str, tf.Tensor]:
        return classify(prepare(images))

    def serve_bytes(image_bytes: tf.Tensor) -> dict[str, tf.Tensor]:
        return serve_images(tf.map_fn(store, image_bytes, fn_output_signature=stored_spec))

    images_spec = tf.TensorSpec([None, height, width, channels], tf.uint8, "images")
    archive.add_endpoint("serving_default", serve_images, [images_spec])
    bytes_spec = tf.TensorSpec([None], tf.string, "image_bytes")
    archive.add_endpoint("serve_bytes", serve_bytes, [bytes_spec])


def signature_inputs(raw_inputs: Sequence[bytes], metadata: Metadata) -> dict[str, dict]:
    """{signature: its inputs} of the records' stored images: decoded, and as files."""
    images = [image_ops.decode_stored(raw, metadata.input_shape) for raw in raw_inputs]
    files = np.array(raw_inputs, dtype=object)
    return {"serving_default": {"images": np.stack(images)}, "serve_bytes": {"image_bytes": files}}
