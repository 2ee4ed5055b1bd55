"""Pure per-example TensorFlow ops, shared by training, evaluation and the exported model.

Nothing here reads files or knows about datasets; data_loader maps these ops over examples and
export.py calls the very same ops inside the serving graph, so the two cannot drift apart.
Every op works eagerly and inside ``tf.data.Dataset.map`` (tests/ checks both):

    python -m pytest tests/test_{{ "image" if cookiecutter.model_type == "cnn" else "text" }}_ops.py
"""

{% if cookiecutter.model_type == "cnn" -%}
from collections.abc import Callable, Sequence
{%- else -%}
from collections.abc import Callable
{%- endif %}
from pathlib import Path

import tensorflow as tf

# === Example (de)serialisation ===
# Every TFRecord example holds the raw input as bytes (an encoded image or UTF-8 text) and
# the label as an integer index into metadata["class_names"].
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

{% if cookiecutter.model_type == "cnn" %}
# === Images ===
def encode_png(image: tf.Tensor) -> bytes:
    """Encodes a uint8 [height, width, channels] image as PNG bytes."""
    return tf.io.encode_png(image).numpy()


def decode_image(encoded: tf.Tensor, channels: int) -> tf.Tensor:
    """Decodes PNG/JPEG/BMP/GIF bytes into a uint8 [height, width, channels] image."""
    image = tf.io.decode_image(encoded, channels=channels, expand_animations=False)
    image.set_shape([None, None, channels])
    return image


def prepare_images(
    images: tf.Tensor,
    image_size: Sequence[int],
    mean: Sequence[float],
    std: Sequence[float],
) -> tf.Tensor:
    """Resizes uint8 images to the model's size and normalises them.

    Args:
        images: uint8 [..., height, width, channels], one image or a batch.
        image_size: (height, width) the model expects.
        mean: per-channel mean of the training pixels, in [0, 1].
        std: per-channel standard deviation of the training pixels, in [0, 1].

    Returns:
        float32 [..., image_size[0], image_size[1], channels].
    """
    images = tf.cast(images, tf.float32) / 255.0
    images = tf.image.resize(images, list(image_size), method="bilinear")
    return (images - tf.constant(mean, tf.float32)) / tf.constant(std, tf.float32)


def make_example_fn(metadata: dict, assets_dir: str | Path) -> Callable[[tf.Tensor], tf.Tensor]:
    """Returns the op that turns one raw input (encoded image) into the model's input."""
    del assets_dir  # images need nothing beyond the metadata
    channels = metadata["input_shape"][-1]
    image_size = metadata["input_shape"][:2]
    mean = metadata["normalization"]["mean"]
    std = metadata["normalization"]["std"]

    def example_fn(encoded: tf.Tensor) -> tf.Tensor:
        return prepare_images(decode_image(encoded, channels), image_size, mean, std)

    return example_fn
{%- else %}
# === Text ===
PAD_TOKEN = "[PAD]"  # id 0: padding, masked by the model
OOV_TOKEN = "[UNK]"  # id 1: any word not in the vocabulary
VOCABULARY_FILE = "vocab.txt"


def standardize_text(texts: tf.Tensor) -> tf.Tensor:
    """Lower-cases UTF-8 text and replaces punctuation with spaces."""
    texts = tf.strings.lower(texts, encoding="utf-8")
    return tf.strings.regex_replace(texts, r"\p{P}", " ")


def split_words(texts: tf.Tensor) -> tf.RaggedTensor:
    """Standardises a batch [N] of texts and splits it into words: ragged [N, None]."""
    return tf.strings.split(standardize_text(texts))


def make_vocabulary_table(vocabulary_path: str | Path) -> tf.lookup.StaticHashTable:
    """Returns a word -> id table from a file with one word per line (line number = id).

    Line 0 is the padding token and line 1 the out-of-vocabulary token; words that are not in
    the file map to 1. In an exported SavedModel the file travels as an asset.
    """
    initializer = tf.lookup.TextFileInitializer(
        str(vocabulary_path),
        key_dtype=tf.string,
        key_index=tf.lookup.TextFileIndex.WHOLE_LINE,
        value_dtype=tf.int64,
        value_index=tf.lookup.TextFileIndex.LINE_NUMBER,
    )
    return tf.lookup.StaticHashTable(initializer, default_value=1)


def tokenize(
    texts: tf.Tensor, table: tf.lookup.StaticHashTable, sequence_length: int
) -> tf.Tensor:
    """Turns raw text into word ids, padded with 0 or truncated to `sequence_length`.

    Args:
        texts: string tensor of any shape: a scalar (one example) or [N] (a batch).
        table: the vocabulary table from `make_vocabulary_table`.
        sequence_length: length of every output sequence.

    Returns:
        int32 ids of shape texts.shape + [sequence_length].
    """
    words = split_words(tf.reshape(texts, [-1]))
    ids = words.with_flat_values(table.lookup(words.flat_values))
    ids = ids.to_tensor(default_value=0, shape=[None, sequence_length])
    output_shape = tf.concat([tf.shape(texts), [sequence_length]], axis=0)
    return tf.reshape(tf.cast(ids, tf.int32), output_shape)


def make_example_fn(metadata: dict, assets_dir: str | Path) -> Callable[[tf.Tensor], tf.Tensor]:
    """Returns the op that turns one raw input (UTF-8 text) into the model's input."""
    table = make_vocabulary_table(Path(assets_dir) / VOCABULARY_FILE)
    sequence_length = metadata["sequence_length"]

    def example_fn(text: tf.Tensor) -> tf.Tensor:
        return tokenize(text, table, sequence_length)

    return example_fn
{%- endif %}
