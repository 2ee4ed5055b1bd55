"""The record format, and the import point of the per-example ops that training, evaluation and
the export share ({{ "image_ops" if cookiecutter.model_type == "cnn" else "text_ops" }}.py)."""

import os

import tensorflow as tf

{% if cookiecutter.model_type == "cnn" -%}
from .image_ops import make_augment_fn, make_example_fn  # noqa: F401
{%- else -%}
from .text_ops import VOCABULARY_FILE, make_example_fn  # noqa: F401
{%- endif %}

FEATURES = {"input": tf.io.FixedLenFeature([], tf.string)}  # what serialize_example writes
FEATURES["label"] = tf.io.FixedLenFeature([], tf.int64)


def records_file(records_dir: str, split: str) -> str:
    return os.path.join(records_dir, f"{split}.tfrecord")


def serialize_example(raw_input: bytes, label: int) -> bytes:
    """A serialised tf.train.Example of one raw input (as the source read it) and its label."""
    input_feature = tf.train.Feature(bytes_list=tf.train.BytesList(value=[raw_input]))
    label_feature = tf.train.Feature(int64_list=tf.train.Int64List(value=[label]))
    features = tf.train.Features(feature={"input": input_feature, "label": label_feature})
    return tf.train.Example(features=features).SerializeToString()


def parse_example(serialized: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Parses one serialised example into (raw input bytes, int32 label)."""
    parsed = tf.io.parse_single_example(serialized, FEATURES)
    return parsed["input"], tf.cast(parsed["label"], tf.int32)
