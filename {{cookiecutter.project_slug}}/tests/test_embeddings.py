import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import small_transformer
from keras.layers import TextVectorization
from test_lstmnet import build_lstm

from {{ cookiecutter.package_name }}.models import embeddings

VOCABULARY = ["", "[UNK]", "good", "bad", "film", "zebra"]  # as the vectorizer lists it
VECTORS = {"bad": [0.5, -0.5, 1.0], "good": [1.0, 2.0, 3.0], "film": [0.0, 0.25, -1.0]}
# The text nets with 3-number word vectors, for the 6 ids of VOCABULARY.
NETS = {"lstm": lambda **options: build_lstm(units=4, **options), "transformer": small_transformer}


def initial(rows: int, dim: int) -> np.ndarray:
    """An embedding's random start, as the layer draws it."""
    return np.random.default_rng(0).uniform(-0.05, 0.05, (rows, dim)).astype(np.float32)


@pytest.fixture
def vectors_file(tmp_path):
    """A GloVe-format vectors file."""
    lines = [f"{word} {' '.join(map(str, vector))}" for word, vector in VECTORS.items()]
    path = tmp_path / "vectors.txt"
    path.write_text("\n".join(["unseen 9 9 9", *lines]) + "\n")
    return path


@pytest.mark.parametrize("header", ["", "4 3\n"], ids=["glove", "fasttext-header"])
def test_matrix_takes_known_words_and_keeps_random_ones(vectors_file, header):
    vectors_file.write_text(header + vectors_file.read_text())
    matrix, found = embeddings.embedding_matrix(vectors_file, VOCABULARY, initial(6, 3))
    assert found == 3 and matrix.shape == (6, 3) and matrix.dtype == np.float32
    np.testing.assert_array_equal(matrix[0], 0.0)  # padding
    for word, vector in VECTORS.items():
        np.testing.assert_array_equal(matrix[VOCABULARY.index(word)], vector)
    np.testing.assert_array_equal(matrix[[1, 5]], initial(6, 3)[[1, 5]])  # [UNK] and zebra


def test_vectors_of_another_size_are_refused(vectors_file):
    with pytest.raises(ValueError, match="model.embedding_dim is 4"):
        embeddings.embedding_matrix(vectors_file, VOCABULARY, initial(6, 4))


@pytest.mark.parametrize("net", NETS)
@pytest.mark.parametrize("trainable", [True, False])
def test_text_nets_take_the_vectors_frozen_or_trainable(vectors_file, net, trainable):
    model = NETS[net](
        vectorizer=TextVectorization(vocabulary=VOCABULARY[2:], output_sequence_length=4),
        num_classes=2,
        embedding_dim=3,
        embeddings=str(vectors_file),
        freeze_embeddings=not trainable,
        **({"num_heads": 1} if net == "transformer" else {}),
    )
    layer = model.get_layer("embedding")
    np.testing.assert_array_equal(layer.embeddings.numpy()[2], VECTORS["good"])
    assert any(weight is layer.embeddings for weight in model.trainable_weights) == trainable

    texts = tf.constant(["good bad film", "zebra what"])
    with tf.GradientTape() as tape:  # one training step, eagerly
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(
            np.array([0, 1]), model(texts)
        )
    gradients = tape.gradient(loss, model.trainable_weights)
    keras.optimizers.SGD(1.0).apply(gradients, model.trainable_weights)
    changed = not np.array_equal(layer.embeddings.numpy()[2], VECTORS["good"])
    assert changed == trainable
