"""The image ops, each eagerly and inside tf.data.Dataset.map: they differ more than you think."""

from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf

from {{ cookiecutter.package_name }}.data import image_ops, input_ops


def make_image(height=10, width=14, channels=1, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(height, width, channels)).astype(np.uint8)


def eager_and_in_map(op, raw):
    """op(raw) run eagerly and inside Dataset.map, as numpy; asserts that the two agree."""
    eager = tf.nest.map_structure(lambda tensor: tensor.numpy(), op(tf.constant(raw)))
    in_map = next(tf.data.Dataset.from_tensors(raw).map(op).as_numpy_iterator())
    tf.nest.map_structure(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), in_map, eager)
    return eager


def test_example_round_trip():  # input_ops' record format
    raw, label = input_ops.parse_example(input_ops.serialize_example(b"\x89PNG...", 7))
    assert raw.numpy() == b"\x89PNG..." and label.numpy() == 7 and label.dtype == tf.int32


@pytest.mark.parametrize("stored, channels", [(3, 3), (1, 3), (4, 1), (1, 1)])
def test_decode_image_is_lossless_and_converts_channels(stored, channels):
    image = make_image(channels=stored)
    decoded = eager_and_in_map(
        lambda raw: image_ops.decode_image(raw, channels), image_ops.encode_png(image)
    )
    if stored == channels:
        expected = image
    elif channels == 3:
        expected = np.repeat(image, 3, axis=-1)
    else:
        expected = tf.image.rgb_to_grayscale(image[..., :3]).numpy()
    np.testing.assert_array_equal(decoded, expected)


def test_prepare_images_resizes_normalises_and_batches():
    white = image_ops.prepare_images(np.full((8, 8, 1), 255, np.uint8), [32, 32], [0.5], [0.25])
    np.testing.assert_allclose(white, np.full((32, 32, 1), 2.0), rtol=1e-6)
    images = np.stack([make_image(seed=seed) for seed in range(3)])
    batch = image_ops.prepare_images(images, [20, 28], [0.4], [0.3]).numpy()
    single = eager_and_in_map(
        lambda image: image_ops.prepare_images(image, [20, 28], [0.4], [0.3]), images[1]
    )
    np.testing.assert_allclose(batch[1], single, atol=1e-6)


def test_example_fn_turns_png_bytes_into_model_inputs():
    metadata = SimpleNamespace(  # only what the op reads
        input_shape=[32, 32, 1], normalization=SimpleNamespace(mean=[0.0], std=[1.0])
    )
    example_fn = image_ops.make_example_fn(metadata, "unused")
    inputs = eager_and_in_map(example_fn, image_ops.encode_png(make_image()))
    assert inputs.shape == (32, 32, 1) and inputs.min() >= 0.0 and inputs.max() <= 1.0


def test_augment_images_changes_each_image_its_own_way_by_its_seed():
    image = np.arange(8 * 8, dtype=np.float32).reshape(8, 8, 1)
    images = tf.constant(np.stack([image] * 16))
    assert image_ops.make_augment_fn({"augment": {"crop_padding": 0, "flip": False}}) is None

    def augment(seed, **options):
        return image_ops.make_augment_fn({"augment": options})(
            images, tf.constant([7, seed], tf.int64)
        ).numpy()

    padded = np.pad(image, [[2, 2], [2, 2], [0, 0]], mode="symmetric")
    windows = {
        (row, col): padded[row : row + 8, col : col + 8] for row in range(5) for col in range(5)
    }
    offsets = [
        next(key for key, window in windows.items() if np.array_equal(window, result))
        for result in augment(1, crop_padding=2)  # each one a window of the padded image
    ]
    assert len(set(offsets)) > 4  # not one shift for the whole batch
    mirrored = [np.array_equal(result, image[:, ::-1]) for result in augment(2, flip=True)]
    kept = [np.array_equal(result, image) for result in augment(2, flip=True)]
    assert all(np.logical_or(mirrored, kept)) and 0 < sum(mirrored) < 16
    shifts = augment(3, brightness=0.5) - images.numpy()  # one offset per image, in +-0.5
    np.testing.assert_allclose(shifts, np.broadcast_to(shifts[:, :1, :1], shifts.shape), atol=1e-4)
    assert (
        np.all((np.abs(shifts) > 0) & (np.abs(shifts) <= 0.5))
        and len(set(shifts[:, 0, 0, 0])) == 16
    )

    in_a_graph = tf.function(lambda seed: image_ops.augment_images(images, seed, 2, True))
    seed = tf.constant([7, 4], tf.int64)
    eager = image_ops.augment_images(images, seed, crop_padding=2, flip=True)
    np.testing.assert_array_equal(eager, in_a_graph(seed))  # a pure function of the seed
    assert not np.array_equal(eager, in_a_graph(tf.constant([7, 5], tf.int64)))


def with_orientation(jpeg: bytes, orientation: int, byte_order: str) -> bytes:
    """JPEG bytes with an Exif block (after the JFIF one) of two tags, the last the orientation."""
    fields = [(42, 2), (8, 4), (2, 2)]  # TIFF header: magic, IFD0 offset; IFD0: two entries
    fields += [(0x010F, 2), (2, 2), (4, 4), (0, 4)]  # tag, type, count, value: Make
    fields += [(0x0112, 2), (3, 2), (1, 4), (orientation, 2), (0, 2), (0, 4)]  # no IFD1
    endian = "little" if byte_order == "II" else "big"
    payload = b"Exif\0\0" + byte_order.encode()
    payload += b"".join(value.to_bytes(size, endian) for value, size in fields)
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
def test_decode_image_turns_photos_upright():
    image = make_image(6, 10, 3)
    jpeg = tf.io.encode_jpeg(image).numpy()
    for encoded in (image_ops.encode_png(image), jpeg, b"", b"\xff\xd8"):  # without Exif
        assert int(image_ops.exif_orientation(encoded)) == 1
    stored = tf.io.decode_jpeg(jpeg).numpy()
    orientations = [*UPRIGHT] * 2
    photos = [with_orientation(jpeg, orientation, "II") for orientation in UPRIGHT]
    photos += [with_orientation(jpeg, orientation, "MM") for orientation in UPRIGHT]
    in_map = tf.data.Dataset.from_tensor_slices(photos).map(
        lambda raw: image_ops.decode_image(raw, 3)
    )
    for orientation, photo, mapped in zip(orientations, photos, in_map, strict=True):
        assert int(image_ops.exif_orientation(photo)) == orientation
        np.testing.assert_array_equal(
            image_ops.decode_image(photo, 3), UPRIGHT[orientation](stored)
        )
        np.testing.assert_array_equal(mapped, UPRIGHT[orientation](stored))


def test_decode_shrunk_keeps_the_aspect_ratio_and_small_images():
    rows, columns = np.mgrid[0:300, 0:400]
    picture = np.stack([rows * 255 // 300, columns * 255 // 400, (rows + columns) // 3], -1)
    large = tf.io.encode_jpeg(picture.astype(np.uint8), quality=95).numpy()
    image, shrunk = eager_and_in_map(lambda raw: image_ops.decode_shrunk(raw, 32), large)
    assert image.shape == (32, 43, 3) and shrunk  # decoded at 1/8 scale (38 x 50), then shrunk
    full = tf.image.resize(tf.io.decode_jpeg(large), [32, 43], "area").numpy()
    # The same picture: the scaled decode's last row and column are partial (at most 1/8 pixel).
    assert np.abs(image.astype(int) - full.round()).mean() < 2
    small = image_ops.encode_png(np.full((20, 40, 1), 7, np.uint8))
    image, shrunk = eager_and_in_map(lambda raw: image_ops.decode_shrunk(raw, 32), small)
    assert image.shape == (20, 40, 1) and not shrunk
