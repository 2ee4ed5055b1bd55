"""Image sources for preprocess_data: each returns RawExamples of encoded images.

    {{ cookiecutter.package_name }}-preprocess data=digits                          # ships with scikit-learn
    {{ cookiecutter.package_name }}-preprocess data=image_folder data.path=imgs/    # imgs/<class>/<file>.png

Every image is stored as a PNG of data.image_size (image_ops.store_image), in parallel while
the records are written (encode_examples). Downloads are read here, not by keras.datasets,
whose loaders check each archive's hash (and so download again over one a test wrote).
"""

import gzip
import itertools
import logging
import pickle
import tarfile
from collections.abc import Iterator, Sequence

import numpy as np
import tensorflow as tf
from omegaconf import DictConfig
from sklearn.datasets import load_digits

from . import image_ops, sources
from .sources import RawExamples, fetch_archive, list_class_files, with_test_split

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
KERAS_DATASETS = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
FASHION_CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt"]
FASHION_CLASSES += ["sneaker", "bag", "ankle boot"]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse"]
CIFAR10_CLASSES += ["ship", "truck"]


def from_arrays(images: np.ndarray, labels: np.ndarray, class_names: list[str]) -> RawExamples:
    """Encodes uint8 [N, height, width(, channels)] arrays as PNG examples."""
    images = images[..., np.newaxis] if images.ndim == 3 else images
    inputs = [image_ops.encode_png(image) for image in images]
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
    """The user's images: data.path/<class_name>/[<sub-folders>/]<image>; data.test_path alike.
    Files of other types are named in a warning and left out."""
    paths, labels, class_names = list_class_files(data_cfg.path, IMAGE_EXTENSIONS)
    examples = RawExamples(paths, labels, class_names, from_files=True)
    if data_cfg.test_path:
        test = list_class_files(data_cfg.test_path, IMAGE_EXTENSIONS, key="data.test_path")
        labels = sources.map_test_labels(test[2], test[1], class_names)
        examples.test = RawExamples(test[0], labels, class_names, from_files=True)
    return examples


def mnist(data_cfg: DictConfig, seed: int) -> RawExamples:
    """MNIST (60,000 + 10,000 28x28 digits), from Keras' mnist.npz."""
    path = fetch_archive("mnist.npz", KERAS_DATASETS + "mnist.npz", data_cfg.download_dir)
    names = [str(digit) for digit in range(10)]
    with np.load(path) as arrays:
        train = from_arrays(arrays["x_train"], arrays["y_train"], names)
        return with_test_split(train, from_arrays(arrays["x_test"], arrays["y_test"], names))


def fashion_mnist(data_cfg: DictConfig, seed: int) -> RawExamples:
    """Fashion-MNIST (60,000 + 10,000 28x28 clothes), from its four gzipped IDX files."""
    splits = []
    for prefix in ("train", "t10k"):
        arrays = []
        for name, header_bytes in (("labels-idx1", 8), ("images-idx3", 16)):
            name = f"{prefix}-{name}-ubyte.gz"
            url = KERAS_DATASETS + "fashion-mnist/" + name
            with gzip.open(fetch_archive(name, url, data_cfg.download_dir), "rb") as opened:
                arrays.append(np.frombuffer(opened.read(), np.uint8, offset=header_bytes))
        labels, images = arrays
        splits.append(from_arrays(images.reshape(-1, 28, 28), labels, FASHION_CLASSES))
    return with_test_split(*splits)


def cifar10(data_cfg: DictConfig, seed: int) -> RawExamples:
    """CIFAR-10 (50,000 + 10,000 32x32 colour images), from the Python-pickle archive."""
    path = fetch_archive("cifar-10-python.tar.gz", CIFAR10_URL, data_cfg.download_dir)
    train, test = [], []
    with tarfile.open(path, "r:gz") as archive:
        for name in sorted(archive.getnames()):
            if "_batch" in name:  # data_batch_1 ... data_batch_5, test_batch
                batch = pickle.load(archive.extractfile(name), encoding="bytes")
                (test if "test_batch" in name else train).append(batch)
    splits = []
    for batches in (train, test):
        images = np.concatenate([batch[b"data"] for batch in batches]).reshape(-1, 3, 32, 32)
        labels = np.concatenate([batch[b"labels"] for batch in batches])
        splits.append(from_arrays(images.transpose(0, 2, 3, 1), labels, CIFAR10_CLASSES))
    return with_test_split(*splits)


SOURCES = {
    source.__name__: source
    for source in (digits, synthetic, image_folder, mnist, fashion_mnist, cifar10)
}


def encode_examples(inputs: Sequence, from_files: bool, data_cfg: DictConfig) -> Iterator[tuple]:
    """Stores images in parallel, in order: yields (PNG, statistics) per example, or (None, None)
    for one that cannot be decoded. Those are decoded again alone to name them with their
    reason, all in one error at the end (data.skip_invalid=true: a warning)."""
    image_size, channels = list(data_cfg.image_size), data_cfg.channels

    def encode(index: tf.Tensor, raw: tf.Tensor) -> dict:
        encoded = tf.io.read_file(raw) if from_files else raw
        image = image_ops.store_image(encoded, image_size, channels)
        pixels = tf.cast(image_ops.to_channels(image, 3), tf.float64) / 255.0  # gray: 3 times
        sums = tf.reduce_sum(tf.concat([pixels, tf.square(pixels)], -1), axis=[0, 1])
        colour = tf.shape(image)[-1] == 3
        return {"index": index, "stored": tf.io.encode_png(image), "sums": sums, "colour": colour}

    def reason(raw) -> str:  # why `encode` failed on one input, run again eagerly
        name = raw if from_files else "an image"
        try:
            encode(tf.constant(0, tf.int64), tf.constant(raw))
        except (tf.errors.OpError, OSError) as error:
            return f"{name} ({sources.error_reason(error)})"
        return f"{name} (failed once, then read; try again)"

    dataset = tf.data.Dataset.from_tensor_slices(list(inputs)).enumerate()
    dataset = dataset.map(encode, tf.data.AUTOTUNE, deterministic=True).ignore_errors()
    bad, expected = [], 0
    end = {"index": np.array([len(inputs)])}  # names the inputs left out after the last one
    batches = dataset.batch(256).prefetch(1).as_numpy_iterator()  # batches: less Python per image
    for batch in itertools.chain(batches, [end]):
        for row, index in enumerate(batch["index"].tolist()):
            for missing in range(expected, index):  # left out by ignore_errors
                bad.append(reason(inputs[missing]))
                yield None, None
            if index < len(inputs):
                yield batch["stored"][row], {key: value[row] for key, value in batch.items()}
            expected = index + 1
    message = f"{len(bad)} image file(s) cannot be read: {'; '.join(bad)}."
    if bad and not data_cfg.skip_invalid:
        raise ValueError(f"{message} Fix or remove them, or set data.skip_invalid=true.")
    if bad:
        log.warning("%s Leaving them out (data.skip_invalid=true).", message)


class TrainSummary:
    """Running sums of the stored training pixels; `metadata` gives the model's input shape
    (data.channels=null: 1 channel when every training image is gray, else 3) and their
    per-channel mean and std in [0, 1]."""

    def __init__(self, data_cfg: DictConfig):
        self.data_cfg, self.images, self.colour, self.sums = data_cfg, 0, False, 0

    def add(self, stored: bytes, statistics: dict) -> None:
        """Adds one training image's statistics (from encode_examples)."""
        self.images, self.sums = self.images + 1, self.sums + statistics["sums"]
        self.colour |= bool(statistics["colour"])

    def metadata(self, assets_dir: str) -> dict:
        channels = self.data_cfg.channels or (3 if self.colour else 1)
        input_shape = [*self.data_cfg.image_size, channels]
        mean, square_mean = np.split(self.sums / (self.images * np.prod(input_shape[:2])), 2)
        std = np.sqrt(np.maximum(square_mean - mean**2, 0.0))[:channels] + 1e-6
        return {
            "input_shape": input_shape,
            "normalization": {"mean": mean[:channels].tolist(), "std": std.tolist()},
            "model_inputs": {"input_shape": input_shape},
        }
