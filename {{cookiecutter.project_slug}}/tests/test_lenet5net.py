import numpy as np
import pytest

from {{ cookiecutter.package_name }}.models.lenet5net import build_lenet5


@pytest.mark.parametrize("shape", [(32, 32, 1), (16, 16, 3)], ids=["grey", "small-colour"])
def test_lenet5_maps_images_of_16x16_or_more_to_logits_with_its_options(shape):
    model = build_lenet5(input_shape=shape, num_classes=10, activation="tanh", dropout_rate=0.5)
    assert model(np.zeros((2, *shape), np.float32)).shape == (2, 10)
    hidden = ["conv1", "conv2", "fc1", "fc2"]
    assert [layer.name for layer in model.layers if layer.weights] == [*hidden, "logits"]
    assert {model.get_layer(name).activation.__name__ for name in hidden} == {"tanh"}
    assert {model.get_layer(name).rate for name in ("dropout1", "dropout2")} == {0.5}
    assert shape != (32, 32, 1) or model.count_params() == 61706  # LeNet-5's
    with pytest.raises(ValueError, match="at least 16x16"):
        build_lenet5(input_shape=(8, 8, 1), num_classes=10, activation="relu", dropout_rate=0.0)
