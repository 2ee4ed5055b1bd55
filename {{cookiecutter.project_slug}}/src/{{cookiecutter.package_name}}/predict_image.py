"""What predict sends an image model's export: image files, through ``serve_bytes``."""

import os
{%- if cookiecutter.tflite %}
from collections.abc import Sequence
{%- endif %}

{% if cookiecutter.tflite -%}
import numpy as np
{% endif -%}
import tensorflow as tf
from omegaconf import DictConfig

# What tf.io.decode_image reads: the one list of preprocess (image_sources) and predict.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
SIGNATURE, SIGNATURE_INPUT, SENT = "serve_bytes", "image_bytes", "image files"


def read_inputs(cfg: DictConfig) -> tuple[list[str], list[bytes], dict[str, str]]:
    """(names, bytes, {name: why left out}) of the images of cfg.inputs, a file or a folder."""
    root, paths = cfg.inputs, [cfg.inputs]
    if tf.io.gfile.isdir(root):
        walk = tf.io.gfile.walk(root)
        paths = [os.path.join(folder, name) for folder, _, names in walk for name in names]
        paths = sorted(path for path in paths if path.lower().endswith(IMAGE_EXTENSIONS))
    if not paths:
        raise ValueError(f"inputs={root} holds no {'/'.join(IMAGE_EXTENSIONS)} files.")
    images, left_out = {}, {}
    for path in paths:
        if "://" not in path and os.path.exists(path) and not os.path.isfile(path):  # a FIFO
            left_out[path] = "not a regular file"
            continue
        with tf.io.gfile.GFile(path, "rb") as image_file:
            images[path] = image_file.read()
        try:
            tf.io.decode_image(images[path], expand_animations=False)
        except tf.errors.InvalidArgumentError:  # it would fail its whole batch
            left_out[path] = "not an image file that TensorFlow can decode"
            del images[path]
    return list(images), list(images.values()), left_out
{%- if cookiecutter.tflite %}


def tflite_pixels(encoded: bytes, shape: Sequence[int]) -> np.ndarray:
    """An image file as the export's .tflite takes it: uint8 pixels of its input `shape`
    ([height, width, channels], in export.json), decoded and, when its size differs, resized.
    The normalisation is inside the .tflite."""
    height, width, channels = shape
    image = tf.io.decode_image(encoded, channels=channels, expand_animations=False)
    if tuple(image.shape[:2]) != (height, width):
        image = tf.image.resize(image, [height, width], antialias=True)
        image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
    return image.numpy()
{%- endif %}
