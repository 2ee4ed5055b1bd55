import functools

import keras
import numpy as np
import pytest
import tensorflow as tf
import test_lstmnet

from {{ cookiecutter.package_name }}.models import (
    embeddings,
    transformernet,
)

VOCABULARY = ["[PAD]", "[UNK]", "good", "bad", "film", "zebra"]
VECTORS = {"bad": [0.5, -0.5, 1.0], "good": [1.0, 2.0, 3.0], "film": [0.0, 0.25, -1.0]}
# test_lstmnet's builder with every option but the vectors' and the sizes.
build_lstm = functools.partial(test_lstmnet.build_lstm, units=4)


def initial(rows: int, dim: int) -> np.ndarray:
    """An embedding's random start, as the layer draws it."""
    return np.random.default_rng(0).uniform(-0.05, 0.05, (rows, dim)).astype(np.float32)


@pytest.fixture
def files(tmp_path):
    """A vocabulary file as preprocess writes it and a GloVe-format vectors file."""
    vocabulary_file = tmp_path / "vocab.txt"
    vocabulary_file.write_text("\n".join(VOCABULARY) + "\n")
    vectors_file = tmp_path / "vectors.txt"
    lines = [f"{word} {' '.join(map(str, vector))}" for word, vector in VECTORS.items()]
    vectors_file.write_text("\n".join(["unseen 9 9 9", *lines]) + "\n")
    return vocabulary_file, vectors_file


def test_matrix_takes_known_words_and_keeps_random_ones(files):
    vocabulary_file, vectors_file = files
    vocabulary = embeddings.read_vocabulary(vocabulary_file)
    matrix, found = embeddings.embedding_matrix(vectors_file, vocabulary, initial(6, 3))
    assert found == 3 and matrix.shape == (6, 3) and matrix.dtype == np.float32
    np.testing.assert_array_equal(matrix[0], 0.0)  # padding
    for word, vector in VECTORS.items():
        np.testing.assert_array_equal(matrix[vocabulary.index(word)], vector)
    np.testing.assert_array_equal(matrix[[1, 5]], initial(6, 3)[[1, 5]])  # [UNK] and zebra


def test_fasttext_header_is_skipped(tmp_path, files):
    vocabulary_file, vectors_file = files
    with_header = tmp_path / "vectors.vec"
    with_header.write_text("4 3\n" + vectors_file.read_text())
    vocabulary = embeddings.read_vocabulary(vocabulary_file)
    np.testing.assert_array_equal(
        embeddings.embedding_matrix(with_header, vocabulary, initial(6, 3))[0],
        embeddings.embedding_matrix(vectors_file, vocabulary, initial(6, 3))[0],
    )


def test_vectors_of_another_size_are_refused(files):
    vocabulary_file, vectors_file = files
    with pytest.raises(ValueError, match="model.embedding_dim is 4"):
        embeddings.embedding_matrix(vectors_file, VOCABULARY, initial(6, 4))


@pytest.mark.parametrize(
    "build",
    [
        lambda **vectors: build_lstm(
            sequence_length=4, vocab_size=6, num_classes=2, embedding_dim=3, **vectors
        ),
        lambda **vectors: transformernet.build_transformer(
            sequence_length=4,
            vocab_size=6,
            num_classes=2,
            embedding_dim=3,
            num_heads=1,
            feed_forward_dim=4,
            num_blocks=1,
            dropout_rate=0.0,
            **vectors,
        ),
    ],
    ids=["lstm", "transformer"],
)
@pytest.mark.parametrize("trainable", [True, False])
def test_text_nets_take_the_vectors_frozen_or_trainable(files, build, trainable):
    vocabulary_file, vectors_file = files
    model = build(
        embeddings=str(vectors_file),
        freeze_embeddings=not trainable,
        vocabulary_file=str(vocabulary_file),
    )
    layer = model.get_layer("embedding")
    np.testing.assert_array_equal(layer.embeddings.numpy()[2], VECTORS["good"])
    assert any(weight is layer.embeddings for weight in model.trainable_weights) == trainable

    ids = np.array([[2, 3, 4, 0], [5, 1, 0, 0]], np.int32)
    with tf.GradientTape() as tape:  # one training step, eagerly
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(
            np.array([0, 1]), model(ids)
        )
    gradients = tape.gradient(loss, model.trainable_weights)
    keras.optimizers.SGD(1.0).apply(gradients, model.trainable_weights)
    changed = not np.array_equal(layer.embeddings.numpy()[2], VECTORS["good"])
    assert changed == trainable


def test_vocabulary_of_another_run_is_refused(files):
    vocabulary_file, vectors_file = files
    with pytest.raises(ValueError, match="different preprocessing runs"):
        build_lstm(
            sequence_length=4,
            vocab_size=9,
            num_classes=2,
            embedding_dim=3,
            embeddings=str(vectors_file),
            vocabulary_file=str(vocabulary_file),
        )
