import keras
import numpy as np
import pytest
from helpers import as_texts, small_lstm, vectorizer
from keras.layers import RNN, Bidirectional

# (options, the recurrent layers they make)
VARIANTS = [({}, ["bidirectional_1"]), ({"num_layers": 2}, ["bidirectional_1", "bidirectional_2"])]
VARIANTS += [({"cell": "gru", "bidirectional": False, "pooling": "mean"}, ["gru_1"])]


@pytest.mark.parametrize("options, expected", VARIANTS)
def test_lstm_variants_map_texts_to_logits_and_mask_the_padding(options, expected):
    model = small_lstm(num_classes=3, **options)
    texts = as_texts([[2, 3, 4, 0, 0, 0], [5, 1, 0, 0, 0, 0]])
    assert model(texts).shape == (2, 3)
    recurrent = [layer.name for layer in model.layers if isinstance(layer, (RNN, Bidirectional))]
    assert recurrent == expected  # LSTM and GRU are RNNs
    assert model.get_layer("embedding").output_dim == 8 and model.get_layer("dropout").rate == 0.5
    first = model.get_layer(expected[0])
    assert getattr(first, "forward_layer", first).units == 16
    longer = small_lstm(vectorizer=vectorizer(8), num_classes=3, **options)  # 2 more padding ids
    longer.set_weights(model.get_weights())
    np.testing.assert_allclose(longer(texts).numpy(), model(texts).numpy(), atol=1e-5)
    trimmed = keras.Model(model.input, model.get_layer("trim_padding").output)
    assert trimmed(texts).shape == (2, 3)  # the longest text's ids: no step of padding alone
    np.testing.assert_allclose(model(texts[1:]).numpy(), model(texts).numpy()[1:], atol=1e-5)


@pytest.mark.parametrize("key, value", [("cell", "rnn"), ("pooling", "max"), ("num_layers", 0)])
def test_bad_options_are_refused(key, value):
    with pytest.raises(ValueError, match=f"model.{key}={value!r}"):
        small_lstm(num_classes=2, **{key: value})
