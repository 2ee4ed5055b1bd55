import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import as_texts, fit, small_transformer, vectorizer


def test_transformer_maps_texts_to_logits_masks_the_padding_and_refuses_bad_options():
    model = small_transformer(vectorizer=vectorizer(6), num_classes=3)
    attention = [layer.name for layer in model.layers if layer.name.endswith("_attention")]
    assert attention == ["block1_attention", "block2_attention"]
    texts = as_texts([[2, 3, 0, 0, 0, 0], [4, 5, 6, 7, 0, 0]])
    before = model(texts).numpy()
    positions = model.get_layer("position_embedding").embeddings
    positions.assign(tf.tensor_scatter_nd_update(positions, [[4], [5]], tf.ones([2, 16])))
    # Padding sits at positions 4 and 5 in both sequences: their vectors must not count.
    np.testing.assert_allclose(model(texts).numpy(), before, atol=1e-5)
    for key, value in [("num_blocks", 0), ("num_heads", 3)]:  # bad options
        with pytest.raises(ValueError, match=f"model.{key}={value}"):
            small_transformer(vectorizer=vectorizer(4), num_classes=2, **{key: value})


@pytest.mark.slow
def test_transformer_learns():
    """Texts of random words; class 1 when word w5 is among them."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    ids, labels = rng.integers(6, 30, (256, 10)), rng.integers(0, 2, 256)
    for row, (label, size) in enumerate(zip(labels, rng.integers(3, 11, 256), strict=True)):
        if label:
            ids[row, rng.integers(0, size)] = 5
        ids[row, size:] = 0
    model = small_transformer(vectorizer=vectorizer(10, 30), num_classes=2, num_blocks=1)
    history = fit(model, as_texts(ids), labels, 0.01, epochs=8, batch_size=32)
    assert history["loss"][-1] < 0.5 * history["loss"][0] and history["accuracy"][-1] >= 0.9
