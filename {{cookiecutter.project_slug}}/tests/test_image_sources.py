"""Every image source and every bad-data case, on files the tests write themselves."""

import gzip
import io
import pickle
import struct
import tarfile

import numpy as np
import pytest
import tensorflow as tf
from conftest import shared_data

from {{ cookiecutter.package_name }}.data import data_loader, input_ops, preprocess_data

# A 1x1 GIF: TensorFlow decodes GIFs but cannot write them.
TINY_GIF = bytes.fromhex(
    "474946383961010001008000000000" "00ffffff21f90401000000002c00000000010001000002024401003b"
)


def bmp_bytes(image: np.ndarray) -> bytes:
    """A 24-bit BMP file of a uint8 [height, width, 3] image (TensorFlow cannot write BMP)."""
    height, width, _ = image.shape
    row_size = (width * 3 + 3) // 4 * 4
    pixels = b"".join(
        image[row, :, ::-1].tobytes().ljust(row_size, b"\0") for row in range(height - 1, -1, -1)
    )
    header = struct.pack("<2sIHHI", b"BM", 54 + len(pixels), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(pixels), 0, 0, 0, 0)
    return header + info + pixels


def write_image(path, height, width, channels, value, encoding="png"):
    image = np.full((height, width, channels), value, np.uint8)
    image[0, 0] = 255 - value
    encoders = {
        "png": lambda: input_ops.encode_png(image),
        "jpg": lambda: tf.io.encode_jpeg(image).numpy(),
        "bmp": lambda: bmp_bytes(np.repeat(image[..., :1], 3, axis=-1)),
        "gif": lambda: TINY_GIF,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encoders[encoding]())


def make_folder(root, classes=("cat", "dog"), per_class=6, channels=1, size=(20, 24)):
    for label, name in enumerate(classes):
        for index in range(per_class):
            value = 40 + 60 * label + index
            write_image(root / name / f"{index:03d}.png", *size, channels, value)
    return root


def preprocess(make_config, *overrides):
    cfg = make_config("data=image_folder", "data.image_size=[16,16]", *overrides)
    return preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)


def test_image_folder_takes_every_format_size_and_colour(make_config, tmp_path):
    root = make_folder(tmp_path / "imgs", per_class=8)
    write_image(root / "cat" / "big.jpg", 40, 30, 3, 60, "jpg")
    write_image(root / "cat" / "odd.bmp", 7, 5, 3, 70, "bmp")
    write_image(root / "dog" / "tiny.gif", 1, 1, 3, 80, "gif")
    (root / "dog" / "notes.txt").write_text("not an image")

    records_dir, metadata = preprocess(make_config, f"data.path={root}")

    assert metadata["class_names"] == ["cat", "dog"]
    assert sum(count["total"] for count in metadata["counts"].values()) == 19
    assert metadata["raw_shape"] == [None, None, 3]  # sizes vary; some images are colour
    assert metadata["input_shape"] == [16, 16, 3]
    example_fn = input_ops.make_example_fn(metadata, records_dir)
    dataset = data_loader.load_split(records_dir, "train", metadata, example_fn, 4, training=False)
    assert next(iter(dataset))[0].shape[1:] == (16, 16, 3)


def test_grayscale_folders_give_one_channel_and_a_given_test_split(make_config, tmp_path):
    root = make_folder(tmp_path / "train", per_class=10)
    test_root = make_folder(tmp_path / "test", per_class=3)
    _, metadata = preprocess(make_config, f"data.path={root}", f"data.test_path={test_root}")
    assert metadata["input_shape"] == [16, 16, 1] and metadata["raw_shape"] == [20, 24, 1]
    assert metadata["counts"]["test"]["per_class"] == {"cat": 3, "dog": 3}
    assert metadata["counts"]["train"]["total"] + metadata["counts"]["validation"]["total"] == 20
    assert len(metadata["normalization"]["mean"]) == 1


def test_changed_input_files_change_the_records(make_config, tmp_path):
    root = make_folder(tmp_path / "imgs")
    first_dir, _ = preprocess(make_config, f"data.path={root}")
    write_image(root / "dog" / "new.png", 20, 24, 1, 99)
    second_dir, metadata = preprocess(make_config, f"data.path={root}")
    assert second_dir != first_dir
    assert sum(count["total"] for count in metadata["counts"].values()) == 13


@pytest.mark.parametrize(
    "layout, message",
    [
        ("missing", "does not exist"),
        ("empty", "has no class sub-folders"),
        ("flat", "has no class sub-folders. Expected"),
        ("empty-class", "['dog'] hold no"),
    ],
)
def test_bad_folders_are_explained(make_config, tmp_path, layout, message):
    root = tmp_path / "imgs"
    if layout != "missing":
        root.mkdir()
    if layout == "flat":
        write_image(root / "001.png", 8, 8, 1, 10)
    if layout == "empty-class":
        make_folder(root, classes=("cat",))
        (root / "dog").mkdir()
    with pytest.raises((ValueError, FileNotFoundError), match=message.replace("[", r"\[")):
        preprocess(make_config, f"data.path={root}")


def test_corrupt_images_are_named_together_or_skipped(make_config, tmp_path):
    root = make_folder(tmp_path / "imgs", per_class=8)
    (root / "cat" / "broken.png").write_bytes(b"\x89PNG not really")
    (root / "dog" / "empty.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match="2 image file") as error:
        preprocess(make_config, f"data.path={root}")
    assert "broken.png" in str(error.value) and "empty.jpg" in str(error.value)

    _, metadata = preprocess(make_config, f"data.path={root}", "data.skip_invalid=true")
    assert sum(count["total"] for count in metadata["counts"].values()) == 16


def test_a_test_label_unseen_in_training_is_refused(make_config, tmp_path):
    root = make_folder(tmp_path / "train")
    test_root = make_folder(tmp_path / "test", classes=("cat", "dog", "fox"), per_class=2)
    with pytest.raises(ValueError, match=r"label\(s\) \['fox'\]"):
        preprocess(make_config, f"data.path={root}", f"data.test_path={test_root}")


def archive_images(count, height, width, channels=None, seed=0):
    rng = np.random.default_rng(seed)
    shape = (count, height, width) + ((channels,) if channels else ())
    return rng.integers(0, 256, size=shape).astype(np.uint8), np.arange(count) % 10


def keras_cache(tmp_path):
    (tmp_path / "keras" / "datasets").mkdir(parents=True)
    return tmp_path / "keras" / "datasets"


def write_mnist(cache):
    (x_train, y_train), (x_test, y_test) = archive_images(100, 28, 28), archive_images(20, 28, 28)
    np.savez(cache / "mnist.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)


def write_fashion_mnist(cache):
    for prefix, count in (("train", 100), ("t10k", 20)):
        images, labels = archive_images(count, 28, 28)
        with gzip.open(cache / f"{prefix}-labels-idx1-ubyte.gz", "wb") as labels_file:
            labels_file.write(struct.pack(">II", 2049, count) + labels.astype(np.uint8).tobytes())
        with gzip.open(cache / f"{prefix}-images-idx3-ubyte.gz", "wb") as images_file:
            images_file.write(struct.pack(">IIII", 2051, count, 28, 28) + images.tobytes())


def write_cifar10(cache):
    with tarfile.open(cache / "cifar-10-python.tar.gz", "w:gz") as archive:
        for name, count in (("data_batch_1", 60), ("data_batch_2", 40), ("test_batch", 20)):
            images, labels = archive_images(count, 32, 32, 3)
            batch = {b"data": images.transpose(0, 3, 1, 2).reshape(count, -1), b"labels": labels}
            content = pickle.dumps({key: value for key, value in batch.items()})
            member = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            member.size = len(content)
            archive.addfile(member, io.BytesIO(content))


@pytest.mark.parametrize(
    "name, write, channels",
    [
        ("mnist", write_mnist, 1),
        ("fashion_mnist", write_fashion_mnist, 1),
        ("cifar10", write_cifar10, 3),
    ],
)
def test_downloadable_sets_read_their_cached_archives(
    make_config, tmp_path, name, write, channels
):
    write(keras_cache(tmp_path))
    cfg = make_config(f"data={name}", f"data.download_dir={tmp_path / 'keras'}")
    _, metadata = preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
    assert metadata["counts"]["test"]["total"] == 20
    assert metadata["counts"]["train"]["total"] + metadata["counts"]["validation"]["total"] == 100
    assert metadata["input_shape"] == [32, 32, channels]
    assert len(metadata["class_names"]) == 10


def test_a_missing_archive_without_network_is_explained(make_config, tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("URL fetch failure")

    monkeypatch.setattr("keras.utils.get_file", no_network)
    cfg = make_config("data=mnist", f"data.download_dir={tmp_path}")
    with pytest.raises(RuntimeError, match="copy the file to .*mnist.npz"):
        preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)


def test_shared_mnist_folder_preprocesses(make_config):
    root = shared_data("mnist-8k")
    cfg = make_config("data=image_folder", f"data.path={root}", "data.image_size=[32,32]")
    _, metadata = preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
    assert sum(count["total"] for count in metadata["counts"].values()) == 8000
    assert metadata["class_names"] == [str(digit) for digit in range(10)]
    assert metadata["raw_shape"] == [28, 28, 1]
