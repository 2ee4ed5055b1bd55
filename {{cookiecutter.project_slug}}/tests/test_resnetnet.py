import json
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import PACKAGE, fit, reload_keras_file, run_bounded
from omegaconf import OmegaConf

from {{ cookiecutter.package_name }}.models import resnetnet


def config_values() -> dict:
    """configs/model/resnet.yaml's values: the builder needs every one and no other."""
    values = OmegaConf.to_container(
        OmegaConf.load(Path(resnetnet.__file__).parents[1] / "configs" / "model" / "resnet.yaml")
    )
    assert values.pop("name") == "resnet"
    return values


def brightness_task(count: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised grey images, dark (class 0) or bright (class 1), with noise."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, count)
    images = (
        rng.normal(0.0, 0.5, (count, size, size, 1))
        + np.where(labels, 1.0, -1.0)[:, None, None, None]
    )
    return images.astype(np.float32), labels


def small_resnet(**options) -> keras.Model:
    """A ResNet-8 of width 4 on 16x16 grey images, two classes."""
    options = {
        "input_shape": (16, 16, 1),
        "num_classes": 2,
        "depth": 8,
        "width": 4,
        "dropout_rate": 0.0,
        "synchronized_batch_norm": True,  # with no replicas the same as unsynchronized
        **options,
    }
    return resnetnet.build_resnet(**options)


def test_resnet20_from_its_config_maps_images_to_logits():
    model = resnetnet.build_resnet(input_shape=(32, 32, 3), num_classes=10, **config_values())
    assert model.name == "resnet20"
    assert model(np.zeros((2, 32, 32, 3), np.float32)).shape == (2, 10)
    assert model.layers[-1].name == "logits"
    assert len([layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]) == 21
    assert model.count_params() == 274042  # ResNet-20 of the paper: 0.27 M


@pytest.mark.parametrize("depth", [7, 10, 2])
def test_depth_must_be_6n_plus_2(depth):
    with pytest.raises(ValueError, match="6n \\+ 2"):
        small_resnet(depth=depth)


def test_resnet_refuses_images_too_small():
    with pytest.raises(ValueError, match="at least 8x8"):
        small_resnet(input_shape=(4, 4, 1))


@pytest.mark.slow
def test_resnet_learns_updates_batch_norm_and_round_trips(tmp_path):
    keras.utils.set_random_seed(0)
    images, labels = brightness_task(48, 16)
    model = small_resnet(width=8, dropout_rate=0.1)
    history = fit(model, images, labels, learning_rate=0.01, epochs=4, batch_size=16)
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["accuracy"][-1] >= 0.9
    moving_mean = model.get_layer("stem_bn").moving_mean.numpy()
    assert np.abs(moving_mean).max() > 0.0  # the training steps updated the statistics

    reload_keras_file(model, images, tmp_path / "resnet.keras")


# One training step on a global batch of 8 whose halves differ, on one device and on two
# replicas of 4; prints the moving mean of the first batch norm (each replica's copy).
BATCH_NORM_STEP = """
import json
import sys

import numpy as np
import tensorflow as tf

from {package}.distribute import split_cpu

split_cpu(2)
import keras  # noqa: E402

from {package}.models.resnetnet import build_resnet  # noqa: E402

synchronized = sys.argv[1] == "true"
images = np.concatenate([np.full((4, 16, 16, 1), 1.0), np.full((4, 16, 16, 1), 3.0)])
labels = np.array([0] * 4 + [1] * 4)
for strategy in (
    tf.distribute.OneDeviceStrategy("/cpu:0"),
    tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]),
):
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = build_resnet(
            input_shape=(16, 16, 1),
            num_classes=2,
            depth=8,
            width=4,
            dropout_rate=0.0,
            synchronized_batch_norm=synchronized,
        )
    dataset = tf.data.Dataset.from_tensor_slices((images.astype("float32"), labels)).batch(8)

    @tf.function
    def step(x):
        strategy.run(lambda x: model(x, training=True), (x,))

    for x, _ in strategy.experimental_distribute_dataset(dataset):
        step(x)
    copies = model.get_layer("stem_bn").moving_mean.value
    print(json.dumps([copy.numpy().tolist() for copy in getattr(copies, "values", [copies])]))
"""


@pytest.mark.slow
@pytest.mark.parametrize("synchronized", [True, False])
def test_synchronized_batch_norm_makes_two_replicas_match_one_device(run_module, synchronized):
    command = [sys.executable, "-c", BATCH_NORM_STEP.format(package=PACKAGE)]
    result = run_bounded([*command, str(synchronized).lower()], 120, env=run_module.env)
    assert result.returncode == 0, result.stderr
    (one_device,), replicas = map(json.loads, result.stdout.splitlines())
    matches = [np.allclose(copy, one_device, atol=1e-6) for copy in replicas]
    # Unsynchronized, each replica averages the statistics of its own half of the batch.
    assert matches == ([True, True] if synchronized else [False, False])
