"""Every image source and every bad-data case, on files the tests write themselves."""

import gzip
import io
import pickle
import struct
import tarfile

import numpy as np
import pytest
import tensorflow as tf
from helpers import peak_memory_of_preprocess, shared_data

from {{ cookiecutter.package_name }}.data import (  # one per line at any name length
    data_loader,
    image_ops,
    preprocess_data,
)

# A 1x1 GIF: TensorFlow decodes GIF (one frame here) but cannot write it.
TINY_GIF = bytes.fromhex(
    "474946383961010001008000000000" "00ffffff21f90401000000002c00000000010001000002024401003b"
)
# Exif, little-endian TIFF, one directory entry: orientation (0x0112), a short, 1 value: 6.
EXIF_6 = b"Exif\0\0II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0\x06\0\0\0\0\0\0\0"


def write_image(path, value):
    image = np.full((20, 24, 1), value, np.uint8)
    image[0, 0] = 255 - value
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tf.io.encode_png(image).numpy())


def make_folder(root, classes=("cat", "dog"), per_class=6):
    for label, name in enumerate(classes):
        for index in range(per_class):
            write_image(root / name / f"{index:03d}.png", 40 + 60 * label + index)
    return root


def preprocess(make_config, *overrides):
    cfg = make_config("data=image_folder", "data.image_size=[16,16]", *overrides)
    return preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)


def total(metadata):
    return sum(count["total"] for count in metadata.counts.values())


@pytest.mark.slow
def test_image_folder_stores_every_format_upright_at_the_image_size(make_config, tmp_path):
    root = make_folder(tmp_path / "imgs", per_class=8)
    (root / "dog" / "tiny.gif").write_bytes(TINY_GIF)
    photo = np.zeros((300, 400, 3), np.uint8)
    photo[:, 200:] = 255  # landscape, right half white; Exif orientation 6: turn it clockwise
    jpeg = tf.io.encode_jpeg(photo, quality=95).numpy()
    app1 = b"\xff\xe1" + (len(EXIF_6) + 2).to_bytes(2, "big") + EXIF_6
    (root / "cat" / "photo.jpg").write_bytes(jpeg[:2] + app1 + jpeg[2:])
    records_dir, metadata = preprocess(make_config, f"data.path={root}")
    assert metadata.class_names == ["cat", "dog"] and total(metadata) == 18
    assert metadata.input_shape == [16, 16, 3]  # one image is colour
    stored = [
        image_ops.decode_image(raw, 3).numpy()
        for split in preprocess_data.SPLITS
        for raw in data_loader.read_raw_examples(records_dir, split, metadata, 18)[0]
    ]
    assert {image.shape for image in stored} == {(16, 16, 3)}
    (photo,) = [image for image in stored if image.max() - image.min() > 200]
    assert photo[:6].max() < 30 and photo[10:].min() > 225  # upright: top black, bottom white


def test_grayscale_folders_give_one_channel_and_a_given_test_split(make_config, tmp_path):
    root, test_root = make_folder(tmp_path / "train", per_class=10), tmp_path / "test"
    _, metadata = preprocess(
        make_config, f"data.path={root}", f"data.test_path={make_folder(test_root, per_class=3)}"
    )
    assert metadata.input_shape == [16, 16, 1]
    assert metadata.counts["test"]["per_class"] == {"cat": 3, "dog": 3}
    assert metadata.counts["train"]["total"] + metadata.counts["validation"]["total"] == 20
    assert len(metadata.normalization.mean) == 1


@pytest.mark.parametrize(
    "layout, message",
    [
        ("missing", "does not exist"),
        ("flat", "has no class sub-folders. Expected"),
        ("empty-class", r"\['dog'\] hold no"),
        ("unseen-test-label", r"label\(s\) \['fox'\]"),
    ],
)
def test_bad_folders_are_explained(make_config, tmp_path, layout, message):
    root, overrides = tmp_path / "imgs", []
    if layout == "flat":
        write_image(root / "001.png", 10)
    if layout == "empty-class":
        (make_folder(root, classes=("cat",)) / "dog").mkdir()
    if layout == "unseen-test-label":
        make_folder(root)
        test_root = make_folder(tmp_path / "test", classes=("cat", "dog", "fox"), per_class=2)
        overrides = [f"data.test_path={test_root}"]
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        preprocess(make_config, f"data.path={root}", *overrides)


@pytest.mark.slow
def test_corrupt_images_are_named_together_or_skipped(make_config, tmp_path):
    root = make_folder(tmp_path / "imgs", per_class=8)
    (root / "cat" / "broken.png").write_bytes(b"\x89PNG not really")
    (root / "dog" / "empty.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match=r"2 image file\(s\) .*broken\.png .*; .*empty\.jpg"):
        preprocess(make_config, f"data.path={root}")
    _, metadata = preprocess(make_config, f"data.path={root}", "data.skip_invalid=true")
    assert total(metadata) == 16


def write_mnist(cache, images, labels):
    arrays = {"x_train": images[20:], "y_train": labels[20:], "x_test": images[:20]}
    np.savez(cache / "mnist.npz", **arrays, y_test=labels[:20])


def write_fashion_mnist(cache, images, labels):
    for prefix, part in (("train", slice(20, None)), ("t10k", slice(0, 20))):
        count = len(labels[part])
        with gzip.open(cache / f"{prefix}-labels-idx1-ubyte.gz", "wb") as labels_file:
            labels_file.write(
                struct.pack(">II", 2049, count) + labels[part].astype(np.uint8).tobytes()
            )
        with gzip.open(cache / f"{prefix}-images-idx3-ubyte.gz", "wb") as images_file:
            images_file.write(struct.pack(">IIII", 2051, count, 28, 28) + images[part].tobytes())


def write_cifar10(cache, images, labels):
    with tarfile.open(cache / "cifar-10-python.tar.gz", "w:gz") as archive:
        for name, part in (
            ("data_batch_1", slice(20, 80)),
            ("data_batch_2", slice(80, None)),
            ("test_batch", slice(0, 20)),
        ):
            data = images[part].transpose(0, 3, 1, 2).reshape(len(labels[part]), -1)
            content = pickle.dumps({b"data": data, b"labels": labels[part].tolist()})
            member = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            member.size = len(content)
            archive.addfile(member, io.BytesIO(content))


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, write, shape",
    [
        ("mnist", write_mnist, (28, 28)),
        ("fashion_mnist", write_fashion_mnist, (28, 28)),
        ("cifar10", write_cifar10, (32, 32, 3)),
    ],
)
def test_downloadable_sets_read_their_cached_archives(make_config, tmp_path, name, write, shape):
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (120, *shape)).astype(np.uint8), np.arange(120) % 10
    (tmp_path / "keras" / "datasets").mkdir(parents=True)
    write(tmp_path / "keras" / "datasets", images, labels)
    size = f"data.image_size=[{shape[0]},{shape[1]}]"  # their own: stored pixels as written
    cfg = make_config(f"data={name}", f"data.download_dir={tmp_path / 'keras'}", size)
    records_dir, metadata = preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
    assert metadata.counts["test"]["total"] == 20 and total(metadata) == 120
    assert metadata.input_shape == [*shape[:2], 3 if len(shape) == 3 else 1]
    assert len(metadata.class_names) == 10
    test_split = zip(
        *data_loader.read_raw_examples(records_dir, "test", metadata, 20), strict=True
    )
    stored = [(label, image_ops.decode_image(raw).numpy().tobytes()) for raw, label in test_split]
    written = zip(labels[:20].tolist(), [image.tobytes() for image in images[:20]], strict=True)
    assert sorted(stored) == sorted(written)  # the pixels laid out right, with their labels


def test_a_missing_archive_without_network_is_explained(make_config, tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("URL fetch failure")

    monkeypatch.setattr("keras.utils.get_file", no_network)
    cfg = make_config("data=mnist", f"data.download_dir={tmp_path}")
    with pytest.raises(RuntimeError, match="copy the file to .*mnist.npz"):
        preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)


def test_shared_mnist_folder_preprocesses(make_config):
    _, metadata = preprocess(
        make_config, f"data.path={shared_data('mnist-8k')}", "data.image_size=[32,32]"
    )
    assert total(metadata) == 8000 and metadata.input_shape == [32, 32, 1]
    assert metadata.class_names == [str(digit) for digit in range(10)]


@pytest.mark.full  # writes 600 JPEGs, then preprocesses twice in a new process: about 30 s
def test_preprocess_memory_does_not_grow_with_the_number_of_images(run_module, tmp_path):
    for count in (200, 400):
        for index in range(count):
            path = tmp_path / str(count) / ("a", "b")[index % 2] / f"{index}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            noise = np.random.default_rng(index).integers(0, 256, (256, 256, 3), np.uint8)
            path.write_bytes(tf.io.encode_jpeg(noise, quality=90).numpy())  # 60 KB, like a photo
    peaks = [
        peak_memory_of_preprocess(
            run_module.env,
            "data=image_folder",
            f"data.path={tmp_path / str(count)}",
            f"data.records_dir={tmp_path / f'r{count}'}",
        )
        for count in (200, 400)
    ]
    # 200 more JPEGs (12 MB): streaming grows by about 3 MB, code that held the files by 64.
    assert peaks[1] - peaks[0] < 25e6, [f"{peak / 1e6:.0f} MB" for peak in peaks]
