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

PAD_TOKEN, OOV_TOKEN = "[PAD]", "[UNK]"  # ids 0 (padding, masked by the model) and 1 (unknown)
VOCABULARY_FILE = "vocab.txt"  # one word per line, line number = id; travels with the export


def standardize_text(texts: tf.Tensor) -> tf.Tensor:
    """Lower-cases UTF-8 text, replaces punctuation with spaces and long numbers with "000":
    numbers of three or more digits (phones, codes, amounts) would each be a word seen once."""
    texts = tf.strings.lower(texts, encoding="utf-8")
    texts = tf.strings.regex_replace(texts, r"\p{P}", " ")
    return tf.strings.regex_replace(texts, r"\d{3,}", "000")


def split_words(texts: tf.Tensor) -> tf.RaggedTensor:
    """Standardises a batch [N] of texts and splits it into words: ragged [N, None]."""
    return tf.strings.split(standardize_text(texts))


def make_vocabulary_table(vocabulary_path: str | Path) -> tf.lookup.StaticHashTable:
    """A word -> id table of a VOCABULARY_FILE; words not in it map to 1 (OOV_TOKEN)."""
    index = tf.lookup.TextFileIndex
    initializer = tf.lookup.TextFileInitializer(
        str(vocabulary_path), tf.string, index.WHOLE_LINE, tf.int64, index.LINE_NUMBER
    )
    return tf.lookup.StaticHashTable(initializer, default_value=1)


def tokenize(
    texts: tf.Tensor, table: tf.lookup.StaticHashTable, sequence_length: int
) -> tf.Tensor:
    """Raw texts of any shape (a scalar: one example; [N]: a batch) as int32 word ids of shape
    texts.shape + [sequence_length], padded with 0 or cut. A text without words (say, only
    punctuation) becomes one OOV word, so that no sequence is all padding."""
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
    """The op from one raw input (UTF-8 text) to the model's input, with the vocabulary of
    `assets_dir` (a local folder or gs://)."""
    table = make_vocabulary_table(os.path.join(assets_dir, VOCABULARY_FILE))
    return lambda text: tokenize(text, table, metadata.sequence_length)
