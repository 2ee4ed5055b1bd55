"""TensorFlow ops of images, eager or in ``tf.data``: preprocess stores images with `store_image`
(as the export's serve_bytes reads them); training and the export prepare them alike."""

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import tensorflow as tf

from .metadata import Metadata

Op = Callable[[tf.Tensor], tf.Tensor]


def encode_png(image: tf.Tensor) -> bytes:
    """Encodes a uint8 [height, width, channels] image as PNG bytes."""
    return tf.io.encode_png(image).numpy()


def to_channels(image: tf.Tensor, channels: int | None) -> tf.Tensor:
    """A uint8 image of 1 to 4 channels in `channels` (1 or 3; None: 1 for gray, 3 for colour),
    alpha dropped; gray images stay unchanged."""
    to_gray = tf.image.rgb_to_grayscale if channels == 1 else tf.identity
    to_rgb = tf.image.grayscale_to_rgb if channels == 3 else tf.identity
    colour = tf.shape(image)[-1] >= 3
    image = tf.cond(colour, lambda: to_gray(image[..., :3]), lambda: to_rgb(image[..., :1]))
    image.set_shape([None, None, channels])
    return image


def exif_orientation(encoded: tf.Tensor) -> tf.Tensor:
    """The Exif orientation (1 to 8) of JPEG bytes, else 1. TensorFlow has no op for it: this
    finds the orientation entry (tag 0x0112, one short) in the first 64 KB, in any byte order."""
    # Two bytes after the first 64 KB that no entry can end with: a value always follows one.
    head = tf.strings.join([tf.strings.substr(encoded, 0, 65536), b"\xff\xff"])
    orientation = tf.constant(1, tf.int64)
    for entry, skip in ((b"\x12\x01\x03\0\x01\0\0\0", 0), (b"\x01\x12\0\x03\0\0\0\x01", 1)):
        parts = tf.strings.split(head, entry, maxsplit=1)  # little-, then big-endian
        value = tf.cast(tf.io.decode_raw(parts[-1], tf.uint8)[skip], tf.int64)
        found = (tf.size(parts) == 2) & (value >= 1) & (value <= 8)
        orientation = tf.where(found & (orientation == 1), value, orientation)
    return tf.where(tf.strings.substr(encoded, 0, 2) == b"\xff\xd8", orientation, 1)


def apply_orientation(image: tf.Tensor, orientation: tf.Tensor) -> tf.Tensor:
    """Turns an image the way its Exif orientation says: 5 to 8 are 1 to 4 (as stored,
    mirrored, turned half way, upside down) after a transpose."""
    code = tf.cast(orientation, tf.int32) - 1
    image = tf.cond(code >= 4, lambda: tf.image.transpose(image), lambda: image)
    mirrored = (code % 4 == 1) | (code % 4 == 2)
    image = tf.cond(mirrored, lambda: tf.image.flip_left_right(image), lambda: image)
    return tf.cond(code % 4 >= 2, lambda: tf.image.flip_up_down(image), lambda: image)


def decode_image(encoded: tf.Tensor, channels: int | None = None) -> tf.Tensor:
    """PNG/JPEG/BMP/GIF/WebP bytes as uint8 [height, width, channels] (see to_channels; a GIF's
    first frame), turned upright by the JPEG's Exif orientation (as photo viewers show it)."""
    image = tf.io.decode_image(encoded, expand_animations=False)
    return to_channels(apply_orientation(image, exif_orientation(encoded)), channels)


def store_image(encoded: tf.Tensor, image_size: Sequence[int], channels: int | None) -> tf.Tensor:
    """Image file bytes as preprocess stores them and serve_bytes reads them: uint8, upright,
    resized to `image_size` (antialiased: shrinking averages, never aliases)."""
    resized = tf.image.resize(decode_image(encoded, channels), image_size, antialias=True)
    return tf.saturate_cast(tf.round(resized), tf.uint8)


def decode_stored(stored: tf.Tensor, shape: Sequence[int]) -> tf.Tensor:
    """A stored image (a PNG of data.image_size) as uint8 `shape`, [height, width, channels]."""
    return tf.ensure_shape(to_channels(tf.io.decode_png(stored), shape[-1]), shape)


def augment_images(
    images: tf.Tensor,
    seed: tf.Tensor,
    crop_padding: int = 0,
    flip: bool = False,
    brightness: float = 0.0,
) -> tf.Tensor:
    """Random changes to a batch of prepared images, each its own way: pad by `crop_padding`
    pixels (mirrored) and crop back at a random offset, flip half left-right, add an offset in
    [-brightness, brightness]. A pure function of `seed` (int [2]), for resumes."""
    # By hand where tf.image's stateless crop and brightness would change a batch one way.
    batch, height, width = tf.unstack(tf.shape(images)[:3])
    seeds = tf.random.experimental.stateless_split(seed, num=3)  # crop, flip, brightness
    if crop_padding:
        pad, span = [[0, 0], [crop_padding] * 2, [crop_padding] * 2, [0, 0]], 2 * crop_padding + 1
        offsets = tf.random.stateless_uniform([2, batch, 1], seeds[0], 0, span, tf.int32)
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
    if any(options.values()):
        return lambda images, seed: augment_images(images, seed, **options)
    return None


def make_prepare_fn(metadata: Metadata) -> Op:
    """uint8 images (one or a batch) -> model inputs, normalised by the training pixels' mean
    and std in [0, 1]. Training and the export's signatures both use it, so they cannot differ."""
    return lambda images: (tf.cast(images, tf.float32) / 255.0 - metadata.mean) / metadata.std


def make_example_fn(metadata: Metadata, assets_dir: str | Path) -> Op:
    """The op from one stored image to the model's input (nothing needed from `assets_dir`)."""
    shape, prepare = metadata.input_shape, make_prepare_fn(metadata)
    return lambda stored: prepare(decode_stored(stored, shape))
