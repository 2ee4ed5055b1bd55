from unittest import mock

import keras
import numpy as np
import pytest

from {{ cookiecutter.package_name }}.models import pretrainednet

MEAN, STD = 0.4, 0.2  # a data set's normalisation, as in metadata.json
OPTIONS = {"backbone": "mobilenet_v3_small", "weights": None, "dropout_rate": 0.0}
OPTIONS |= {"freeze_epochs": 1, "fine_tune_learning_rate": 1e-4, "synchronized_batch_norm": True}
KERAS_MOMENTUM = {"mobilenet_v3_small": 0.999, "efficientnet_v2_b0": 0.9}  # of its batch norm


def build_small(input_shape=(32, 32, 1), **changes) -> keras.Model:
    """The net of OPTIONS but `changes`, for two classes of images normalised as MEAN, STD."""
    data = {"input_shape": input_shape, "mean": [MEAN], "std": [STD]}  # grey images
    return pretrainednet.build_pretrained(num_classes=2, **data, **{**OPTIONS, **changes})


def batch_norm_layers(model: keras.Model) -> list[keras.layers.BatchNormalization]:
    layers = model.get_layer("backbone").layers
    return [layer for layer in layers if isinstance(layer, keras.layers.BatchNormalization)]


@pytest.mark.parametrize("backbone", pretrainednet.BACKBONES)
def test_weights_from_a_file_train_in_two_phases_and_take_grey_images_as_rgb(tmp_path, backbone):
    scratch = build_small(backbone=backbone)
    # keras.applications' momentum 0.999 left the moving statistics of a net trained from
    # scratch so far behind that it put every MNIST test image in one class (9.75%).
    assert {layer.momentum for layer in batch_norm_layers(scratch)} == {0.99}
    assert scratch.fine_tune is None  # random weights train whole from the start
    source, path = scratch.get_layer("backbone"), tmp_path / "backbone.weights.h5"
    source.save_weights(path)
    model = build_small(backbone=backbone, weights=str(path))
    assert model(np.zeros((2, 32, 32, 1), np.float32)).shape == (2, 2)
    pixels = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 1)).astype(np.float32)
    to_rgb = keras.Model(model.inputs, model.get_layer("to_rgb").output)  # grey in, RGB pixels out
    rgb = to_rgb((pixels / 255.0 - MEAN) / STD)  # of the normalised inputs the model takes
    np.testing.assert_allclose(rgb, np.repeat(pixels, 3, axis=-1), atol=1e-3)
    assert {layer.momentum for layer in batch_norm_layers(model)} == {KERAS_MOMENTUM[backbone]}
    for expected, actual in zip(source.weights, model.get_layer("backbone").weights, strict=True):
        np.testing.assert_array_equal(actual.numpy(), expected.numpy())
    assert len(model.trainable_weights) == 2  # phase 0: the classifier's kernel and bias
    model.fine_tune.set_trainable(model, True)  # all of the backbone but batch norm
    batch_norm = batch_norm_layers(model)
    assert not any(layer.trainable for layer in batch_norm)
    others = [layer for layer in model.get_layer("backbone").layers if layer not in batch_norm]
    assert len(model.trainable_weights) == 2 + sum(len(layer.weights) for layer in others)


BAD_OPTIONS = [({"backbone": "vgg16"}, "model.backbone")]
BAD_OPTIONS += [({"weights": "missing.weights.h5"}, "weights=missing.weights.h5")]
BAD_OPTIONS += [({"input_shape": (28, 28, 1)}, r"data.image_size=\[224,224\]")]
BAD_OPTIONS += [({"weights": "imagenet"}, "model.weights=PATH.*model.weights=null")]  # offline


@pytest.mark.parametrize("options, message", BAD_OPTIONS)
def test_bad_options_are_refused_with_the_fix(monkeypatch, options, message):
    offline = Exception("URL fetch failure: [Errno -3] Temporary failure in name resolution")
    monkeypatch.setattr("keras.src.utils.file_utils.get_file", mock.Mock(side_effect=offline))
    with pytest.raises(ValueError, match=message):
        build_small(**options)
