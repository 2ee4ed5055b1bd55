import numpy as np
import pytest
from keras.layers import RNN, Bidirectional, TextVectorization

from {{ cookiecutter.package_name }}.models import lstmnet

OPTIONS = {"embedding_dim": 8, "units": 16, "cell": "lstm", "bidirectional": True, "num_layers": 1}
OPTIONS |= {"pooling": "last", "dropout_rate": 0.5, "embeddings": None, "freeze_embeddings": False}


def vectorizer(length: int, vocab_size: int = 20) -> TextVectorization:
    """Words w2, w3, ... as ids 2, 3, ... (0: padding, 1: any other word)."""
    words = [f"w{index}" for index in range(2, vocab_size)]
    return TextVectorization(vocabulary=words, output_sequence_length=length, name="vectorizer")


def as_texts(ids: np.ndarray) -> np.ndarray:
    """The texts whose word ids (by `vectorizer`) are the rows of `ids`."""
    words = [" ".join("oov" if i == 1 else f"w{i}" for i in row if i) for row in ids]
    return np.array(words, dtype=object)


def build_lstm(**options):
    return lstmnet.build_lstm(**{**OPTIONS, "vectorizer": vectorizer(6), **options})


@pytest.mark.parametrize(
    "options, expected",
    [
        ({}, ["bidirectional_1"]),
        ({"cell": "gru", "bidirectional": False, "pooling": "mean"}, ["gru_1"]),
        ({"num_layers": 2}, ["bidirectional_1", "bidirectional_2"]),
    ],
)
def test_lstm_variants_map_texts_to_logits_and_mask_the_padding(options, expected):
    model = build_lstm(num_classes=3, **options)
    texts = as_texts([[2, 3, 4, 0, 0, 0], [5, 1, 0, 0, 0, 0]])
    assert model(texts).shape == (2, 3)
    recurrent = [layer.name for layer in model.layers if isinstance(layer, (RNN, Bidirectional))]
    assert recurrent == expected  # LSTM and GRU are RNNs
    assert model.get_layer("embedding").output_dim == 8 and model.get_layer("dropout").rate == 0.5
    first = model.get_layer(expected[0])
    assert getattr(first, "forward_layer", first).units == 16
    longer = build_lstm(vectorizer=vectorizer(8), num_classes=3, **options)  # 2 more padding ids
    longer.set_weights(model.get_weights())
    np.testing.assert_allclose(longer(texts).numpy(), model(texts).numpy(), atol=1e-5)


@pytest.mark.parametrize("key, value", [("cell", "rnn"), ("pooling", "max"), ("num_layers", 0)])
def test_bad_options_are_refused(key, value):
    with pytest.raises(ValueError, match=f"model.{key}={value!r}"):
        build_lstm(num_classes=2, **{key: value})
