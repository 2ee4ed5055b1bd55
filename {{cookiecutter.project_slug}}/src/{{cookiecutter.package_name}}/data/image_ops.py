"""Per-example TensorFlow ops of images: decoding, shrinking, normalising, augmenting.

Pure functions of tensors: data_loader maps them over the records and export.py calls the very
same ops inside the serving graph, so the two cannot drift apart. The rest of the code imports
them through input_ops. Every op works eagerly and inside ``tf.data.Dataset.map``:

    python -m pytest tests/test_image_ops.py
"""

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import tensorflow as tf

from .metadata import Metadata


# === Decoding ===
def encode_png(image: tf.Tensor) -> bytes:
    """Encodes a uint8 [height, width, channels] image as PNG bytes."""
    return tf.io.encode_png(image).numpy()


def to_channels(image: tf.Tensor, channels: int) -> tf.Tensor:
    """A uint8 image with 1 to 4 channels as `channels` (1 or 3), alpha dropped; grayscale
    images pass unchanged, so no rounding touches them."""
    colour, rgb, gray = tf.shape(image)[-1] >= 3, image[..., :3], image[..., :1]
    if channels == 1:
        image = tf.cond(colour, lambda: tf.image.rgb_to_grayscale(rgb), lambda: gray)
    else:
        image = tf.cond(colour, lambda: rgb, lambda: tf.image.grayscale_to_rgb(gray))
    image.set_shape([None, None, channels])
    return image


def exif_orientation(encoded: tf.Tensor) -> tf.Tensor:
    """The Exif orientation (1 to 8) of JPEG bytes, from the orientation tag (0x0112) of its
    first image file directory; 1 (as stored) when there is none, and for PNG etc.

    By hand: TensorFlow has no op for it, and the export must turn photos upright as well.
    """
    # The Exif block comes before the pixels: APP1 marker, 2-byte length, "Exif\0\0", TIFF.
    parts = tf.strings.split(tf.strings.substr(encoded, 0, 65536), "Exif\0\0", maxsplit=1)
    app1 = tf.strings.substr(tf.strings.join(["\0" * 4, parts[0]]), -4, 2) == b"\xff\xe1"
    tiff = tf.cast(tf.io.decode_raw(tf.strings.join([parts[-1], "\0"]), tf.uint8), tf.int64)
    little_endian = tiff[0] == 0x49  # "II"; "MM" is big-endian

    def read(positions: tf.Tensor, size: int) -> tf.Tensor:
        """The unsigned `size`-byte integers at `positions`; past the end, tiff's last 0."""
        positions = positions[..., tf.newaxis] + tf.range(size, dtype=tf.int64)
        values = tf.gather(tiff, tf.minimum(positions, tf.size(tiff, tf.int64) - 1))
        shifts = 8 * tf.range(size, dtype=tf.int64)
        shifts = tf.where(little_endian, shifts, tf.reverse(shifts, [0]))
        return tf.reduce_sum(tf.bitwise.left_shift(values, shifts), axis=-1)

    directory = read(tf.constant(4, tf.int64), 4)
    entry_index = tf.range(64, dtype=tf.int64)  # the first 64 entries of the directory
    entries = directory + 2 + 12 * entry_index
    is_orientation = (read(entries, 2) == 0x0112) & (entry_index < read(directory, 2))
    value = read(tf.gather(entries, tf.argmax(tf.cast(is_orientation, tf.int32))) + 8, 2)
    is_jpeg = tf.strings.substr(encoded, 0, 2) == b"\xff\xd8"
    found = is_jpeg & app1 & (tf.size(parts) == 2) & tf.reduce_any(is_orientation)
    return tf.where(found & (value >= 1) & (value <= 8), value, 1)


def apply_orientation(image: tf.Tensor, orientation: tf.Tensor) -> tf.Tensor:
    """Turns a decoded [height, width, channels] image the way its Exif orientation says."""
    transforms = [
        lambda: image,  # 1: as stored
        lambda: tf.image.flip_left_right(image),
        lambda: tf.image.rot90(image, 2),
        lambda: tf.image.flip_up_down(image),
        lambda: tf.image.transpose(image),
        lambda: tf.image.rot90(image, 3),  # 6: a quarter turn clockwise (phone held upright)
        lambda: tf.image.rot90(tf.image.transpose(image), 2),
        lambda: tf.image.rot90(image, 1),  # 8: a quarter turn counter-clockwise
    ]
    return tf.switch_case(tf.cast(orientation, tf.int32) - 1, transforms)


def decode_image(encoded: tf.Tensor, channels: int | None = None) -> tf.Tensor:
    """PNG/JPEG/BMP/GIF/WebP bytes as uint8 [height, width, channels] (None: as stored; a GIF's
    first frame), turned upright by the JPEG's Exif orientation (as photo viewers show it)."""
    image = tf.io.decode_image(encoded, expand_animations=False)
    image = apply_orientation(image, exif_orientation(encoded))
    return image if channels is None else to_channels(image, channels)


# === Store-time shrinking ===
def decode_shrunk(encoded: tf.Tensor, max_side: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Image bytes decoded like decode_image and, when the shorter side is longer than
    `max_side`, shrunk to it (aspect kept; area averaging, so fine detail does not alias), as
    preprocess stores them (data.max_stored_size). A large JPEG is decoded at the smallest of
    1/1, 1/2, 1/4 or 1/8 scale that keeps `max_side` (libjpeg's scaled IDCT: less work).

    Returns:
        The upright uint8 [height, width, stored channels] image, and whether it was shrunk.
    """

    def jpeg() -> tuple[tf.Tensor, tf.Tensor]:
        size = tf.image.extract_jpeg_shape(encoded)[:2]
        shorter = tf.reduce_min(size)
        index = tf.add_n([tf.cast(shorter >= max_side * s, tf.int32) for s in (2, 4, 8)])
        scaled = [lambda r=ratio: tf.io.decode_jpeg(encoded, ratio=r) for ratio in (1, 2, 4, 8)]
        return tf.switch_case(index, scaled), size

    def other() -> tuple[tf.Tensor, tf.Tensor]:
        image = tf.io.decode_image(encoded, expand_animations=False)
        return image, tf.shape(image)[:2]

    image, size = tf.cond(tf.strings.substr(encoded, 0, 3) == b"\xff\xd8\xff", jpeg, other)
    shorter = tf.reduce_min(size)

    def shrink() -> tf.Tensor:
        target = tf.round(tf.cast(size, tf.float64) * (max_side / tf.cast(shorter, tf.float64)))
        resized = tf.image.resize(image, tf.maximum(tf.cast(target, tf.int32), max_side), "area")
        return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)

    image = tf.cond(shorter > max_side, shrink, lambda: image)
    return apply_orientation(image, exif_orientation(encoded)), shorter > max_side


def decode_as_stored(encoded: tf.Tensor, channels: int, max_stored_size: int | None) -> tf.Tensor:
    """Image bytes decoded as preprocess stored them (upright; shrunk to max_stored_size when
    that is set), so that a served photo looks like a training one."""
    image = (
        decode_shrunk(encoded, max_stored_size)[0] if max_stored_size else decode_image(encoded)
    )
    return to_channels(image, channels)


# === Model inputs ===
def prepare_images(
    images: tf.Tensor, image_size: Sequence[int], mean: Sequence[float], std: Sequence[float]
) -> tf.Tensor:
    """uint8 [..., height, width, channels] (one image or a batch) resized to `image_size` and
    normalised with the training pixels' per-channel `mean` and `std` (in [0, 1]): float32."""
    images = tf.image.resize(tf.cast(images, tf.float32) / 255.0, list(image_size), "bilinear")
    return (images - tf.constant(mean, tf.float32)) / tf.constant(std, tf.float32)


def augment_images(
    images: tf.Tensor,
    seed: tf.Tensor,
    crop_padding: int = 0,
    flip: bool = False,
    brightness: float = 0.0,
) -> tf.Tensor:
    """Random changes to a batch of prepared images, each its own way, by whole-batch ops; a
    pure function of `seed`, so that a resumed run changes a batch as the first run did.

    Args:
        images: float32 [batch, height, width, channels].
        seed: int [2], e.g. the seed data_loader gives the batch's first example.
        crop_padding: pad by this many pixels (mirrored edges), crop back at a random offset.
        flip: flip left-right half of the images (not for digits or text!).
        brightness: add an offset in [-brightness, brightness] (normalised units) per image.
    """
    # By hand where tf.image's stateless crop and brightness would change a batch one way.
    batch, height, width = tf.unstack(tf.shape(images)[:3])
    seeds = tf.random.experimental.stateless_split(seed, num=3)  # crop, flip, brightness
    if crop_padding:
        pad = [[0, 0], [crop_padding] * 2, [crop_padding] * 2, [0, 0]]
        offsets = tf.random.stateless_uniform(
            [2, batch, 1], seeds[0], 0, 2 * crop_padding + 1, tf.int32
        )
        rows, columns = offsets[0] + tf.range(height), offsets[1] + tf.range(width)
        images = tf.gather(tf.pad(images, pad, "SYMMETRIC"), rows, axis=1, batch_dims=1)
        images = tf.gather(images, columns, axis=2, batch_dims=1)
    if flip:
        images = tf.image.stateless_random_flip_left_right(images, seeds[1])
    if brightness:
        images += tf.random.stateless_uniform([batch, 1, 1, 1], seeds[2], -brightness, brightness)
    return images


def make_augment_fn(data_cfg: Mapping) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor] | None:
    """fn(images, seed) -> images: data.augment's changes (augment_images); None when all off."""
    options = dict(data_cfg["augment"])
    if not any(options.values()):
        return None
    return lambda images, seed: augment_images(images, seed, **options)


def make_prepare_fn(metadata: Metadata) -> Callable[[tf.Tensor], tf.Tensor]:
    """uint8 images (one, or a batch) -> the model's inputs (prepare_images with the training
    statistics): training and the export's signatures both use it, so they cannot differ."""
    image_size = metadata.input_shape[:2]
    mean, std = metadata.normalization.mean, metadata.normalization.std
    return lambda images: prepare_images(images, image_size, mean, std)


def make_example_fn(
    metadata: Metadata, assets_dir: str | Path
) -> Callable[[tf.Tensor], tf.Tensor]:
    """The op from one raw input (encoded image) to the model's input; an image needs nothing
    from `assets_dir` beside the metadata."""
    channels, prepare = metadata.input_shape[-1], make_prepare_fn(metadata)
    return lambda encoded: prepare(decode_image(encoded, channels))
