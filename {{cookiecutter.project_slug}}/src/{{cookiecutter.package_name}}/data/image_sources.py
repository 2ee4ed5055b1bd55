"""Image sources for preprocess_data: each returns RawExamples of encoded images.

For example:

    {{ cookiecutter.package_name }}-preprocess data=digits                          # ships with scikit-learn
    {{ cookiecutter.package_name }}-preprocess data=image_folder data.path=imgs/    # imgs/<class>/<file>.png
    {{ cookiecutter.package_name }}-preprocess data=mnist                           # downloaded once, cached

Images of any size, grayscale or colour, are stored as encoded files; input_ops decodes them,
turns photos upright by their Exif orientation and resizes them to data.image_size, in
training and in the exported model alike. Images larger than data.max_stored_size are stored
shrunk (as PNG), so later runs never decode the full-size photos again. The files of a folder
are read, checked and shrunk in parallel while the records are written (encode_examples), so
memory does not grow with the data.
"""

import gzip
import logging
import pickle
import tarfile
from collections.abc import Iterator, Sequence

import numpy as np
import tensorflow as tf
from omegaconf import DictConfig

from . import input_ops
from .sources import (
    RawExamples,
    error_reason,
    fetch_archive,
    list_class_files,
    map_test_labels,
    with_test_split,
)

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
KERAS_DATASETS = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


def from_arrays(images: np.ndarray, labels: np.ndarray, class_names: list[str]) -> RawExamples:
    """Encodes uint8 [N, height, width(, channels)] arrays as PNG examples."""
    if images.ndim == 3:
        images = images[..., np.newaxis]
    inputs = [input_ops.encode_png(image) for image in images]
    return RawExamples(inputs, [int(label) for label in labels], class_names)


def digits(data_cfg: DictConfig, seed: int) -> RawExamples:
    """scikit-learn's 1,797 real 8x8 handwritten digits (values 0..16) as uint8 PNGs."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    return from_arrays(images, bunch.target, [str(name) for name in bunch.target_names])


def synthetic(data_cfg: DictConfig, seed: int) -> RawExamples:
    """Tiny random images in three classes, each a bright bar at its own height."""
    rng = np.random.default_rng(seed)
    height, width = 12, 12
    class_names = ["top", "middle", "bottom"]
    labels = np.arange(data_cfg.num_examples) % len(class_names)
    images = rng.integers(0, 60, size=(len(labels), height, width, data_cfg.channels or 1))
    rows = labels * (height // 3) + rng.integers(0, height // 3, size=len(labels))
    images[np.arange(len(labels)), rows] = 255
    return from_arrays(images.astype(np.uint8), labels, class_names)


def image_folder(data_cfg: DictConfig, seed: int) -> RawExamples:
    """The user's images: data.path/<class_name>/[<sub-folders>/]<image>; data.test_path alike.

    PNG, JPEG, BMP, GIF and WebP files are listed here and read (and checked) while the
    records are written; others are named in a warning and left out.
    """
    paths, labels, class_names = list_class_files(data_cfg.path, IMAGE_EXTENSIONS)
    examples = RawExamples(paths, labels, class_names, from_files=True)
    if data_cfg.test_path:
        test_paths, test_labels, test_classes = list_class_files(
            data_cfg.test_path, IMAGE_EXTENSIONS, key="data.test_path"
        )
        test_labels = map_test_labels(test_classes, test_labels, class_names)
        examples.test = RawExamples(test_paths, test_labels, class_names, from_files=True)
    return examples


def mnist(data_cfg: DictConfig, seed: int) -> RawExamples:
    """MNIST (60,000 + 10,000 28x28 digits), from Keras' mnist.npz."""
    path = fetch_archive("mnist.npz", KERAS_DATASETS + "mnist.npz", data_cfg.download_dir)
    with np.load(path) as archive:
        names = [str(digit) for digit in range(10)]
        return with_test_split(
            from_arrays(archive["x_train"], archive["y_train"], names),
            from_arrays(archive["x_test"], archive["y_test"], names),
        )


FASHION_CLASSES = [
    "t-shirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
]  # fmt: skip


def read_idx(path: str, header_bytes: int) -> np.ndarray:
    """Reads a gzipped IDX file (the MNIST format) past its header."""
    with gzip.open(path, "rb") as opened:
        return np.frombuffer(opened.read(), np.uint8, offset=header_bytes)


def fashion_mnist(data_cfg: DictConfig, seed: int) -> RawExamples:
    """Fashion-MNIST (60,000 + 10,000 28x28 clothes), from its four IDX files."""
    splits = []
    for prefix in ("train", "t10k"):
        files = [f"{prefix}-labels-idx1-ubyte.gz", f"{prefix}-images-idx3-ubyte.gz"]
        labels_path, images_path = (
            fetch_archive(name, KERAS_DATASETS + "fashion-mnist/" + name, data_cfg.download_dir)
            for name in files
        )
        labels = read_idx(labels_path, 8)
        images = read_idx(images_path, 16).reshape(len(labels), 28, 28)
        splits.append(from_arrays(images, labels, FASHION_CLASSES))
    return with_test_split(*splits)


CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip


def cifar10(data_cfg: DictConfig, seed: int) -> RawExamples:
    """CIFAR-10 (50,000 + 10,000 32x32 colour images), from the Python-pickle archive."""
    path = fetch_archive("cifar-10-python.tar.gz", CIFAR10_URL, data_cfg.download_dir)
    batches = {"train": [], "test": []}
    with tarfile.open(path, "r:gz") as archive:
        for member in sorted(archive.getmembers(), key=lambda member: member.name):
            name = member.name.rsplit("/", 1)[-1]
            if not name.startswith(("data_batch_", "test_batch")):
                continue
            batch = pickle.loads(archive.extractfile(member).read(), encoding="bytes")
            batches["test" if name == "test_batch" else "train"].append(batch)
    splits = []
    for part in ("train", "test"):
        images = np.concatenate([batch[b"data"] for batch in batches[part]])
        images = images.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        labels = np.concatenate([batch[b"labels"] for batch in batches[part]])
        splits.append(from_arrays(images, labels, CIFAR10_CLASSES))
    return with_test_split(*splits)


SOURCES = {
    "digits": digits,
    "synthetic": synthetic,
    "image_folder": image_folder,
    "mnist": mnist,
    "fashion_mnist": fashion_mnist,
    "cifar10": cifar10,
}


def max_stored_side(data_cfg: DictConfig) -> int | None:
    """data.max_stored_size as a number of pixels: "auto" is twice data.image_size's longer
    side; null keeps every image as it is."""
    value = data_cfg.max_stored_size
    if value is None:
        return None
    if value == "auto":
        return 2 * max(data_cfg.image_size)
    if not isinstance(value, int) or value < max(data_cfg.image_size):
        raise ValueError(
            f"data.max_stored_size={value!r} must be auto, null or a number of pixels of at "
            f"least data.image_size's {max(data_cfg.image_size)}, or the model would see "
            f"enlarged images; e.g. data.max_stored_size={2 * max(data_cfg.image_size)}."
        )
    return value


def make_encode_fn(from_files: bool, max_side: int | None):
    """Returns the tf.data op: raw input (or file path) -> the bytes to store and statistics.

    The bytes to store are the file's own, or, for an image shrunk to `max_side`, a PNG of it
    (lossless: the stored pixels are exactly those the shrinking gave).
    """

    def encode(raw: tf.Tensor) -> dict:
        encoded = tf.io.read_file(raw) if from_files else raw
        if max_side is None:
            image, shrunk = input_ops.decode_upright(encoded), tf.constant(False)
        else:
            image, shrunk = input_ops.decode_shrunk(encoded, max_side)
        rgb = tf.cast(input_ops.to_channels(image, 3), tf.float64) / 255.0
        gray = tf.cast(input_ops.to_channels(image, 1), tf.float64) / 255.0
        return {
            "stored": tf.cond(shrunk, lambda: tf.io.encode_png(image), lambda: encoded),
            "shape": tf.shape(image)[:2],
            "colour": tf.shape(image)[-1] >= 3,
            "rgb_sum": tf.reduce_sum(rgb, axis=[0, 1]),
            "rgb_square_sum": tf.reduce_sum(tf.square(rgb), axis=[0, 1]),
            "gray_sum": tf.reduce_sum(gray, axis=[0, 1]),
            "gray_square_sum": tf.reduce_sum(tf.square(gray), axis=[0, 1]),
        }

    return encode


def encode_examples(
    inputs: Sequence, from_files: bool, data_cfg: DictConfig
) -> Iterator[tuple[bytes | None, dict | None]]:
    """Reads, checks and (with data.max_stored_size) shrinks images, in parallel, in order.

    Yields (bytes to store, statistics) per example, or (None, None) for one that cannot be
    read or decoded. Those are named together in one error at the end or, with
    data.skip_invalid=true, in one warning.
    """
    encode = make_encode_fn(from_files, max_stored_side(data_cfg))
    dataset = tf.data.Dataset.from_tensor_slices(list(inputs)).enumerate()
    dataset = dataset.map(
        lambda index, raw: {"index": index, **encode(raw)},
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    dataset = dataset.ignore_errors().batch(256).prefetch(1)  # batches: less Python per image
    bad, expected = [], 0
    for batch in dataset.as_numpy_iterator():
        for row, index in enumerate(batch["index"].tolist()):
            for missing in range(expected, index):
                bad.append(invalid_reason(inputs[missing], from_files, encode))
                yield None, None
            expected = index + 1
            yield batch["stored"][row], {key: value[row] for key, value in batch.items()}
    for missing in range(expected, len(inputs)):
        bad.append(invalid_reason(inputs[missing], from_files, encode))
        yield None, None
    report_invalid(bad, data_cfg.skip_invalid)


def invalid_reason(raw, from_files: bool, encode) -> str:
    """Why `encode` fails on one input, run again eagerly: "path (reason)"."""
    try:
        encode(tf.constant(raw))
    except (tf.errors.OpError, OSError) as error:
        return f"{raw if from_files else 'an image'} ({error_reason(error)})"
    return f"{raw if from_files else 'an image'} (failed once, then read; try again)"


def report_invalid(bad: list[str], skip_invalid: bool) -> None:
    """Names the unreadable images in one error, or with skip_invalid in one warning."""
    if bad and not skip_invalid:
        raise ValueError(
            f"{len(bad)} image file(s) cannot be read: {'; '.join(bad)}. Fix or remove them, "
            "or set data.skip_invalid=true to leave them out."
        )
    if bad:
        log.warning("Leaving out %d unreadable image file(s): %s", len(bad), "; ".join(bad))


class TrainSummary:
    """Statistics of the stored training images, added one image at a time (any number).

    Its `metadata` gives the stored images' shape, the model's input shape and the
    normalisation for metadata.json.
    """

    def __init__(self, data_cfg: DictConfig):
        self.data_cfg = data_cfg
        self.shape, self.same_shape, self.colour, self.pixels = None, True, False, 0
        self.sums = {}

    def add(self, stored: bytes, statistics: dict) -> None:
        """Adds one training image's statistics (from encode_examples)."""
        del stored
        shape = tuple(statistics["shape"].tolist())
        self.same_shape &= self.shape in (None, shape)
        self.shape = self.shape or shape
        self.colour |= bool(statistics["colour"])
        self.pixels += int(np.prod(shape))
        for key in ("rgb_sum", "rgb_square_sum", "gray_sum", "gray_square_sum"):
            self.sums[key] = self.sums.get(key, 0.0) + statistics[key]

    def metadata(self, assets_dir: str) -> dict:
        """raw_shape (the stored images' [height, width, channels], None where sizes vary),
        input_shape (what the model gets), per-channel mean and std of the training pixels in
        [0, 1], max_stored_size (pixels; None: as given) and the model's inputs.

        data.channels=null picks 1 when every training image is grayscale, else 3.
        """
        del assets_dir  # images need nothing beside metadata.json
        channels = self.data_cfg.channels or (3 if self.colour else 1)
        prefix = "rgb" if channels == 3 else "gray"
        mean = self.sums[f"{prefix}_sum"] / self.pixels
        variance = self.sums[f"{prefix}_square_sum"] / self.pixels - np.square(mean)
        std = np.sqrt(np.maximum(variance, 0.0)) + 1e-6
        height, width = self.shape if self.same_shape else (None, None)
        input_shape = [*self.data_cfg.image_size, channels]
        return {
            "raw_shape": [height, width, channels],
            "raw_dtype": "uint8",
            "input_shape": input_shape,
            "normalization": {"mean": mean.tolist(), "std": std.tolist()},
            "max_stored_size": max_stored_side(self.data_cfg),
            "model_inputs": {"input_shape": input_shape},
        }
