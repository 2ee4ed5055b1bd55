import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import small_transformer
from test_lstmnet import build_lstm

from {{ cookiecutter.package_name }}.models import embeddings

VOCABULARY = ["[PAD]", "[UNK]", "good", "bad", "film", "zebra"]
VECTORS = {"bad": [0.5, -0.5, 1.0], "good": [1.0, 2.0, 3.0], "film": [0.0, 0.25, -1.0]}
# The text nets with 3-number word vectors, for the 6 ids of VOCABULARY.
NETS = {
    "lstm": lambda **vectors: build_lstm(
        sequence_length=4, vocab_size=6, num_classes=2, embedding_dim=3, units=4, **vectors
    ),
    "transformer": lambda **vectors: small_transformer(
        sequence_length=4, vocab_size=6, num_classes=2, embedding_dim=3, num_heads=1, **vectors
    ),
}


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


@pytest.mark.parametrize("header", ["", "4 3\n"], ids=["glove", "fasttext-header"])
def test_matrix_takes_known_words_and_keeps_random_ones(files, header):
    vocabulary_file, vectors_file = files
    vectors_file.write_text(header + vectors_file.read_text())
    vocabulary = embeddings.read_vocabulary(vocabulary_file)
    matrix, found = embeddings.embedding_matrix(vectors_file, vocabulary, initial(6, 3))
    assert found == 3 and matrix.shape == (6, 3) and matrix.dtype == np.float32
    np.testing.assert_array_equal(matrix[0], 0.0)  # padding
    for word, vector in VECTORS.items():
        np.testing.assert_array_equal(matrix[vocabulary.index(word)], vector)
    np.testing.assert_array_equal(matrix[[1, 5]], initial(6, 3)[[1, 5]])  # [UNK] and zebra


def test_vectors_of_another_size_are_refused(files):
    with pytest.raises(ValueError, match="model.embedding_dim is 4"):
        embeddings.embedding_matrix(files[1], VOCABULARY, initial(6, 4))


@pytest.mark.parametrize("net", NETS)
@pytest.mark.parametrize("trainable", [True, False])
def test_text_nets_take_the_vectors_frozen_or_trainable(files, net, trainable):
    vocabulary_file, vectors_file = files
    model = NETS[net](
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
            embeddings=str(vectors_file),
            vocabulary_file=str(vocabulary_file),
        )
