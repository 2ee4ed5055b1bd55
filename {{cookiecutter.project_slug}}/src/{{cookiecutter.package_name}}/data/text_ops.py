"""Per-example TensorFlow ops of text: standardising, splitting into words, word ids.

Pure functions of tensors: data_loader maps them over the records and export.py calls the very
same ops inside the serving graph, so the two cannot drift apart. The rest of the code imports
them through input_ops. Every op works eagerly and inside ``tf.data.Dataset.map``:

    python -m pytest tests/test_text_ops.py
"""

import os
from collections.abc import Callable
from pathlib import Path

import tensorflow as tf

from .metadata import Metadata

# === Vocabulary ===
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


def make_example_fn(
    metadata: Metadata, assets_dir: str | Path
) -> Callable[[tf.Tensor], tf.Tensor]:
    """Returns the op that turns one raw input (UTF-8 text) into the model's input."""
    table = make_vocabulary_table(os.path.join(assets_dir, VOCABULARY_FILE))  # or gs://
    sequence_length = metadata.sequence_length

    def example_fn(text: tf.Tensor) -> tf.Tensor:
        return tokenize(text, table, sequence_length)

    return example_fn
