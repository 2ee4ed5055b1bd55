"""Pretrained word vectors (GloVe or fastText .vec text files) for a text net's embedding layer.

A vectors file has one word per line followed by its numbers, separated by spaces (fastText's
first line, "count dim", is skipped). The words of the net's vocabulary that the file has get
its vectors; the others, [UNK] included, keep the layer's random ones; padding gets zeros (it
is masked anyway). Try it:

    python -c "from {{ cookiecutter.package_name }}.models import embeddings; help(embeddings)"
"""

import logging
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

log = logging.getLogger(__name__)


def embedding_matrix(
    vectors_file: str | Path, vocabulary: list[str], initial: np.ndarray
) -> tuple[np.ndarray, int]:
    """(matrix, how many words the file had): `initial`, the embedding's own random start, with
    the vectors of `vectors_file` (local or gs://) in row i for vocabulary[i], zeros in row 0."""
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
    embedding: keras.layers.Embedding,
    vocabulary: list[str],
    vectors_file: str | Path | None,
    freeze: bool,
) -> int:
    """Sets the weights of `embedding` (row i: vocabulary[i]) from a vectors file (None: keeps
    its random ones), freezes them if asked, and returns how many words the file had. The
    builders call it on the model they built (model.embeddings, model.freeze_embeddings)."""
    embedding.trainable = not freeze
    if vectors_file is None:
        return 0
    matrix, found = embedding_matrix(vectors_file, vocabulary, embedding.embeddings.numpy())
    embedding.embeddings.assign(matrix)
    log.info("model.embeddings: %d of %d words in %s", found, len(vocabulary), vectors_file)
    return found
