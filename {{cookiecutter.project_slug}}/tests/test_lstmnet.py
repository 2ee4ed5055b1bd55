import functools

import numpy as np
import pytest
from keras.layers import TextVectorization

from {{ cookiecutter.package_name }}.models import lstmnet


def vectorizer(sequence_length: int, vocab_size: int = 20) -> TextVectorization:
    """Words w2, w3, ... as ids 2, 3, ... (0: padding, 1: any other word)."""
    words = [f"w{index}" for index in range(2, vocab_size)]
    return TextVectorization(
        vocabulary=words, output_sequence_length=sequence_length, name="vectorizer"
    )


def as_texts(ids: np.ndarray) -> np.ndarray:
    """The texts whose word ids (by `vectorizer`) are the rows of `ids`."""
    words = [" ".join("oov" if i == 1 else f"w{i}" for i in row if i) for row in ids]
    return np.array(words, dtype=object)


# The builder takes every option; these tests set only what they are about.
build_lstm = functools.partial(
    lstmnet.build_lstm,
    embedding_dim=64,
    units=8,
    cell="lstm",
    bidirectional=True,
    num_layers=1,
    pooling="last",
    dropout_rate=0.2,
    embeddings=None,
    freeze_embeddings=False,
)


@pytest.mark.parametrize(
    "options, recurrent_layers",
    [
        ({}, ["bidirectional_1"]),
        ({"cell": "gru", "bidirectional": False}, ["gru_1"]),
        ({"num_layers": 2}, ["bidirectional_1", "bidirectional_2"]),
        ({"pooling": "mean"}, ["bidirectional_1"]),
    ],
    ids=["bilstm", "gru", "stacked", "mean-pooling"],
)
def test_lstm_variants_map_texts_to_logits(options, recurrent_layers):
    model = build_lstm(vectorizer=vectorizer(6), num_classes=3, **options)
    assert model(as_texts([[2, 3, 4, 0, 0, 0], [5, 1, 0, 0, 0, 0]])).shape == (2, 3)
    names = [layer.name for layer in model.layers]
    assert names[:3] == ["texts", "vectorizer", "embedding"]
    assert [name for name in names if name.startswith(("bidirectional", "lstm", "gru"))] == (
        recurrent_layers
    )


@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_padding_is_masked(pooling):
    model = build_lstm(vectorizer=vectorizer(6), num_classes=2, pooling=pooling)
    same = build_lstm(vectorizer=vectorizer(8), num_classes=2, pooling=pooling)
    same.set_weights(model.get_weights())
    texts = as_texts([[2, 3]])  # 4 and 6 padding ids
    np.testing.assert_allclose(same(texts).numpy(), model(texts).numpy(), atol=1e-5)


@pytest.mark.parametrize("key, value", [("cell", "rnn"), ("pooling", "max"), ("num_layers", 0)])
def test_bad_options_are_refused(key, value):
    with pytest.raises(ValueError, match=f"model.{key}={value!r}"):
        build_lstm(vectorizer=vectorizer(6), num_classes=2, **{key: value})


def test_embedding_dim_units_and_dropout_rate_reach_their_layers():
    options = {"embedding_dim": 8, "units": 16, "dropout_rate": 0.5}
    model = build_lstm(vectorizer=vectorizer(6), num_classes=3, **options)
    assert model.get_layer("embedding").output_dim == 8
    assert model.get_layer("bidirectional_1").forward_layer.units == 16
    assert model.get_layer("dropout").rate == 0.5
