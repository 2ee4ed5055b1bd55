import dataclasses
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import fit, reload_keras_file
from omegaconf import OmegaConf

from {{ cookiecutter.package_name }}.models import pretrainednet

MEAN, STD = [0.4], [0.2]  # a grey data set's normalisation, as in metadata.json


def config_values() -> dict:
    """configs/model/pretrained.yaml's values, offline: the builder needs every one."""
    values = OmegaConf.to_container(
        OmegaConf.load(
            Path(pretrainednet.__file__).parents[1] / "configs" / "model" / "pretrained.yaml"
        )
    )
    assert values.pop("name") == "pretrained"
    assert values.pop("weights") == "imagenet"
    return {**values, "weights": None}  # nothing downloads in tests


def build_small(input_shape=(32, 32, 1), **options) -> keras.Model:
    """mobilenet_v3_small on 32x32 grey images, randomly initialised."""
    options = {
        "backbone": "mobilenet_v3_small",
        "weights": None,
        "dropout_rate": 0.0,
        "synchronized_batch_norm": True,
        "freeze_epochs": 1,
        "fine_tune_blocks": 2,
        "fine_tune_learning_rate": 1e-4,
        **options,
    }
    return pretrainednet.build_pretrained(
        input_shape=input_shape, mean=MEAN, std=STD, num_classes=2, **options
    )


@pytest.mark.parametrize("backbone", ["mobilenet_v3_small", "efficientnet_v2_b0"])
def test_backbones_map_images_to_logits(backbone):
    values = {**config_values(), "backbone": backbone}
    model = pretrainednet.build_pretrained(
        input_shape=(32, 32, 3), mean=[0.5] * 3, std=[0.25] * 3, num_classes=5, **values
    )
    assert model(np.zeros((2, 32, 32, 3), np.float32)).shape == (2, 5)
    assert model.layers[-1].name == "logits"
    assert isinstance(model.get_layer("backbone"), keras.Model)


def test_normalised_grey_images_reach_the_backbone_as_rgb_pixels():
    model = build_small()
    pixels = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 1)).astype(np.float32)
    normalised = (pixels / 255.0 - MEAN[0]) / STD[0]
    to_rgb = keras.Model(model.inputs, model.get_layer("to_rgb").output)
    np.testing.assert_allclose(to_rgb(normalised), np.repeat(pixels, 3, axis=-1), atol=1e-3)


@pytest.mark.parametrize("suffix", [".weights.h5", ".keras"])
def test_weights_from_a_local_file(tmp_path, suffix):
    source = build_small().get_layer("backbone")
    path = tmp_path / f"backbone{suffix}"
    source.save(path) if suffix == ".keras" else source.save_weights(path)
    model = build_small(weights=str(path))
    loaded = model.get_layer("backbone")
    # Pretrained weights start the first phase: the classifier alone trains.
    assert model.fine_tune.phase(0) == 0 and len(model.trainable_weights) == 2
    assert build_small().fine_tune is None  # random weights train whole from the start
    for expected, actual in zip(source.weights, loaded.weights, strict=True):
        np.testing.assert_array_equal(actual.numpy(), expected.numpy())


def test_batch_norm_trained_from_scratch_tracks_its_statistics_faster(tmp_path):
    """keras.applications' momentum 0.999 left the moving statistics of a net trained from
    scratch so far behind that it put every MNIST test image in one class (9.75%)."""

    def momenta(model: keras.Model) -> set[float]:
        return {
            layer.momentum
            for layer in model.get_layer("backbone").layers
            if isinstance(layer, keras.layers.BatchNormalization)
        }

    scratch = build_small()
    assert momenta(scratch) == {pretrainednet.RANDOM_INIT_BATCH_NORM_MOMENTUM}
    path = tmp_path / "backbone.weights.h5"
    scratch.get_layer("backbone").save_weights(path)
    assert momenta(build_small(weights=str(path))) == {0.999}  # pretrained: as Keras has it


@pytest.mark.parametrize(
    "options, message",
    [
        ({"backbone": "vgg16"}, "model.backbone"),
        ({"weights": "missing.weights.h5"}, "model.weights"),
        ({"weights": "imagenet.txt"}, "model.weights"),
    ],
    ids=["backbone", "missing-file", "not-a-weights-file"],
)
def test_bad_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        build_small(**options)


def test_imagenet_weights_offline_say_what_to_pass_instead(monkeypatch):
    def offline(**options):
        raise Exception("URL fetch failure: [Errno -3] Temporary failure in name resolution")

    backbone = pretrainednet.BACKBONES["mobilenet_v3_small"]
    monkeypatch.setitem(
        pretrainednet.BACKBONES, "mobilenet_v3_small", dataclasses.replace(backbone, build=offline)
    )
    with pytest.raises(ValueError, match="model.weights=PATH.*model.weights=null"):
        build_small(weights="imagenet")


def test_images_too_small_are_refused():
    with pytest.raises(ValueError, match=r"data.image_size=\[224,224\]"):
        build_small(input_shape=(28, 28, 1))


@pytest.mark.parametrize(
    "backbone, blocks", [("mobilenet_v3_small", 11), ("efficientnet_v2_b0", 21)]
)
def test_set_trainable_blocks_thaws_the_top_of_the_backbone(backbone, blocks):
    model = build_small(backbone=backbone)
    assert len(pretrainednet.backbone_blocks(model)) == blocks + 1  # and the stem

    def trainable(num_blocks: int) -> int:
        pretrainednet.set_trainable_blocks(model, num_blocks)
        assert not any(
            layer.trainable
            for layer in model.get_layer("backbone").layers
            if isinstance(layer, keras.layers.BatchNormalization)
        )
        return len(model.trainable_weights)

    counts = [trainable(count) for count in (0, 1, 2, blocks - 1, blocks, blocks + 5)]
    assert counts[0] == 2  # the classifier's kernel and bias
    assert counts[0] < counts[1] < counts[2] < counts[3] < counts[4] == counts[5]
    assert counts[4] == 2 + sum(
        len(layer.trainable_weights)
        for layer in model.get_layer("backbone").layers
        if not isinstance(layer, keras.layers.BatchNormalization)
    )


@pytest.mark.full
def test_offline_transfer_learns_in_two_phases_and_round_trips(tmp_path):
    """Trains a backbone from scratch, keeps its weights in a local file, and fine-tunes a
    new net from that file: the classifier on the frozen backbone, then the top blocks."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 32)
    images = (
        rng.normal(0.0, 0.3, (32, 32, 32, 1)) + np.where(labels, 1.0, -1.0)[:, None, None, None]
    )
    scratch = build_small()
    for layer in scratch.get_layer("backbone").layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0  # the moving statistics that inference uses, in a few steps
    losses = fit(scratch, images, labels, 0.01, epochs=4, batch_size=16)["loss"]
    assert losses[-1] < 0.5 * losses[0]
    assert scratch.evaluate(images, labels, verbose=0)[1] >= 0.8
    weights_file = tmp_path / "backbone.weights.h5"
    scratch.get_layer("backbone").save_weights(weights_file)

    model = build_small(weights=str(weights_file))
    pretrainednet.set_trainable_blocks(model, 0)
    fit(model, images, labels, 0.01, epochs=2, batch_size=16)
    pretrainednet.set_trainable_blocks(model, 2)
    fit(model, images, labels, 0.0001, epochs=1, batch_size=16)
    assert model.evaluate(images, labels, verbose=0)[1] >= 0.9

    reloaded = reload_keras_file(model, images, tmp_path / "pretrained.keras")
    assert all(
        layer.synchronized
        for layer in reloaded.get_layer("backbone").layers
        if isinstance(layer, keras.layers.BatchNormalization)
    )
