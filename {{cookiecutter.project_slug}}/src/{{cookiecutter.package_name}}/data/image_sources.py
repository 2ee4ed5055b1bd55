"""Image sources for preprocess_data: each returns RawExamples of encoded images.

For example:

    {{ cookiecutter.package_name }}-preprocess data=digits                          # ships with scikit-learn
    {{ cookiecutter.package_name }}-preprocess data=image_folder data.path=imgs/    # imgs/<class>/<file>.png
    {{ cookiecutter.package_name }}-preprocess data=mnist                           # downloaded once, cached

Images of any size, grayscale or colour, are stored as encoded files; input_ops decodes them,
turns photos upright by their Exif orientation and resizes them to data.image_size, in
training and in the exported model alike.
"""

import gzip
import logging
import pickle
import tarfile

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
    read_file,
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


def read_image_files(
    paths: list[str], labels: list[int], skip_invalid: bool
) -> tuple[list[bytes], list[int]]:
    """Reads image files, checking that each one decodes.

    Every unreadable or corrupt file is named in one error, or, with data.skip_invalid=true,
    in one warning, and left out.
    """
    inputs, kept_labels, bad = [], [], []
    for path, label in zip(paths, labels, strict=True):
        try:
            encoded = read_file(path)
            tf.io.decode_image(encoded, expand_animations=False)
        except (tf.errors.OpError, OSError) as error:
            bad.append(f"{path} ({error_reason(error)})")
            continue
        inputs.append(encoded)
        kept_labels.append(label)
    if bad and not skip_invalid:
        raise ValueError(
            f"{len(bad)} image file(s) cannot be read: {'; '.join(bad)}. Fix or remove them, "
            "or set data.skip_invalid=true to leave them out."
        )
    if bad:
        log.warning("Leaving out %d unreadable image file(s): %s", len(bad), "; ".join(bad))
    return inputs, kept_labels


def image_folder(data_cfg: DictConfig, seed: int) -> RawExamples:
    """The user's images: data.path/<class_name>/[<sub-folders>/]<image>; data.test_path alike.

    PNG, JPEG, BMP, GIF and WebP files are read; others are named in a warning and left out.
    """
    paths, labels, class_names = list_class_files(data_cfg.path, IMAGE_EXTENSIONS)
    inputs, labels = read_image_files(paths, labels, data_cfg.skip_invalid)
    examples = RawExamples(inputs, labels, class_names)
    if data_cfg.test_path:
        test_paths, test_labels, test_classes = list_class_files(
            data_cfg.test_path, IMAGE_EXTENSIONS, key="data.test_path"
        )
        test_labels = map_test_labels(test_classes, test_labels, class_names)
        test_inputs, test_labels = read_image_files(test_paths, test_labels, data_cfg.skip_invalid)
        examples.test = RawExamples(test_inputs, test_labels, class_names)
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


def image_statistics(train_inputs: list[bytes]) -> dict:
    """One parallel pass over the training images: sizes, colour, pixel sums."""

    def describe(encoded: tf.Tensor) -> dict:
        native = input_ops.decode_upright(encoded)
        rgb = tf.cast(input_ops.to_channels(native, 3), tf.float64) / 255.0
        gray = tf.cast(input_ops.to_channels(native, 1), tf.float64) / 255.0
        return {
            "shape": tf.shape(native)[:2],
            "colour": tf.shape(native)[-1] >= 3,
            "rgb_sum": tf.reduce_sum(rgb, axis=[0, 1]),
            "rgb_square_sum": tf.reduce_sum(tf.square(rgb), axis=[0, 1]),
            "gray_sum": tf.reduce_sum(gray, axis=[0, 1]),
            "gray_square_sum": tf.reduce_sum(tf.square(gray), axis=[0, 1]),
        }

    dataset = tf.data.Dataset.from_tensor_slices(train_inputs)
    dataset = dataset.map(describe, num_parallel_calls=tf.data.AUTOTUNE)
    totals = {"shapes": set(), "colour": False, "pixels": 0}
    for item in dataset.as_numpy_iterator():
        totals["shapes"].add(tuple(item["shape"].tolist()))
        totals["colour"] |= bool(item["colour"])
        totals["pixels"] += int(np.prod(item["shape"]))
        for key in ("rgb_sum", "rgb_square_sum", "gray_sum", "gray_square_sum"):
            totals[key] = totals.get(key, 0.0) + item[key]
    return totals


def summarize(train_inputs: list[bytes], data_cfg: DictConfig, assets_dir: str) -> dict:
    """Describes the training images for metadata.json: shapes, channels and normalisation.

    Args:
        train_inputs: encoded images of the train split only.
        data_cfg: the data config (image_size and channels are used; channels=null picks 1
            when every training image is grayscale, else 3).
        assets_dir: unused for images; text sources write their vocabulary there.

    Returns:
        raw_shape (the stored images' [height, width, channels], None where sizes vary),
        input_shape (what the model gets), per-channel mean and std of the training pixels
        in [0, 1], and the model's inputs.
    """
    del assets_dir
    totals = image_statistics(train_inputs)
    channels = data_cfg.channels or (3 if totals["colour"] else 1)
    prefix = "rgb" if channels == 3 else "gray"
    mean = totals[f"{prefix}_sum"] / totals["pixels"]
    variance = totals[f"{prefix}_square_sum"] / totals["pixels"] - np.square(mean)
    std = np.sqrt(np.maximum(variance, 0.0)) + 1e-6
    shapes = totals["shapes"]
    raw_shape = [*shapes.pop(), channels] if len(shapes) == 1 else [None, None, channels]
    input_shape = [*data_cfg.image_size, channels]
    return {
        "raw_shape": raw_shape,
        "raw_dtype": "uint8",
        "input_shape": input_shape,
        "normalization": {"mean": mean.tolist(), "std": std.tolist()},
        "model_inputs": {"input_shape": input_shape},
    }
