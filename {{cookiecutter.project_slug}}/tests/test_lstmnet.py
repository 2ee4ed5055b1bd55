import numpy as np
import pytest

from {{ cookiecutter.package_name }}.models.lstmnet import build_lstm


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
    model = build_lstm(sequence_length=6, vocab_size=20, num_classes=3, units=8, **options)
    ids = np.array([[2, 3, 4, 0, 0, 0], [5, 1, 0, 0, 0, 0]], np.int32)
    assert model(ids).shape == (2, 3)
    names = [layer.name for layer in model.layers]
    assert names[:2] == ["token_ids", "embedding"]
    assert [name for name in names if name.startswith(("bidirectional", "lstm", "gru"))] == (
        recurrent_layers
    )


@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_padding_is_masked(pooling):
    model = build_lstm(sequence_length=6, vocab_size=20, num_classes=2, units=8, pooling=pooling)
    short = model(np.array([[2, 3, 0, 0, 0, 0]], np.int32)).numpy()
    longer = np.array([[2, 3, 0, 0, 0, 0, 0, 0]], np.int32)
    same = build_lstm(sequence_length=8, vocab_size=20, num_classes=2, units=8, pooling=pooling)
    same.set_weights(model.get_weights())
    np.testing.assert_allclose(same(longer).numpy(), short, atol=1e-5)


@pytest.mark.parametrize("options", [{"cell": "transformer"}, {"pooling": "max"}])
def test_unknown_options_are_refused(options):
    with pytest.raises(ValueError, match="model."):
        build_lstm(sequence_length=4, vocab_size=10, num_classes=2, **options)
