import functools

import numpy as np
import pytest

from {{ cookiecutter.package_name }}.models import lstmnet

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
    vocabulary_file=None,
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
def test_lstm_variants_map_ids_to_logits(options, recurrent_layers):
    model = build_lstm(sequence_length=6, vocab_size=20, num_classes=3, **options)
    ids = np.array([[2, 3, 4, 0, 0, 0], [5, 1, 0, 0, 0, 0]], np.int32)
    assert model(ids).shape == (2, 3)
    names = [layer.name for layer in model.layers]
    assert names[:2] == ["token_ids", "embedding"]
    assert [name for name in names if name.startswith(("bidirectional", "lstm", "gru"))] == (
        recurrent_layers
    )


@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_padding_is_masked(pooling):
    model = build_lstm(sequence_length=6, vocab_size=20, num_classes=2, pooling=pooling)
    short = model(np.array([[2, 3, 0, 0, 0, 0]], np.int32)).numpy()
    longer = np.array([[2, 3, 0, 0, 0, 0, 0, 0]], np.int32)
    same = build_lstm(sequence_length=8, vocab_size=20, num_classes=2, pooling=pooling)
    same.set_weights(model.get_weights())
    np.testing.assert_allclose(same(longer).numpy(), short, atol=1e-5)


@pytest.mark.parametrize("key, value", [("cell", "rnn"), ("pooling", "max"), ("num_layers", 0)])
def test_bad_options_are_refused(key, value):
    with pytest.raises(ValueError, match=f"model.{key}={value!r}"):
        build_lstm(sequence_length=6, vocab_size=20, num_classes=2, **{key: value})
