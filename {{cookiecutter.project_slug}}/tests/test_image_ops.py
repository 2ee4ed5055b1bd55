"""The image ops, each eagerly and inside tf.data.Dataset.map: they differ more than you think."""

from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf

from {{ cookiecutter.package_name }}.data import image_ops


def make_image(height=10, width=14, channels=1):
    return np.random.default_rng(0).integers(0, 256, (height, width, channels), np.uint8)


def eager_and_in_map(op, image):
    """op on the PNG of `image`, eagerly and in Dataset.map, as numpy; asserts the two agree."""
    raw = tf.io.encode_png(image).numpy()
    in_map = next(tf.data.Dataset.from_tensors(raw).map(op).as_numpy_iterator())
    np.testing.assert_allclose(in_map, op(tf.constant(raw)), atol=1e-6)
    return in_map


CONVERSIONS = [(3, 3), (1, 3), (4, 1), (1, 1), (2, None), (4, None)]  # stored -> asked for


@pytest.mark.parametrize("stored, channels", CONVERSIONS)
def test_decode_image_is_lossless_and_converts_channels(stored, channels):
    image = make_image(channels=stored)
    decoded = eager_and_in_map(lambda raw: image_ops.decode_image(raw, channels), image)
    gray, rgb = image[..., :1], image[..., :3]  # None: alpha dropped, gray or colour kept
    if stored >= 3 and channels == 1:
        gray = tf.image.rgb_to_grayscale(rgb).numpy()
    if stored < 3 and channels == 3:
        rgb = np.repeat(gray, 3, axis=-1)
    colour = channels == 3 or (channels is None and stored >= 3)
    np.testing.assert_array_equal(decoded, rgb if colour else gray)


def test_example_fn_turns_stored_pngs_into_normalised_model_inputs():
    metadata = SimpleNamespace(input_shape=[10, 14, 3], mean=[0.5] * 3, std=[0.25] * 3)
    image = make_image()  # gray: the model takes 3 channels
    example_fn = image_ops.make_example_fn(metadata)
    inputs = eager_and_in_map(example_fn, image)
    expected = (np.repeat(image, 3, axis=-1) / 255.0 - 0.5) / 0.25
    np.testing.assert_allclose(inputs, expected, atol=1e-5)
    batch = image_ops.make_prepare_fn(metadata)(np.stack([image] * 2))  # a batch alike
    np.testing.assert_allclose(batch[1, ..., :1], expected[..., :1], atol=1e-5)
    with pytest.raises(tf.errors.InvalidArgumentError):  # stored at another size
        example_fn(tf.io.encode_png(make_image(12, 14)))


def test_augment_images_changes_each_image_its_own_way_by_its_seed():
    image = np.arange(8 * 8, dtype=np.float32).reshape(8, 8, 1)
    images = tf.constant(np.stack([image] * 16))
    assert image_ops.make_augment_fn({"augment": {"crop_padding": 0, "flip": False}}) is None

    def augment(seed, **options):
        augment_fn = image_ops.make_augment_fn({"augment": options})
        return augment_fn(images, tf.constant([7, seed], tf.int64)).numpy()

    padded = np.pad(image, [[2, 2], [2, 2], [0, 0]], mode="symmetric")
    windows = [padded[r : r + 8, c : c + 8].tobytes() for r in range(5) for c in range(5)]
    # Each result a window of the padded image, not one shift for the whole batch.
    offsets = {windows.index(result.tobytes()) for result in augment(1, crop_padding=2)}
    assert len(offsets) > 4
    mirrored = [np.array_equal(result, image[:, ::-1]) for result in augment(2, flip=True)]
    kept = [np.array_equal(result, image) for result in augment(2, flip=True)]
    assert all(np.logical_or(mirrored, kept)) and 0 < sum(mirrored) < 16
    shifts = augment(3, brightness=0.5) - images.numpy()  # one offset per image, in +-0.5
    np.testing.assert_allclose(shifts, np.broadcast_to(shifts[:, :1, :1], shifts.shape), atol=1e-4)
    assert np.all(np.abs(shifts) <= 0.5) and len(set(shifts[:, 0, 0, 0])) == 16

    in_a_graph = tf.function(lambda seed: image_ops.augment_images(images, seed, 2, True))
    seed = tf.constant([7, 4], tf.int64)
    eager = image_ops.augment_images(images, seed, crop_padding=2, flip=True)
    np.testing.assert_array_equal(eager, in_a_graph(seed))  # a pure function of the seed
    assert not np.array_equal(eager, in_a_graph(tf.constant([7, 5], tf.int64)))


@pytest.mark.slow
def test_store_image_averages_fine_detail_in_eager_mode_and_in_a_map():
    stripes = np.zeros((48, 72, 3), np.uint8)
    stripes[:, ::2] = 255  # one-pixel columns: a resize that samples would alias them
    stored = eager_and_in_map(lambda raw: image_ops.store_image(raw, [16, 24], None), stripes)
    assert stored.shape == (16, 24, 3) and stored.min() > 100 and stored.max() < 160
    enlarged = image_ops.store_image(tf.io.encode_png(make_image(8, 8)), [32, 32], None)
    assert enlarged.shape == (32, 32, 1) and enlarged.dtype == tf.uint8
    antialiased = np.round(tf.image.resize(make_image(8, 8), [32, 32], antialias=True))
    assert np.abs(enlarged.numpy() - antialiased).max() <= 1  # by plain bilinear: the same


SHRUNK = [([32, 32], True), ([100, 60], True), ([200, 256], False)]  # 1/8, 1/2, whole


@pytest.mark.parametrize("size, shrunk", SHRUNK)
def test_a_large_jpeg_is_decoded_smaller_first_and_stored_as_a_full_decode_would_be(size, shrunk):
    ramp = np.linspace(0, 255, 256)
    photo = np.stack(np.broadcast_arrays(ramp[:, None], ramp[None, :], 90), -1).astype(np.uint8)
    jpeg = tf.io.encode_jpeg(photo, quality=95)
    full = np.round(tf.image.resize(tf.io.decode_jpeg(jpeg), size, antialias=True))
    stored = image_ops.store_image(jpeg, size, 3).numpy()
    in_map = tf.data.Dataset.from_tensors(jpeg).map(lambda x: image_ops.store_image(x, size, 3))
    assert np.array_equal(stored, next(in_map.as_numpy_iterator())) and stored.shape == (*size, 3)
    difference = np.abs(stored - full)  # libjpeg's DCT scaling, then the same resize
    assert difference.max() <= 6 and (difference.max() > 0) == shrunk, difference.max()
