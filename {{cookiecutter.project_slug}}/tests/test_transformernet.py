import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import fit, reload_keras_file, small_transformer


def test_transformer_maps_ids_to_logits_and_masks_the_padding():
    model = small_transformer(sequence_length=6, vocab_size=20, num_classes=3)
    names = [layer.name for layer in model.layers]
    assert names[:3] == ["token_ids", "embedding", "position_embedding"] and names[-1] == "logits"
    assert [name for name in names if name.endswith("_attention")] == [
        "block1_attention",
        "block2_attention",
    ]
    ids = np.array([[2, 3, 0, 0, 0, 0], [4, 5, 6, 7, 0, 0]], np.int32)
    before = model(ids).numpy()
    assert before.shape == (2, 3)
    positions = model.get_layer("position_embedding").position_embeddings
    positions.assign(tf.tensor_scatter_nd_update(positions, [[4], [5]], tf.ones([2, 16])))
    # Padding sits at positions 4 and 5 in both sequences: their vectors must not count.
    np.testing.assert_allclose(model(ids).numpy(), before, atol=1e-5)


@pytest.mark.parametrize("key, value", [("num_blocks", 0), ("num_heads", 3)])
def test_bad_options_are_refused(key, value):
    with pytest.raises(ValueError, match=f"model.{key}={value}"):
        small_transformer(sequence_length=4, vocab_size=10, num_classes=2, **{key: value})


@pytest.mark.slow
def test_transformer_learns_and_round_trips(tmp_path):
    """Padded sequences of random words; class 1 when word 5 is among them."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    ids, labels = rng.integers(6, 30, (256, 10)), rng.integers(0, 2, 256)
    for row, (label, size) in enumerate(zip(labels, rng.integers(3, 11, 256), strict=True)):
        if label:
            ids[row, rng.integers(0, size)] = 5
        ids[row, size:] = 0
    model = small_transformer(sequence_length=10, vocab_size=30, num_classes=2, num_blocks=1)
    history = fit(model, ids.astype(np.int32), labels, 0.01, epochs=8, batch_size=32)
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert model.evaluate(ids, labels, verbose=0)[1] >= 0.9
    reload_keras_file(model, ids, tmp_path / "transformer.keras")
