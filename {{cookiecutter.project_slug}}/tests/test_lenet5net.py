import functools

import numpy as np
import pytest

from {{ cookiecutter.package_name }}.models import lenet5net

# The builder takes every option; these tests set only what they are about.
build_lenet5 = functools.partial(lenet5net.build_lenet5, activation="relu", dropout_rate=0.0)


@pytest.mark.parametrize("input_shape", [(32, 32, 1), (16, 16, 3)], ids=["grey", "small-colour"])
def test_lenet5_maps_images_to_logits(input_shape):
    model = build_lenet5(input_shape=input_shape, num_classes=10)
    assert model(np.zeros((2, *input_shape), np.float32)).shape == (2, 10)
    weighted = [layer.name for layer in model.layers if layer.weights]
    assert weighted == ["conv1", "conv2", "fc1", "fc2", "logits"]
    if input_shape == (32, 32, 1):
        assert model.count_params() == 61706  # LeNet-5's


def test_lenet5_refuses_images_too_small():
    with pytest.raises(ValueError, match="at least 16x16"):
        build_lenet5(input_shape=(8, 8, 1), num_classes=10)


def test_activation_and_dropout_rate_reach_their_layers():
    model = build_lenet5(
        input_shape=(32, 32, 1), num_classes=10, activation="tanh", dropout_rate=0.5
    )
    hidden = ("conv1", "conv2", "fc1", "fc2")
    assert {model.get_layer(name).activation.__name__ for name in hidden} == {"tanh"}
    assert {model.get_layer(name).rate for name in ("dropout1", "dropout2")} == {0.5}
