"""What predict sends an image model's export: image files, through ``serve_bytes``. Like
predict.py it imports no training code: the two are a serving client's template. Checked by
``python -m pytest tests/test_predict.py``."""

import os
from collections.abc import Callable{{ ", Sequence" if cookiecutter.tflite }}

{% if cookiecutter.tflite -%}
import numpy as np
{% endif -%}
import tensorflow as tf
from omegaconf import DictConfig

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
SIGNATURE, SIGNATURE_INPUT, SENT = "serve_bytes", "image_bytes", "image files"

Inputs = tuple[list[str], list[bytes], list[str | None]]  # names, raw inputs, labels
Skip = Callable[[str, str | BaseException], None]  # (input name, why) of an unreadable input


def read_inputs(cfg: DictConfig, skip: Skip) -> Inputs:
    """Names, encoded image bytes and (the parent folder's name) labels of cfg.inputs, an
    image file or a folder searched recursively."""
    root, paths = cfg.inputs, [cfg.inputs]
    if tf.io.gfile.isdir(root):
        walk = tf.io.gfile.walk(root)
        paths = [os.path.join(folder, name) for folder, _, names in walk for name in names]
        paths = sorted(path for path in paths if path.lower().endswith(IMAGE_EXTENSIONS))
    if not paths:
        raise ValueError(f"inputs={root} holds no {'/'.join(IMAGE_EXTENSIONS)} files.")
    names, images = [], []
    for path in paths:
        try:
            with tf.io.gfile.GFile(path, "rb") as image_file:
                images.append(image_file.read())
            names.append(path)
        except (OSError, tf.errors.OpError) as error:
            skip(path, error)
    return names, images, [os.path.basename(os.path.dirname(name)) for name in names]
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
