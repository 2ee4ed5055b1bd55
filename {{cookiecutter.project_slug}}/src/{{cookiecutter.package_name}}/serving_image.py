"""The signatures of an image model's export: what a served model takes, and how to feed it.

``serving_default`` takes uint8 images [N, height, width, channels] of the data's size and
``serve_bytes`` encoded image files [N] of any size, decoded the way preprocess stored the
training images. Both prepare them with the ops training used (data/image_ops.py) before the
classifier export.py wraps around them. Checked by:

    python -m pytest tests/test_eval_export.py
"""

from collections.abc import Callable, Sequence
from pathlib import Path

import tensorflow as tf

from .data import image_ops
from .data.metadata import Metadata

Classify = Callable[[tf.Tensor], dict[str, tf.Tensor]]  # model inputs -> the export's outputs


class Signatures(tf.Module):
    """Raw images -> image_ops -> `classify`, as serving_default and serve_bytes."""

    def __init__(self, classify: Classify, metadata: Metadata, assets_dir: Path) -> None:
        """
        Args:
            classify: model inputs [N, ...] -> probabilities, class_id and class_name.
            metadata: the data's metadata.json (input shape, normalisation, stored size).
            assets_dir: the export's assets folder; an image model keeps nothing there.
        """
        super().__init__(name="signatures")
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

        self.serve = tf.function(
            serve_images,
            input_signature=[tf.TensorSpec([None, height, width, channels], tf.uint8, "images")],
        )
        self.serve_bytes = tf.function(
            serve_bytes, input_signature=[tf.TensorSpec([None], tf.string, "image_bytes")]
        )

    def signatures(self) -> dict:
        return {
            "serving_default": self.serve.get_concrete_function(),
            "serve_bytes": self.serve_bytes.get_concrete_function(),
        }


def serving_batches(raw_inputs: Sequence[bytes], metadata: Metadata) -> list[tf.Tensor]:
    """Raw test examples (encoded images) as serving_default takes them, in batches it can
    take: one batch, or one per image when the images differ in size."""
    channels = metadata.input_shape[-1]
    images = [image_ops.decode_image(raw, channels) for raw in raw_inputs]
    if None in metadata.raw_shape:
        return [image[tf.newaxis] for image in images]
    return [tf.stack(images)]
