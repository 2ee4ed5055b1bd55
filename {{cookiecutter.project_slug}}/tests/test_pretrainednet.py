import keras
import numpy as np
import pytest

from {{ cookiecutter.package_name }}.models import pretrainednet

MEAN, STD = 0.4, 0.2  # a data set's normalisation, as in metadata.json


# mobilenet_v3_small, randomly initialised (nothing downloads), two phases if it had weights.
OPTIONS = {"backbone": "mobilenet_v3_small", "weights": None, "dropout_rate": 0.0}
OPTIONS |= {"freeze_epochs": 1, "fine_tune_blocks": 2, "fine_tune_learning_rate": 1e-4}


def build_small(input_shape=(32, 32, 1), **changes) -> keras.Model:
    """The net of OPTIONS but `changes`, for two classes of 32x32 grey images."""
    channels = input_shape[-1]
    options = {**OPTIONS, **changes, "mean": [MEAN] * channels, "std": [STD] * channels}
    return pretrainednet.build_pretrained(
        input_shape=input_shape, num_classes=2, synchronized_batch_norm=True, **options
    )


def batch_norm_layers(model: keras.Model) -> list[keras.layers.BatchNormalization]:
    layers = model.get_layer("backbone").layers
    return [layer for layer in layers if isinstance(layer, keras.layers.BatchNormalization)]


@pytest.mark.parametrize(
    "backbone, blocks", [("mobilenet_v3_small", 11), ("efficientnet_v2_b0", 21)]
)
def test_backbone_maps_images_to_logits_and_thaws_from_the_top(backbone, blocks):
    model = build_small((32, 32, 3), backbone=backbone)
    assert model(np.zeros((2, 32, 32, 3), np.float32)).shape == (2, 2)
    assert model.layers[-1].name == "logits"
    assert pretrainednet.layer_blocks(model)[-1] == blocks  # after the stem, block 0

    def trainable(num_blocks: int) -> int:
        pretrainednet.set_trainable_blocks(model, num_blocks)
        assert not any(layer.trainable for layer in batch_norm_layers(model))
        return len(model.trainable_weights)

    counts = [trainable(count) for count in (0, 1, 2, blocks - 1, blocks, blocks + 5)]
    assert counts[0] == 2  # the classifier's kernel and bias
    assert counts[0] < counts[1] < counts[2] < counts[3] < counts[4] == counts[5]
    assert counts[4] == 2 + sum(
        len(layer.trainable_weights)
        for layer in model.get_layer("backbone").layers
        if not isinstance(layer, keras.layers.BatchNormalization)
    )


def test_normalised_grey_images_reach_the_backbone_as_rgb_pixels():
    model = build_small()
    pixels = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 1)).astype(np.float32)
    to_rgb = keras.Model(model.inputs, model.get_layer("to_rgb").output)
    np.testing.assert_allclose(
        to_rgb((pixels / 255.0 - MEAN) / STD), np.repeat(pixels, 3, axis=-1), atol=1e-3
    )


@pytest.mark.parametrize("suffix", [".weights.h5", ".keras"])
def test_weights_from_a_local_file_start_the_first_phase(tmp_path, suffix):
    scratch = build_small()
    # keras.applications' momentum 0.999 left the moving statistics of a net trained from
    # scratch so far behind that it put every MNIST test image in one class (9.75%).
    assert {layer.momentum for layer in batch_norm_layers(scratch)} == {0.99}
    assert scratch.fine_tune is None  # random weights train whole from the start
    source, path = scratch.get_layer("backbone"), tmp_path / f"backbone{suffix}"
    source.save(path) if suffix == ".keras" else source.save_weights(path)
    model = build_small(weights=str(path))
    assert {layer.momentum for layer in batch_norm_layers(model)} == {0.999}  # as Keras has it
    assert model.fine_tune.phase(0) == 0 and len(model.trainable_weights) == 2  # the classifier
    for expected, actual in zip(source.weights, model.get_layer("backbone").weights, strict=True):
        np.testing.assert_array_equal(actual.numpy(), expected.numpy())


def offline(**options):
    raise Exception("URL fetch failure: [Errno -3] Temporary failure in name resolution")


@pytest.mark.parametrize(
    "options, message",
    [
        ({"backbone": "vgg16"}, "model.backbone"),
        ({"weights": "missing.weights.h5"}, "model.weights"),
        ({"input_shape": (28, 28, 1)}, r"data.image_size=\[224,224\]"),
        ({"weights": "imagenet"}, "model.weights=PATH.*model.weights=null"),  # offline
    ],
    ids=["backbone", "missing-file", "too-small", "offline"],
)
def test_bad_options_are_refused_with_the_fix(monkeypatch, options, message):
    _, pattern = pretrainednet.BACKBONES["mobilenet_v3_small"]
    monkeypatch.setitem(pretrainednet.BACKBONES, "mobilenet_v3_small", (offline, pattern))
    with pytest.raises(ValueError, match=message):
        build_small(**options)
