"""Image sources for preprocess_data (RawExamples of encoded images), and how they are stored:
a PNG of data.image_size each (encode_examples). To add a source, see docs/architecture.md."""

import logging
import re
from collections.abc import Iterator, Sequence

import numpy as np
import tensorflow as tf
from omegaconf import DictConfig
from sklearn.datasets import load_digits

from ..predict_image import IMAGE_EXTENSIONS
from . import image_ops, sources
from .sources import RawExamples, fetch_archive
{%- if cookiecutter.tfds %}
from .tfds_source import tfds_examples
{%- endif %}

log = logging.getLogger(__name__)

MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"


def from_arrays(images: np.ndarray, labels: np.ndarray, class_names: list[str]) -> RawExamples:
    """Encodes uint8 [N, height, width(, channels)] arrays as PNG examples."""
    images = images[..., np.newaxis] if images.ndim == 3 else images
    inputs = [tf.io.encode_png(image).numpy() for image in images]
    return RawExamples(inputs, [int(label) for label in labels], class_names)


def digits(data_cfg: DictConfig, seed: int) -> RawExamples:
    """scikit-learn's 1,797 real 8x8 handwritten digits (values 0..16)."""
    bunch = load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    return from_arrays(images, bunch.target, [str(name) for name in bunch.target_names])


def synthetic(data_cfg: DictConfig, seed: int) -> RawExamples:
    """Tiny random images in three classes, each a bright bar at its own height."""
    rng = np.random.default_rng(seed)
    labels = np.arange(data_cfg.num_examples) % 3
    images = rng.integers(0, 60, size=(len(labels), 12, 12, data_cfg.channels or 1))
    images[np.arange(len(labels)), labels * 4 + rng.integers(0, 4, size=len(labels))] = 255
    return from_arrays(images.astype(np.uint8), labels, ["top", "middle", "bottom"])


def image_folder(data_cfg: DictConfig, seed: int) -> RawExamples:
    """The user's images: data.path/<class_name>/[<sub-folders>/]<image>; data.test_path."""
    return sources.class_folders(data_cfg, IMAGE_EXTENSIONS)


def mnist(data_cfg: DictConfig, seed: int) -> RawExamples:
    """MNIST's 60,000 + 10,000 digits from Keras' mnist.npz (keras.datasets re-checks its hash)."""
    path = fetch_archive("mnist.npz", MNIST_URL, data_cfg.download_dir)
    names = [str(digit) for digit in range(10)]
    with np.load(path) as arrays:
        train = from_arrays(arrays["x_train"], arrays["y_train"], names)
        train.test = from_arrays(arrays["x_test"], arrays["y_test"], names)
    return train


{%- if cookiecutter.tfds %}


def tfds(data_cfg: DictConfig, seed: int) -> RawExamples:
    """A prepared TensorFlow Datasets dataset of images (data.tfds_name; tfds_source.py)."""
    return tfds_examples(data_cfg, "Image", lambda image: tf.io.encode_png(image).numpy())
{%- endif %}


SOURCES = {source.__name__: source for source in (digits, synthetic, image_folder, mnist)}
{%- if cookiecutter.tfds %}
SOURCES["tfds"] = tfds
{%- endif %}


def encode_examples(inputs: Sequence, from_files: bool, data_cfg: DictConfig) -> Iterator[tuple]:
    """Stores images in parallel: (index, PNG, statistics) of each readable one; names the rest."""
    image_size, channels = list(data_cfg.image_size), data_cfg.channels

    def encode(index: tf.Tensor, raw: tf.Tensor) -> dict:
        encoded = tf.io.read_file(raw) if from_files else raw
        image = image_ops.store_image(encoded, image_size, channels)
        pixels = tf.cast(image_ops.to_channels(image, 3), tf.float64) / 255.0  # gray: 3 times
        sums = tf.reduce_sum(tf.concat([pixels, tf.square(pixels)], -1), axis=[0, 1])
        colour = tf.shape(image)[-1] == 3
        return {"index": index, "stored": tf.io.encode_png(image), "sums": sums, "colour": colour}

    def reason(raw) -> str:  # why `encode` failed on one input, run again eagerly
        try:
            encode(tf.constant(0, tf.int64), tf.constant(raw))
        except (tf.errors.OpError, OSError) as error:  # one line, no TensorFlow op names
            text = re.sub(r"\{\{function_node [^}]*\}\}|\[Op:\w+\]( name: \S*)?", "", str(error))
            return f"{raw if from_files else 'an image'} ({' '.join(text.split())})"
        return f"{raw if from_files else 'an image'} (failed once, then read; try again)"

    dataset = tf.data.Dataset.from_tensor_slices(list(inputs)).enumerate()
    dataset = dataset.map(encode, tf.data.AUTOTUNE, deterministic=True).ignore_errors()
    read = np.zeros(len(inputs), bool)
    for batch in dataset.batch(256).prefetch(1).as_numpy_iterator():  # less Python per image
        for row, index in enumerate(batch["index"].tolist()):
            read[index] = True
            yield index, batch["stored"][row], {key: value[row] for key, value in batch.items()}
    bad = [reason(inputs[index]) for index in np.flatnonzero(~read)]
    message = f"{len(bad)} image file(s) cannot be read: {'; '.join(bad)}."
    if bad and not data_cfg.skip_invalid:
        raise ValueError(f"{message} Fix or remove them, or set data.skip_invalid=true.")
    if bad:
        log.warning("%s Leaving them out (data.skip_invalid=true).", message)


class TrainSummary:
    """Sums of the stored training pixels; `metadata` gives the model's input shape (channels
    null: 1 when every training image is gray, else 3), their channels' mean and std in [0, 1]."""

    def __init__(self, data_cfg: DictConfig):
        self.data_cfg, self.images, self.colour, self.sums = data_cfg, 0, False, 0

    def add(self, stored: bytes, statistics: dict) -> None:  # from encode_examples
        self.images, self.sums = self.images + 1, self.sums + statistics["sums"]
        self.colour |= bool(statistics["colour"])

    def metadata(self, assets_dir: str) -> dict:
        channels = self.data_cfg.channels or (3 if self.colour else 1)
        input_shape = [*self.data_cfg.image_size, channels]
        mean, square_mean = np.split(self.sums / (self.images * np.prod(input_shape[:2])), 2)
        std = (np.sqrt(np.maximum(square_mean - mean**2, 0.0))[:channels] + 1e-6).tolist()
        shape = {"input_shape": input_shape}
        return {**shape, "mean": mean[:channels].tolist(), "std": std, "model_inputs": shape}
