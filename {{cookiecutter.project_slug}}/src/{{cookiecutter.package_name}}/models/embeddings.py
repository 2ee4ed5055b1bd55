"""Pretrained word vectors (GloVe or fastText .vec text files) for a text net's embedding layer.

A vectors file has one word per line followed by its numbers, separated by spaces (fastText's
.vec files start with a "count dim" header line, which is skipped). The words of the
project's vocabulary file (line i is id i: [PAD], [UNK], then the words) that the file has
get its vectors; the others, [UNK] included, keep random ones, drawn like Keras's default
embedding initialiser; padding gets zeros (it is masked anyway). Try it:

    python -c "from {{ cookiecutter.package_name }}.models import embeddings; help(embeddings)"
"""

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

EMBEDDING_LAYER = "embedding"  # the name every text net gives its word embedding
RANDOM_SCALE = 0.05  # keras.layers.Embedding's default: uniform in [-0.05, 0.05]


def read_vocabulary(vocabulary_file: str | Path) -> list[str]:
    """The words of a vocabulary file, one a line; index i is word id i."""
    with tf.io.gfile.GFile(str(vocabulary_file)) as file:
        return file.read().splitlines()


def embedding_matrix(
    vectors_file: str | Path, vocabulary: list[str], embedding_dim: int, seed: int
) -> tuple[np.ndarray, int]:
    """Builds the [len(vocabulary), embedding_dim] float32 matrix for `vocabulary`.

    Args:
        vectors_file: a GloVe/fastText-format text file (local or gs://).
        vocabulary: the words, index i being id i; id 0 (padding) gets zeros.
        embedding_dim: the size of the vectors; the file's must match.
        seed: seeds the random vectors of the words the file lacks.

    Returns:
        The matrix and how many of the vocabulary's words the file had.
    """
    rows = {word: index for index, word in enumerate(vocabulary) if index}
    matrix = np.random.default_rng(seed).uniform(
        -RANDOM_SCALE, RANDOM_SCALE, (len(vocabulary), embedding_dim)
    )
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
                matrix[rows.pop(word)] = np.asarray(numbers, np.float64)
                found += 1
    return matrix.astype(np.float32), found


def load_pretrained_embeddings(
    model: keras.Model,
    vectors_file: str | Path,
    vocabulary_file: str | Path,
    trainable: bool,
    seed: int,
) -> int:
    """Sets the weights of `model`'s "embedding" layer from a vectors file; returns how many
    of the vocabulary's words the file had.

    Call it on the freshly built model, before a checkpoint is restored into it and before
    the training step is traced and the optimizer built: `trainable=False` freezes the
    vectors by taking them out of the trainable weights.
    """
    layer = model.get_layer(EMBEDDING_LAYER)
    vocabulary = read_vocabulary(vocabulary_file)
    if len(vocabulary) != layer.input_dim:
        raise ValueError(
            f"{vocabulary_file} has {len(vocabulary)} words but the model's embedding "
            f"{layer.input_dim} ids: they come from different preprocessing runs."
        )
    matrix, found = embedding_matrix(vectors_file, vocabulary, layer.output_dim, seed)
    layer.embeddings.assign(matrix)
    layer.trainable = trainable
    return found
