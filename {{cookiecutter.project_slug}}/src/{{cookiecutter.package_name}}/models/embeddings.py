"""Pretrained word vectors (GloVe or fastText .vec text files) for a text net's embedding layer.

A vectors file has one word per line followed by its numbers, separated by spaces (fastText's
.vec files start with a "count dim" header line, which is skipped). The words of the
project's vocabulary file (line i is id i: [PAD], [UNK], then the words) that the file has
get its vectors; the others, [UNK] included, keep the layer's random ones; padding gets
zeros (it is masked anyway). Try it:

    python -c "from {{ cookiecutter.package_name }}.models import embeddings; help(embeddings)"
"""

import logging
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

EMBEDDING_LAYER = "embedding"  # the name every text net gives its word embedding
log = logging.getLogger(__name__)


def read_vocabulary(vocabulary_file: str | Path) -> list[str]:
    """The words of a vocabulary file, one a line; index i is word id i."""
    with tf.io.gfile.GFile(str(vocabulary_file)) as file:
        return file.read().splitlines()


def embedding_matrix(
    vectors_file: str | Path, vocabulary: list[str], initial: np.ndarray
) -> tuple[np.ndarray, int]:
    """The [len(vocabulary), dim] float32 matrix: `initial` with the file's vectors in.

    Args:
        vectors_file: a GloVe/fastText-format text file (local or gs://).
        vocabulary: the words, index i being id i; id 0 (padding) gets zeros.
        initial: the embedding's own random start, kept for the words the file lacks.

    Returns:
        The matrix and how many of the vocabulary's words the file had.
    """
    embedding_dim = initial.shape[1]
    rows = {word: index for index, word in enumerate(vocabulary) if index}
    matrix = np.array(initial, np.float32)
    matrix[0] = 0.0
    found = 0
    with tf.io.gfile.GFile(str(vectors_file)) as file:
        for line_number, line in enumerate(file, start=1):
            word, *numbers = line.rstrip().split(" ")
            if line_number == 1 and len(numbers) == 1:
                continue  # fastText's "count dim" header
            if len(numbers) != embedding_dim:
                raise ValueError(
                    f"{vectors_file}:{line_number} has {len(numbers)} numbers for "
                    f"{word!r}; model.embedding_dim is {embedding_dim}: set them equal."
                )
            if word in rows:
                matrix[rows.pop(word)] = np.asarray(numbers, np.float32)
                found += 1
    return matrix, found


def set_word_vectors(
    model: keras.Model,
    vectors_file: str | Path | None,
    vocabulary_file: str | Path | None,
    freeze: bool,
) -> int:
    """Sets the weights of `model`'s "embedding" layer from a vectors file (None: keeps its
    random ones) and freezes them if asked; returns how many of the vocabulary's words the
    file had.

    Text builders call it on the model they built (model.embeddings and
    model.freeze_embeddings): the optimizer and the training step see the trainable weights
    of the model they get.
    """
    layer = model.get_layer(EMBEDDING_LAYER)
    layer.trainable = not freeze
    if vectors_file is None:
        return 0
    if vocabulary_file is None:
        raise ValueError("model.embeddings needs the data's vocabulary file to match words.")
    vocabulary = read_vocabulary(vocabulary_file)
    if len(vocabulary) != layer.input_dim:
        raise ValueError(
            f"{vocabulary_file} has {len(vocabulary)} words but the model's embedding "
            f"{layer.input_dim} ids: they come from different preprocessing runs."
        )
    matrix, found = embedding_matrix(vectors_file, vocabulary, layer.embeddings.numpy())
    layer.embeddings.assign(matrix)
    log.info(
        "model.embeddings: %d of %d words have vectors in %s", found, len(vocabulary), vectors_file
    )
    return found
