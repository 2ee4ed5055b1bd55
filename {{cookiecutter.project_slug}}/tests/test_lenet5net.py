import functools

import numpy as np
import pytest

from {{ cookiecutter.package_name }}.models import lenet5net

# The builder takes every option; these tests set only what they are about.
build_lenet5 = functools.partial(lenet5net.build_lenet5, activation="relu", dropout_rate=0.0)


def test_lenet5_maps_images_to_logits():
    model = build_lenet5(input_shape=(32, 32, 1), num_classes=10)
    logits = model(np.zeros((2, 32, 32, 1), np.float32))
    assert logits.shape == (2, 10)
    assert [layer.name for layer in model.layers if layer.weights] == [
        "conv1",
        "conv2",
        "fc1",
        "fc2",
        "logits",
    ]
    assert model.count_params() == 61706


def test_lenet5_takes_colour_and_small_images():
    model = build_lenet5(input_shape=(16, 16, 3), num_classes=3, dropout_rate=0.5)
    assert model(np.zeros((1, 16, 16, 3), np.float32)).shape == (1, 3)


def test_lenet5_refuses_images_too_small():
    with pytest.raises(ValueError, match="at least 16x16"):
        build_lenet5(input_shape=(8, 8, 1), num_classes=10)
