"""TensorFlow ops of images, eager or in ``tf.data``: preprocess stores images with `store_image`
(as the export's serve_bytes reads them); training and the export prepare them alike."""

import functools
from collections.abc import Callable, Mapping, Sequence

import tensorflow as tf

from .metadata import Metadata

Op = Callable[[tf.Tensor], tf.Tensor]


def to_channels(image: tf.Tensor, channels: int | None) -> tf.Tensor:
    """A uint8 image of 1 to 4 channels in `channels` (1, 3; None: gray 1, colour 3), no alpha."""
    to_gray = tf.image.rgb_to_grayscale if channels == 1 else tf.identity
    to_rgb = tf.image.grayscale_to_rgb if channels == 3 else tf.identity
    colour = tf.shape(image)[-1] >= 3
    image = tf.cond(colour, lambda: to_gray(image[..., :3]), lambda: to_rgb(image[..., :1]))
    image.set_shape([None, None, channels])
    return image


def decode_image(encoded: tf.Tensor, channels: int | None = None) -> tf.Tensor:
    """Image bytes as uint8 [height, width, channels] (to_channels). As Keras' image loaders, it
    ignores a JPEG's Exif orientation: turn such photos upright on disk first."""
    return to_channels(tf.io.decode_image(encoded, expand_animations=False), channels)


def store_image(encoded: tf.Tensor, image_size: Sequence[int], channels: int | None) -> tf.Tensor:
    """Image bytes as preprocess stores them and serve_bytes reads them: resized, antialiased if
    it shrinks; a JPEG decoded at 1/2, 1/4 or 1/8 size where that still fits (libjpeg: faster)."""

    def decode_jpeg() -> tf.Tensor:
        fits = tf.reduce_min(tf.image.extract_jpeg_shape(encoded)[:2] // image_size)
        shrink = tf.reduce_sum(tf.cast(fits >= [2, 4, 8], tf.int32))  # 1/2**shrink still fits
        ratios = [functools.partial(tf.io.decode_jpeg, encoded, ratio=2**i) for i in range(4)]
        return to_channels(tf.switch_case(shrink, ratios), channels)

    image = tf.cond(tf.io.is_jpeg(encoded), decode_jpeg, lambda: decode_image(encoded, channels))
    resize = functools.partial(tf.image.resize, image, image_size)  # bilinear
    shrinks = tf.reduce_any(tf.shape(image)[:2] > image_size)  # if not, antialiasing is moot
    resized = tf.cond(shrinks, lambda: resize(antialias=True), resize)  # and 3x slower
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
    """Each image of a batch its own way: a random crop of it padded by `crop_padding` (mirrored),
    a flip, a brightness offset up to `brightness`. A pure function of `seed` (int [2])."""
    # By hand where tf.image's stateless crop and brightness would change a batch one way.
    batch, height, width = tf.unstack(tf.shape(images)[:3])
    seeds = tf.random.experimental.stateless_split(seed, num=3)  # crop, flip, brightness
    if crop_padding:  # a crop of the image mirrored at its edges (as a SYMMETRIC pad), by gathers
        span = 2 * crop_padding + 1  # (no MirrorPad: the augmentation is a third faster)
        offsets = tf.random.stateless_uniform([2, batch, 1], seeds[0], 0, span, tf.int32)
        for offset, axis, size in ((offsets[0], 1, height), (offsets[1], 2, width)):
            index = offset - crop_padding + tf.range(size)  # -1 -> 0, size -> size - 1, ...
            index = tf.where(index < 0, -index - 1, tf.minimum(index, 2 * size - 1 - index))
            images = tf.gather(images, index, axis=axis, batch_dims=1)
    if flip:
        images = tf.image.stateless_random_flip_left_right(images, seeds[1])
    if brightness:
        images += tf.random.stateless_uniform([batch, 1, 1, 1], seeds[2], -brightness, brightness)
    return images


def make_augment_fn(data_cfg: Mapping) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor] | None:
    """fn(images, seed) -> images: data.augment's changes (augment_images); None when all off."""
    options = dict(data_cfg["augment"])
    return functools.partial(augment_images, **options) if any(options.values()) else None


def make_prepare_fn(metadata: Metadata) -> Op:
    """uint8 images (one or a batch) -> model inputs, as training and the export both see them."""
    return lambda images: (tf.cast(images, tf.float32) / 255.0 - metadata.mean) / metadata.std


def make_example_fn(metadata: Metadata) -> Op:
    """The op from one stored image to the model's input."""
    prepare = make_prepare_fn(metadata)
    return lambda stored: prepare(decode_stored(stored, metadata.input_shape))
