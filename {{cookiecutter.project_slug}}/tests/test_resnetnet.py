import keras
import numpy as np
import pytest
from helpers import fit

from {{ cookiecutter.package_name }}.models import resnetnet


def small_resnet(input_shape=(16, 16, 1), depth=8, width=4, **options) -> keras.Model:
    options = {"num_classes": 2, "dropout_rate": 0.0, "synchronized_batch_norm": True, **options}
    return resnetnet.build_resnet(input_shape=input_shape, depth=depth, width=width, **options)


def test_resnet20_maps_images_to_logits_and_a_depth_not_6n_plus_2_is_refused():
    model = small_resnet((32, 32, 3), depth=20, width=16, num_classes=10)
    assert model.name == "resnet20" and model.layers[-1].name == "logits"
    assert model(np.zeros((2, 32, 32, 3), np.float32)).shape == (2, 10)
    assert len([layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]) == 21
    assert model.count_params() == 274042  # ResNet-20 of the paper: 0.27 M
    for depth in (7, 2):
        with pytest.raises(ValueError, match=f"model.depth={depth} must be 6n"):
            small_resnet(depth=depth)


@pytest.mark.slow
def test_resnet_learns_and_updates_batch_norm():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 48)  # dark (0) or bright (1) noisy grey images
    images = rng.normal(np.where(labels, 1.0, -1.0)[:, None, None, None], 0.5, (48, 16, 16, 1))
    model = small_resnet(width=8, dropout_rate=0.1)
    history = fit(model, images.astype(np.float32), labels, 0.01, epochs=4, batch_size=16)
    assert history["loss"][-1] < 0.5 * history["loss"][0] and history["accuracy"][-1] >= 0.9
    assert np.abs(model.get_layer("stem_bn").moving_mean.numpy()).max() > 0.0
