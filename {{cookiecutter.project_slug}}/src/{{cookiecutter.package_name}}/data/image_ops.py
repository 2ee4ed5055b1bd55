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


# === Encoding and channels ===
def encode_png(image: tf.Tensor) -> bytes:
    """Encodes a uint8 [height, width, channels] image as PNG bytes."""
    return tf.io.encode_png(image).numpy()


def to_channels(image: tf.Tensor, channels: int) -> tf.Tensor:
    """Converts a uint8 image with 1 to 4 channels to `channels` (1 or 3), dropping alpha.

    Grayscale images pass through unchanged, so no rounding touches them.
    """
    colour = tf.shape(image)[-1] >= 3
    if channels == 1:
        image = tf.cond(
            colour, lambda: tf.image.rgb_to_grayscale(image[..., :3]), lambda: image[..., :1]
        )
    else:
        image = tf.cond(
            colour, lambda: image[..., :3], lambda: tf.image.grayscale_to_rgb(image[..., :1])
        )
    image.set_shape([None, None, channels])
    return image


# === Exif orientation ===
# A JPEG's Exif block: the APP1 marker, its 2-byte length, then "Exif\0\0" (None: any byte).
EXIF_MARKER = (0xFF, 0xE1, None, None, 0x45, 0x78, 0x69, 0x66, 0x00, 0x00)
EXIF_SEARCH_BYTES = 65536  # the Exif block comes before the pixels, in the first 64 KB
ORIENTATION_TAG = 0x0112
MAX_IFD_ENTRIES = 64


def read_uints(
    head: tf.Tensor, positions: tf.Tensor, size: int, little_endian: tf.Tensor
) -> tf.Tensor:
    """The unsigned `size`-byte integers at `positions` in int64 bytes `head`; 0 past its end."""
    positions = positions[..., tf.newaxis] + tf.range(size, dtype=tf.int64)
    last = tf.size(head, out_type=tf.int64) - 1
    values = tf.gather(head, tf.clip_by_value(positions, 0, last))
    values = tf.where((positions >= 0) & (positions <= last), values, 0)
    shifts = 8 * tf.range(size, dtype=tf.int64)
    shifts = tf.where(little_endian, shifts, tf.reverse(shifts, [0]))
    return tf.reduce_sum(tf.bitwise.left_shift(values, shifts), axis=-1)


def exif_orientation(encoded: tf.Tensor) -> tf.Tensor:
    """The Exif orientation (1 to 8) of JPEG bytes; 1 (as stored) when absent, and for PNG etc.

    Reads the orientation tag of the Exif block's first image file directory (IFD0) with
    TensorFlow ops only, so that it runs in tf.data and in the exported model alike.
    """
    head = tf.io.decode_raw(tf.strings.substr(encoded, 0, EXIF_SEARCH_BYTES), tf.uint8)
    padding = tf.zeros([len(EXIF_MARKER) + 1], tf.int64)  # reads past short inputs give 0
    head = tf.concat([tf.cast(head, tf.int64), padding], axis=0)
    length = tf.size(head, out_type=tf.int64) - len(EXIF_MARKER)
    found = tf.ones([length], tf.bool)
    for offset, byte in enumerate(EXIF_MARKER):
        if byte is not None:
            found &= head[offset : offset + length] == byte
    tiff = tf.argmax(tf.cast(found, tf.int32), output_type=tf.int64) + len(EXIF_MARKER)
    little_endian = read_uints(head, tiff, 2, True) == 0x4949  # "II"; "MM" is big-endian
    directory = tiff + read_uints(head, tiff + 4, 4, little_endian)
    entries = directory + 2 + 12 * tf.range(MAX_IFD_ENTRIES, dtype=tf.int64)
    is_orientation = (read_uints(head, entries, 2, little_endian) == ORIENTATION_TAG) & (
        tf.range(MAX_IFD_ENTRIES, dtype=tf.int64) < read_uints(head, directory, 2, little_endian)
    )
    entry = tf.gather(entries, tf.argmax(tf.cast(is_orientation, tf.int32)))
    value = read_uints(head, entry + 8, 2, little_endian)
    is_jpeg = tf.strings.substr(encoded, 0, 2) == b"\xff\xd8"
    valid = is_jpeg & tf.reduce_any(found) & tf.reduce_any(is_orientation)
    return tf.where(valid & (value >= 1) & (value <= 8), value, 1)


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


def decode_upright(encoded: tf.Tensor) -> tf.Tensor:
    """Decodes PNG/JPEG/BMP/GIF/WebP bytes into uint8 [height, width, stored channels],
    turned upright by the JPEG's Exif orientation (as photo viewers show it)."""
    image = tf.io.decode_image(encoded, expand_animations=False)
    return apply_orientation(image, exif_orientation(encoded))


def decode_image(encoded: tf.Tensor, channels: int) -> tf.Tensor:
    """Decodes image bytes (decode_upright) into a uint8 [height, width, channels] image.

    Any number of stored channels is accepted; GIFs give their first frame.
    """
    return to_channels(decode_upright(encoded), channels)


# === Store-time shrinking ===
# preprocess stores images whose shorter side is longer than data.max_stored_size shrunk to
# it, so that no later run decodes full-size photos again.
JPEG_SCALES = (1, 2, 4, 8)  # the scales libjpeg can decode at directly (1/1 ... 1/8)


def decode_jpeg_at_least(encoded: tf.Tensor, min_side: int) -> tf.Tensor:
    """Decodes JPEG bytes at the smallest of 1/1, 1/2, 1/4 or 1/8 scale whose shorter side
    still has at least `min_side` pixels (libjpeg's scaled IDCT: a fraction of the work)."""
    shorter = tf.reduce_min(tf.image.extract_jpeg_shape(encoded)[:2])
    index = tf.add_n([tf.cast(shorter >= min_side * scale, tf.int32) for scale in JPEG_SCALES[1:]])
    branches = [
        lambda scale=scale: tf.io.decode_jpeg(encoded, ratio=scale) for scale in JPEG_SCALES
    ]
    return tf.switch_case(index, branches)


def shrink_image(image: tf.Tensor, max_side: int, size: tf.Tensor | None = None) -> tf.Tensor:
    """Shrinks a uint8 [height, width, channels] image whose shorter side is longer than
    `max_side` to that side, keeping its aspect ratio; smaller images pass unchanged.

    Area averaging, so fine detail does not alias into noise. `size`: the [height, width]
    stored in the file, for an image decoded at a reduced scale, so that the result's size
    does not depend on that scale.
    """
    size = tf.shape(image)[:2] if size is None else size
    shorter = tf.reduce_min(size)

    def shrink() -> tf.Tensor:
        scale = max_side / tf.cast(shorter, tf.float64)
        target = tf.cast(tf.round(tf.cast(size, tf.float64) * scale), tf.int32)
        resized = tf.image.resize(image, tf.maximum(target, max_side), method="area")
        return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)

    return tf.cond(shorter > max_side, shrink, lambda: image)


def decode_shrunk(encoded: tf.Tensor, max_side: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Decodes image bytes like decode_upright, shrunk (shrink_image) to `max_side`.

    Large JPEGs are decoded at a reduced scale first (decode_jpeg_at_least); only JPEGs are
    searched for an Exif orientation (decode_upright finds none in other formats).

    Returns:
        The upright uint8 [height, width, stored channels] image, and whether it was shrunk.
    """

    def jpeg() -> tuple[tf.Tensor, tf.Tensor]:
        size = tf.image.extract_jpeg_shape(encoded)[:2]
        image = shrink_image(decode_jpeg_at_least(encoded, max_side), max_side, size)
        return apply_orientation(image, exif_orientation(encoded)), tf.reduce_min(size)

    def other() -> tuple[tf.Tensor, tf.Tensor]:
        image = tf.io.decode_image(encoded, expand_animations=False)
        return shrink_image(image, max_side), tf.reduce_min(tf.shape(image)[:2])

    is_jpeg = tf.strings.substr(encoded, 0, 3) == b"\xff\xd8\xff"
    image, shorter = tf.cond(is_jpeg, jpeg, other)
    return image, shorter > max_side


def decode_as_stored(encoded: tf.Tensor, channels: int, max_stored_size: int | None) -> tf.Tensor:
    """Decodes image bytes the way preprocess stored them (upright, and shrunk to
    max_stored_size when that is set), so that a served photo looks like a training one."""
    if max_stored_size is None:
        return decode_image(encoded, channels)
    return to_channels(decode_shrunk(encoded, max_stored_size)[0], channels)


def prepare_images(
    images: tf.Tensor,
    image_size: Sequence[int],
    mean: Sequence[float],
    std: Sequence[float],
) -> tf.Tensor:
    """Resizes uint8 images to the model's size and normalises them.

    Args:
        images: uint8 [..., height, width, channels], one image or a batch.
        image_size: (height, width) the model expects.
        mean: per-channel mean of the training pixels, in [0, 1].
        std: per-channel standard deviation of the training pixels, in [0, 1].

    Returns:
        float32 [..., image_size[0], image_size[1], channels].
    """
    images = tf.cast(images, tf.float32) / 255.0
    images = tf.image.resize(images, list(image_size), method="bilinear")
    return (images - tf.constant(mean, tf.float32)) / tf.constant(std, tf.float32)


def augment_images(
    images: tf.Tensor,
    seed: tf.Tensor,
    crop_padding: int = 0,
    flip: bool = False,
    brightness: float = 0.0,
) -> tf.Tensor:
    """Random training-time changes to a batch of prepared (resized, normalised) images,
    each image changed its own way, with whole-batch ops (no per-image loop).

    The changes are a pure function of `seed` (stateless random ops), so the same batch at
    the same point of training is changed the same way after a resume.

    Args:
        images: float32 [batch, height, width, channels].
        seed: int [2], e.g. the seed data_loader gives the batch's first example.
        crop_padding: pad by this many pixels (mirrored edges) and crop back at a random
            offset; 0 is off.
        flip: flip left-right half of the images (not for digits or text!).
        brightness: add a random offset in [-brightness, brightness] (normalised units),
            one per image.
    """
    batch = tf.shape(images)[0]
    crop_seed, flip_seed, brightness_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, num=3)
    )
    if crop_padding:
        height, width = tf.shape(images)[1], tf.shape(images)[2]
        padding = [[0, 0], [crop_padding, crop_padding], [crop_padding, crop_padding], [0, 0]]
        padded = tf.pad(images, padding, mode="SYMMETRIC")
        offsets = tf.random.stateless_uniform(
            [2, batch], crop_seed, minval=0, maxval=2 * crop_padding + 1, dtype=tf.int32
        )
        rows = offsets[0][:, tf.newaxis] + tf.range(height)  # [batch, height]
        columns = offsets[1][:, tf.newaxis] + tf.range(width)
        images = tf.gather(padded, rows, axis=1, batch_dims=1)
        images = tf.gather(images, columns, axis=2, batch_dims=1)
    if flip:
        flipped = tf.random.stateless_uniform([batch, 1, 1, 1], flip_seed) < 0.5
        images = tf.where(flipped, tf.reverse(images, axis=[2]), images)
    if brightness:
        images += tf.random.stateless_uniform(
            [batch, 1, 1, 1], brightness_seed, -brightness, brightness
        )
    return images


def make_augment_fn(data_cfg: Mapping) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor] | None:
    """The training-time augmentation of data.augment, or None when it is all off.

    Returns:
        fn(images, seed) -> images (see augment_images), or None.
    """
    options = dict(data_cfg["augment"])
    if not any(options.values()):
        return None
    return lambda images, seed: augment_images(images, seed, **options)


def make_prepare_fn(metadata: Metadata) -> Callable[[tf.Tensor], tf.Tensor]:
    """Returns the op that turns uint8 images (one, or a batch) into the model's inputs:
    resized to its input size and normalised with the training statistics (prepare_images).

    Training (make_example_fn) and the export's signatures both use it, so that a served
    image is prepared exactly as a training one.
    """
    image_size = metadata.input_shape[:2]
    mean, std = metadata.normalization.mean, metadata.normalization.std
    return lambda images: prepare_images(images, image_size, mean, std)


def make_example_fn(
    metadata: Metadata, assets_dir: str | Path
) -> Callable[[tf.Tensor], tf.Tensor]:
    """Returns the op that turns one raw input (encoded image) into the model's input.

    Args:
        metadata: the data's metadata, which holds the input shape and normalisation.
        assets_dir: the folder metadata.json was read from; an image needs nothing else.
    """
    channels = metadata.input_shape[-1]
    prepare = make_prepare_fn(metadata)

    def example_fn(encoded: tf.Tensor) -> tf.Tensor:
        return prepare(decode_image(encoded, channels))

    return example_fn
