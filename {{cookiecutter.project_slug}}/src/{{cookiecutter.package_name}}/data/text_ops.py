"""Text as the nets take it: raw UTF-8 strings, which the model's own TextVectorization
(make_vectorizer) standardises and maps to word ids, so training and the export share one graph."""

from collections.abc import Callable
from pathlib import Path

import keras
import tensorflow as tf

PAD_TOKEN, OOV_TOKEN = "[PAD]", "[UNK]"  # ids 0 (padding, masked by the nets) and 1 (unknown)
VOCABULARY_FILE = "vocab.txt"  # one word per line, line number = id; travels with the export
VECTORIZER = "vectorizer"  # the name of the TextVectorization layer in every text net


@keras.saving.register_keras_serializable(package=__package__)  # model.keras reloads it
def standardize_text(texts: tf.Tensor) -> tf.Tensor:
    """Lower-cases, replaces punctuation with spaces and numbers of 3 digits or more (phones,
    amounts) with "000"; a text left without words is OOV_TOKEN (no net can pool padding alone)."""
    texts = tf.strings.lower(texts, encoding="utf-8")
    texts = tf.strings.regex_replace(texts, r"\p{P}", " ")
    texts = tf.strings.regex_replace(texts, r"\d{3,}", "000")
    return tf.where(tf.strings.regex_full_match(texts, r"\s*"), OOV_TOKEN, texts)


def make_vectorizer(
    vocabulary_file: str | Path, sequence_length: int
) -> keras.layers.TextVectorization:
    """Texts [N] -> word ids [N, sequence_length] by VOCABULARY_FILE (0: padding, 1: unknown)."""
    with tf.io.gfile.GFile(str(vocabulary_file)) as file:
        words = file.read().splitlines()[2:]  # ids 0 and 1 are the layer's own ("" and [UNK])
    options = {"vocabulary": words, "output_sequence_length": sequence_length, "name": VECTORIZER}
    return keras.layers.TextVectorization(standardize=standardize_text, **options)


def make_example_fn(metadata: object) -> Callable[[tf.Tensor], tf.Tensor]:
    """The model's input of one raw input: the text itself (its vectorizer makes the ids)."""
    return lambda text: text
