from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf

from {{ cookiecutter.package_name }}.data import image_ops, input_ops


def make_image(height=10, width=14, channels=1, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(height, width, channels)).astype(np.uint8)


def test_example_round_trip_eagerly_and_in_map():
    serialized = input_ops.serialize_example(b"\x89PNG...", 7)
    raw, label = input_ops.parse_example(tf.constant(serialized))
    assert raw.numpy() == b"\x89PNG..." and label.numpy() == 7 and label.dtype == tf.int32

    mapped = tf.data.Dataset.from_tensors(serialized).map(input_ops.parse_example)
    raw_in_map, label_in_map = next(iter(mapped))
    assert raw_in_map.numpy() == raw.numpy() and label_in_map.numpy() == 7


def test_decode_image_is_lossless_eagerly_and_in_map():
    image = make_image(channels=3)
    encoded = image_ops.encode_png(image)
    np.testing.assert_array_equal(image_ops.decode_image(encoded, 3).numpy(), image)

    mapped = tf.data.Dataset.from_tensors(encoded).map(lambda b: image_ops.decode_image(b, 3))
    decoded = next(iter(mapped))
    assert decoded.shape.as_list() == [10, 14, 3]
    np.testing.assert_array_equal(decoded.numpy(), image)


def test_prepare_images_resizes_and_normalises():
    image = np.full((8, 8, 1), 255, np.uint8)
    prepared = image_ops.prepare_images(image, [32, 32], mean=[0.5], std=[0.25])
    assert prepared.shape == (32, 32, 1) and prepared.dtype == tf.float32
    np.testing.assert_allclose(prepared.numpy(), 2.0, rtol=1e-6)


def test_prepare_images_gives_the_same_per_image_as_per_batch_and_in_map():
    images = np.stack([make_image(seed=seed) for seed in range(3)])
    batch = image_ops.prepare_images(images, [20, 28], [0.4], [0.3]).numpy()
    single = image_ops.prepare_images(images[1], [20, 28], [0.4], [0.3]).numpy()
    mapped = tf.data.Dataset.from_tensor_slices(images).map(
        lambda image: image_ops.prepare_images(image, [20, 28], [0.4], [0.3])
    )
    np.testing.assert_allclose(batch[1], single, atol=1e-6)
    np.testing.assert_allclose(list(mapped.as_numpy_iterator())[2], batch[2], atol=1e-6)


def test_example_fn_turns_png_bytes_into_model_inputs():
    # Only the metadata the op reads.
    metadata = SimpleNamespace(
        input_shape=[32, 32, 1], normalization=SimpleNamespace(mean=[0.0], std=[1.0])
    )
    example_fn = image_ops.make_example_fn(metadata, "unused")
    encoded = image_ops.encode_png(make_image())
    eager = example_fn(tf.constant(encoded))
    in_map = next(iter(tf.data.Dataset.from_tensors(encoded).map(example_fn)))
    assert eager.shape == (32, 32, 1)
    np.testing.assert_allclose(eager.numpy(), in_map.numpy())
    assert float(tf.reduce_min(eager)) >= 0.0 and float(tf.reduce_max(eager)) <= 1.0


def test_decode_image_converts_channels_eagerly_and_in_map():
    gray = make_image(channels=1)
    rgba = np.concatenate([make_image(channels=3), np.full((10, 14, 1), 255, np.uint8)], -1)
    as_rgb = image_ops.decode_image(image_ops.encode_png(gray), 3).numpy()
    np.testing.assert_array_equal(as_rgb, np.repeat(gray, 3, axis=-1))
    mapped = tf.data.Dataset.from_tensors(image_ops.encode_png(rgba)).map(
        lambda encoded: image_ops.decode_image(encoded, 1)
    )
    as_gray = next(iter(mapped)).numpy()
    expected = tf.image.rgb_to_grayscale(rgba[..., :3]).numpy()
    np.testing.assert_array_equal(as_gray, expected)


def test_augment_images_changes_each_image_its_own_way():
    image = np.arange(8 * 8, dtype=np.float32).reshape(8, 8, 1)
    images = tf.constant(np.stack([image] * 16))
    np.testing.assert_array_equal(image_ops.augment_images(images, [0, 0]), images)

    shifted = image_ops.augment_images(images, tf.constant([7, 1], tf.int64), crop_padding=2)
    padded = np.pad(image, [[2, 2], [2, 2], [0, 0]], mode="symmetric")
    windows = {
        (row, column): padded[row : row + 8, column : column + 8]
        for row in range(5)
        for column in range(5)
    }
    offsets = []
    for result in shifted.numpy():  # each one a window of the padded image
        (offset,) = [key for key, window in windows.items() if np.array_equal(window, result)]
        offsets.append(offset)
    assert len(set(offsets)) > 4  # not one shift for the whole batch

    flipped = image_ops.augment_images(images, tf.constant([7, 2], tf.int64), flip=True).numpy()
    as_is = [np.array_equal(result, image) for result in flipped]
    mirrored = [np.array_equal(result, image[:, ::-1]) for result in flipped]
    assert all(a or m for a, m in zip(as_is, mirrored, strict=True))
    assert 0 < sum(mirrored) < 16

    # brightness: one offset in [-0.5, 0.5] per image, all of its pixels alike.
    offsets = (
        image_ops.augment_images(images, tf.constant([7, 3], tf.int64), brightness=0.5) - images
    ).numpy()
    firsts = offsets[:, 0, 0, 0]
    alike = np.broadcast_to(firsts[:, None, None, None], offsets.shape)
    np.testing.assert_allclose(offsets, alike, atol=1e-4)
    assert np.all((np.abs(firsts) > 0) & (np.abs(firsts) <= 0.5)) and len(set(firsts)) == 16

    @tf.function
    def in_a_graph(seed):
        return image_ops.augment_images(images, seed, crop_padding=2, flip=True)

    seed = tf.constant([7, 4], tf.int64)
    eager = image_ops.augment_images(images, seed, crop_padding=2, flip=True)
    np.testing.assert_array_equal(eager, in_a_graph(seed))  # a pure function of the seed
    assert not np.array_equal(eager, in_a_graph(tf.constant([7, 5], tf.int64)))


def test_augment_fn_follows_the_config():
    assert image_ops.make_augment_fn({"augment": {"crop_padding": 0, "flip": False}}) is None
    augment = image_ops.make_augment_fn(
        {"augment": {"crop_padding": 0, "flip": False, "brightness": 0.2}}
    )
    shifted = [augment(tf.zeros([1, 4, 4, 1]), tf.constant([1, seed])) for seed in (2, 3)]
    for image in shifted:  # one offset for the whole image, within +-0.2, not 0
        assert image.shape == (1, 4, 4, 1) and len(np.unique(image)) == 1
        assert 0 < abs(float(image[0, 0, 0, 0])) <= 0.2
    assert float(shifted[0][0, 0, 0, 0]) != float(shifted[1][0, 0, 0, 0])


def with_orientation(jpeg: bytes, orientation: int, byte_order: str) -> bytes:
    """JPEG bytes with an Exif block (after the JFIF one) of two tags, the last the orientation."""
    order = "little" if byte_order == "II" else "big"

    def number(value, size):
        return value.to_bytes(size, order)

    make = number(0x010F, 2) + number(2, 2) + number(4, 4) + number(0, 4)
    orientation_tag = number(0x0112, 2) + number(3, 2) + number(1, 4) + number(orientation, 2)
    tiff = byte_order.encode() + number(42, 2) + number(8, 4)
    payload = b"Exif\0\0" + tiff + number(2, 2) + make + orientation_tag + b"\0\0" + b"\0" * 4
    app1 = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    after_jfif = 4 + int.from_bytes(jpeg[4:6], "big")
    return jpeg[:after_jfif] + app1 + jpeg[after_jfif:]


UPRIGHT = {  # Exif orientation -> how to show the stored pixels (numpy, rows first)
    1: lambda image: image,
    2: lambda image: image[:, ::-1],
    3: lambda image: image[::-1, ::-1],
    4: lambda image: image[::-1],
    5: lambda image: image.transpose(1, 0, 2),
    6: lambda image: np.rot90(image, -1),  # a quarter turn clockwise
    7: lambda image: np.rot90(image, 2).transpose(1, 0, 2),
    8: lambda image: np.rot90(image, 1),
}


@pytest.mark.slow
def test_decode_image_turns_photos_upright_eagerly_in_map_and_served():
    jpeg = tf.io.encode_jpeg(make_image(6, 10, 3)).numpy()
    stored = tf.io.decode_jpeg(jpeg).numpy()
    cases = [(order, orientation) for order in ("II", "MM") for orientation in UPRIGHT]
    photos = [with_orientation(jpeg, orientation, order) for order, orientation in cases]
    mapped = tf.data.Dataset.from_tensor_slices(photos).map(
        lambda encoded: image_ops.decode_image(encoded, 3)
    )
    serve_bytes = tf.function(  # decodes as export.py's serve_bytes does
        lambda batch: tf.map_fn(
            lambda encoded: image_ops.decode_image(encoded, 3),
            batch,
            fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8),
        ),
        input_signature=[tf.TensorSpec([None], tf.string)],
    )
    for (_, orientation), photo, in_map in zip(cases, photos, mapped, strict=True):
        expected = UPRIGHT[orientation](stored)
        assert int(image_ops.exif_orientation(photo)) == orientation
        np.testing.assert_array_equal(image_ops.decode_image(photo, 3), expected)
        np.testing.assert_array_equal(in_map, expected)
        np.testing.assert_array_equal(serve_bytes(tf.constant([photo]))[0], expected)


def test_images_without_exif_orientation_stay_as_stored():
    image = make_image(channels=3)
    formats = (image_ops.encode_png(image), tf.io.encode_jpeg(image).numpy(), b"", b"\xff\xd8")
    for encoded in formats:
        assert int(image_ops.exif_orientation(encoded)) == 1
    np.testing.assert_array_equal(image_ops.decode_image(image_ops.encode_png(image), 3), image)
