"""Image sources: each returns raw examples for preprocess_data; nothing is downloaded.

A source is a function ``(data_cfg, seed) -> (raw_inputs, labels, class_names)`` where each
raw input is an encoded image (PNG bytes) and each label an index into ``class_names``.

    {{ cookiecutter.package_name }}-preprocess data=digits
"""

import numpy as np
from omegaconf import DictConfig

from . import input_ops

RawExamples = tuple[list[bytes], list[int], list[str]]


def digits(data_cfg: DictConfig, seed: int) -> RawExamples:
    """scikit-learn's 1,797 real 8x8 handwritten digits (values 0..16) as uint8 PNGs."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., np.newaxis]
    raw_inputs = [input_ops.encode_png(image) for image in images]
    class_names = [str(name) for name in bunch.target_names]
    return raw_inputs, bunch.target.tolist(), class_names


def synthetic(data_cfg: DictConfig, seed: int) -> RawExamples:
    """Tiny random images in three classes, each a bright bar at its own height."""
    rng = np.random.default_rng(seed)
    height, width = 12, 12
    class_names = ["top", "middle", "bottom"]
    raw_inputs, labels = [], []
    for index in range(data_cfg.num_examples):
        label = index % len(class_names)
        image = rng.integers(0, 60, size=(height, width, data_cfg.channels))
        row = label * (height // 3) + rng.integers(0, height // 3)
        image[row, :, :] = 255
        raw_inputs.append(input_ops.encode_png(image.astype(np.uint8)))
        labels.append(label)
    return raw_inputs, labels, class_names


SOURCES = {"digits": digits, "synthetic": synthetic}


def summarize(train_inputs: list[bytes], data_cfg: DictConfig, assets_dir: str) -> dict:
    """Describes the training images for metadata.json: shapes and normalisation.

    Args:
        train_inputs: encoded images of the train split only.
        data_cfg: the data config (image_size and channels are used).
        assets_dir: unused for images; text sources write their vocabulary there.

    Returns:
        raw_shape (the stored images' [height, width, channels], None where sizes vary),
        input_shape (what the model gets), normalisation statistics and the model inputs.
    """
    del assets_dir
    channels = data_cfg.channels
    shapes = set()
    pixel_sum = np.zeros(channels)
    pixel_sq_sum = np.zeros(channels)
    pixel_count = 0
    for encoded in train_inputs:
        image = input_ops.decode_image(encoded, channels).numpy().astype(np.float64) / 255.0
        shapes.add(image.shape)
        pixel_sum += image.sum(axis=(0, 1))
        pixel_sq_sum += np.square(image).sum(axis=(0, 1))
        pixel_count += image.shape[0] * image.shape[1]
    mean = pixel_sum / pixel_count
    std = np.sqrt(np.maximum(pixel_sq_sum / pixel_count - np.square(mean), 0.0)) + 1e-6
    raw_shape = list(shapes.pop()) if len(shapes) == 1 else [None, None, channels]
    input_shape = [*data_cfg.image_size, channels]
    return {
        "raw_shape": raw_shape,
        "raw_dtype": "uint8",
        "input_shape": input_shape,
        "normalization": {"mean": mean.tolist(), "std": std.tolist()},
        "model_inputs": {"input_shape": input_shape},
    }
