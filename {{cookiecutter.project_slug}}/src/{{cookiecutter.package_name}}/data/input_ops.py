"""The one import point of the per-example TensorFlow ops, shared by training, evaluation and
the exported model.

This module holds the record format; the ops of this project's inputs live in the module of
its model type and are re-exported here by name, so that the rest of the code imports
input_ops alone (input_ops.make_example_fn, input_ops.parse_example, ...). Nothing here reads
files or knows about datasets.
"""

import tensorflow as tf

{% if cookiecutter.model_type == "cnn" -%}
from .image_ops import (
    augment_images,
    decode_image,
    encode_png,
    make_augment_fn,
    make_example_fn,
    make_prepare_fn,
    prepare_images,
)

# The record format below, and the image ops the rest of the code reads through this module.
__all__ = ["FEATURES", "serialize_example", "parse_example", "augment_images", "decode_image"]
__all__ += ["encode_png", "make_augment_fn", "make_example_fn", "make_prepare_fn"]
__all__ += ["prepare_images"]
{%- else -%}
from .text_ops import VOCABULARY_FILE, make_example_fn

# The record format below, and the text ops the rest of the code reads through this module.
__all__ = ["FEATURES", "serialize_example", "parse_example", "VOCABULARY_FILE", "make_example_fn"]
{%- endif %}

# === Example (de)serialisation ===
# Every TFRecord example holds the raw input as bytes, as the data source read it, and the
# label as an integer index into metadata["class_names"].
FEATURES = {
    "input": tf.io.FixedLenFeature([], tf.string),
    "label": tf.io.FixedLenFeature([], tf.int64),
}


def serialize_example(raw_input: bytes, label: int) -> bytes:
    """Returns a serialised tf.train.Example holding one raw input and its label."""
    feature = {
        "input": tf.train.Feature(bytes_list=tf.train.BytesList(value=[raw_input])),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
    }
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    return example.SerializeToString()


def parse_example(serialized: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Parses one serialised example into (raw input bytes, int32 label)."""
    parsed = tf.io.parse_single_example(serialized, FEATURES)
    return parsed["input"], tf.cast(parsed["label"], tf.int32)
