from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import fit, reload_keras_file
from omegaconf import OmegaConf

from {{ cookiecutter.package_name }}.models import transformernet

SMALL = {
    "embedding_dim": 16,
    "num_heads": 2,
    "feed_forward_dim": 32,
    "num_blocks": 1,
    "embeddings": None,
    "freeze_embeddings": False,
    "vocabulary_file": None,
}


def config_values() -> dict:
    """configs/model/transformer.yaml's values: the builder needs every one and no other."""
    values = OmegaConf.to_container(
        OmegaConf.load(
            Path(transformernet.__file__).parents[1] / "configs" / "model" / "transformer.yaml"
        )
    )
    assert values.pop("name") == "transformer"
    return values


def keyword_task(count: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Padded sequences of random words; class 1 when word 5 is among them."""
    rng = np.random.default_rng(0)
    ids = rng.integers(6, 30, (count, length))
    labels = rng.integers(0, 2, count)
    lengths = rng.integers(3, length + 1, count)
    for row, (label, size) in enumerate(zip(labels, lengths, strict=True)):
        if label:
            ids[row, rng.integers(0, size)] = 5
        ids[row, size:] = 0
    return ids.astype(np.int32), labels


def test_transformer_from_its_config_maps_ids_to_logits():
    model = transformernet.build_transformer(
        sequence_length=12, vocab_size=50, num_classes=3, vocabulary_file=None, **config_values()
    )
    ids = np.array([[2, 3, 4] + [0] * 9, [5] * 12], np.int32)
    assert model(ids).shape == (2, 3)
    names = [layer.name for layer in model.layers]
    assert names[:3] == ["token_ids", "embedding", "position_embedding"]
    assert names[-1] == "logits"
    assert [name for name in names if name.endswith("_attention")] == [
        "block1_attention",
        "block2_attention",
    ]


def test_padding_is_masked():
    model = transformernet.build_transformer(
        sequence_length=6, vocab_size=20, num_classes=2, dropout_rate=0.0, **SMALL
    )
    ids = np.array([[2, 3, 0, 0, 0, 0], [4, 5, 6, 7, 0, 0]], np.int32)
    before = model(ids).numpy()
    positions = model.get_layer("position_embedding").position_embeddings
    positions.assign(tf.tensor_scatter_nd_update(positions, [[4], [5]], tf.ones([2, 16])))
    # Padding sits at positions 4 and 5 in both sequences: their vectors must not count.
    np.testing.assert_allclose(model(ids).numpy(), before, atol=1e-5)


@pytest.mark.parametrize(
    "options", [{"num_blocks": 0}, {"num_heads": 3}], ids=["no-blocks", "heads"]
)
def test_bad_options_are_refused(options):
    with pytest.raises(ValueError, match="model."):
        transformernet.build_transformer(
            sequence_length=4,
            vocab_size=10,
            num_classes=2,
            dropout_rate=0.0,
            **{**SMALL, **options},
        )


def test_transformer_learns_and_round_trips(tmp_path):
    keras.utils.set_random_seed(0)
    ids, labels = keyword_task(256, 10)
    model = transformernet.build_transformer(
        sequence_length=10, vocab_size=30, num_classes=2, dropout_rate=0.0, **SMALL
    )
    history = fit(model, ids, labels, learning_rate=0.01, epochs=8, batch_size=32)
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert model.evaluate(ids, labels, verbose=0)[1] >= 0.9

    reload_keras_file(model, ids, tmp_path / "transformer.keras")
