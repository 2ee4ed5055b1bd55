import keras
import numpy as np
import pytest
from helpers import small_lstm, small_transformer, vectorizer

from {{ cookiecutter.package_name }}.models.embeddings import set_word_vectors

VOCABULARY = vectorizer(4, vocab_size=6).get_vocabulary()  # "", "[UNK]", "w2", ..., "w5"
VECTORS = {"w3": [0.5, -0.5, 1.0, 2.0], "w2": [1.0, 2.0, 3.0, 4.0], "w4": [0.0, 0.25, -1.0, 0]}
# A GloVe-format file (no header), with a word the vocabulary lacks.
LINES = ["unseen 9 9 9 9", *(f"{word} {' '.join(map(str, v))}" for word, v in VECTORS.items())]


def test_known_words_get_their_vectors_and_the_others_keep_theirs(tmp_path):
    (tmp_path / "vectors.txt").write_text("\n".join(["4 4", *LINES]))  # fastText's header
    layer, other_size = keras.layers.Embedding(6, 4), keras.layers.Embedding(6, 5)
    layer.build()
    other_size.build()
    initial = layer.embeddings.numpy()
    set_word_vectors(layer, VOCABULARY, str(tmp_path / "vectors.txt"), freeze=False)
    matrix = layer.embeddings.numpy()
    assert layer.trainable and not matrix[0].any()  # padding: zeros
    for word, vector in VECTORS.items():
        np.testing.assert_array_equal(matrix[VOCABULARY.index(word)], vector)
    np.testing.assert_array_equal(matrix[[1, 5]], initial[[1, 5]])  # [UNK] and w5
    with pytest.raises(ValueError, match="model.embedding_dim is 5"):
        set_word_vectors(other_size, VOCABULARY, str(tmp_path / "vectors.txt"), freeze=False)


@pytest.mark.parametrize("build", [small_lstm, small_transformer], ids=["lstm", "transformer"])
def test_text_nets_start_from_the_vectors_frozen(tmp_path, build):
    (tmp_path / "vectors.txt").write_text("\n".join(LINES))
    options = {"embeddings": str(tmp_path / "vectors.txt"), "freeze_embeddings": True}
    model = build(vectorizer=vectorizer(6), num_classes=2, embedding_dim=4, **options)
    layer = model.get_layer("embedding")
    np.testing.assert_array_equal(layer.embeddings.numpy()[2], VECTORS["w2"])
    assert all(weight is not layer.embeddings for weight in model.trainable_weights)
