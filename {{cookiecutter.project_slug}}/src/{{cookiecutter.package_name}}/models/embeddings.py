"""Pretrained word vectors for a text net's embedding layer, from a GloVe or fastText .vec file
(local or gs://): a word and its numbers on each line (fastText's "count dim" line skipped)."""

import logging

import numpy as np
import tensorflow as tf
from keras import layers

log = logging.getLogger(__name__)


def set_word_vectors(
    embedding: layers.Embedding, vocabulary: list[str], vectors_file: str | None, freeze: bool
) -> None:
    """Gives row i of `embedding` the vector of vocabulary[i] from `vectors_file` if it has
    one (None: none has), zeros to padding (row 0, masked anyway); freezes it if asked."""
    embedding.trainable = not freeze
    if vectors_file is None:
        return
    rows = {word: index for index, word in enumerate(vocabulary) if index}
    matrix = embedding.embeddings.numpy()
    matrix[0] = 0.0
    with tf.io.gfile.GFile(vectors_file) as file:
        for line_number, line in enumerate(file, start=1):
            word, *numbers = line.rstrip().split(" ")
            if line_number == 1 and len(numbers) == 1:
                continue  # fastText's "count dim" header
            if len(numbers) != matrix.shape[1]:
                raise ValueError(
                    f"{vectors_file}:{line_number} has {len(numbers)} numbers for {word!r}; "
                    f"model.embedding_dim is {matrix.shape[1]}: set them equal."
                )
            if word in rows:
                matrix[rows.pop(word)] = np.asarray(numbers, np.float32)
    embedding.embeddings.assign(matrix)
    found = len(vocabulary) - 1 - len(rows)  # all but padding and the words not found
    log.info("model.embeddings: %d of %d words in %s", found, len(vocabulary), vectors_file)
