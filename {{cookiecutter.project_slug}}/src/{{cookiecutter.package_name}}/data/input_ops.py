"""Pure per-example TensorFlow ops, shared by training, evaluation and the exported model.

Nothing here reads files or knows about datasets; data_loader maps these ops over examples and
export.py calls the very same ops inside the serving graph, so the two cannot drift apart.
Every op works eagerly and inside ``tf.data.Dataset.map`` (tests/ checks both):

    python -m pytest tests/test_{{ "image" if cookiecutter.model_type == "cnn" else "text" }}_ops.py
"""

{% if cookiecutter.model_type == "cnn" -%}
from collections.abc import Callable, Mapping, Sequence
{%- else -%}
import os
from collections.abc import Callable, Mapping
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


def to_channels(image: tf.Tensor, channels: int) -> tf.Tensor:
    """Converts a uint8 image with 1 to 4 channels to `channels` (1 or 3), dropping alpha.

    Grayscale images pass through unchanged, so no rounding touches them.
    """
    colour = tf.shape(image)[-1] >= 3
    if channels == 1:
        image = tf.cond(
            colour, lambda: tf.image.rgb_to_grayscale(image[..., :3]), lambda: image[..., :1]
        )
    else:
        image = tf.cond(
            colour, lambda: image[..., :3], lambda: tf.image.grayscale_to_rgb(image[..., :1])
        )
    image.set_shape([None, None, channels])
    return image


def decode_image(encoded: tf.Tensor, channels: int) -> tf.Tensor:
    """Decodes PNG/JPEG/BMP/GIF bytes into a uint8 [height, width, channels] image.

    Any number of stored channels is accepted; GIFs give their first frame.
    """
    image = tf.io.decode_image(encoded, expand_animations=False)
    return to_channels(image, channels)


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


def augment_image(
    image: tf.Tensor,
    seed: tf.Tensor,
    crop_padding: int = 0,
    flip: bool = False,
    brightness: float = 0.0,
) -> tf.Tensor:
    """Random training-time changes to one prepared (resized, normalised) image.

    The changes are a pure function of `seed` (stateless random ops), so the same example at
    the same point of training is changed the same way after a resume.

    Args:
        image: float32 [height, width, channels].
        seed: int [2], e.g. [data pass seed, example index]; data_loader gives each one its own.
        crop_padding: pad by this many pixels (edge values) and crop back at random; 0 is off.
        flip: flip left-right half of the time (not for digits or text!).
        brightness: add a random offset in [-brightness, brightness] (normalised units).
    """
    crop_seed, flip_seed, brightness_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, num=3)
    )
    if crop_padding:
        shape = tf.shape(image)
        padding = [[crop_padding, crop_padding], [crop_padding, crop_padding], [0, 0]]
        image = tf.image.stateless_random_crop(
            tf.pad(image, padding, mode="SYMMETRIC"), shape, crop_seed
        )
    if flip:
        image = tf.image.stateless_random_flip_left_right(image, flip_seed)
    if brightness:
        image = image + tf.random.stateless_uniform([], brightness_seed, -brightness, brightness)
    return image


def make_augment_fn(data_cfg: Mapping) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor] | None:
    """The training-time augmentation of data.augment, or None when it is all off.

    Returns:
        fn(image, seed) -> image, or None.
    """
    options = dict(data_cfg["augment"])
    if not any(options.values()):
        return None
    return lambda image, seed: augment_image(image, seed, **options)


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
    """Lower-cases UTF-8 text, replaces punctuation with spaces and long numbers with "000".

    Numbers of three or more digits (phone numbers, codes, amounts) would each be a word of
    their own, seen once; as one shared word they carry what they have in common.
    """
    texts = tf.strings.lower(texts, encoding="utf-8")
    texts = tf.strings.regex_replace(texts, r"\p{P}", " ")
    return tf.strings.regex_replace(texts, r"\d{3,}", "000")


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
        int32 ids of shape texts.shape + [sequence_length]. A text without words (say, only
        punctuation) becomes one out-of-vocabulary word, so no sequence is all padding.
    """
    words = split_words(tf.reshape(texts, [-1]))
    ids = words.with_flat_values(table.lookup(words.flat_values))
    ids = ids.to_tensor(default_value=0, shape=[None, sequence_length])
    no_words = tf.reduce_all(ids == 0, axis=-1, keepdims=True)
    ids = tf.where(no_words, tf.one_hot([0], sequence_length, dtype=ids.dtype), ids)
    output_shape = tf.concat([tf.shape(texts), [sequence_length]], axis=0)
    return tf.reshape(tf.cast(ids, tf.int32), output_shape)


def make_augment_fn(data_cfg: Mapping) -> None:
    """Text is not augmented; the hook is here so that train.py treats both variants alike."""
    del data_cfg


def make_example_fn(metadata: dict, assets_dir: str | Path) -> Callable[[tf.Tensor], tf.Tensor]:
    """Returns the op that turns one raw input (UTF-8 text) into the model's input."""
    table = make_vocabulary_table(os.path.join(assets_dir, VOCABULARY_FILE))  # or gs://
    sequence_length = metadata["sequence_length"]

    def example_fn(text: tf.Tensor) -> tf.Tensor:
        return tokenize(text, table, sequence_length)

    return example_fn
{%- endif %}
