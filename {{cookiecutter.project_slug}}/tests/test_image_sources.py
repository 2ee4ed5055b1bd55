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

from {{ cookiecutter.package_name }}.data import (
    data_loader,
    image_ops,
    image_sources,
    preprocess_data,
)

# Formats TensorFlow decodes but cannot write: a 1x1 GIF, a 3x2 24-bit BMP (rows padded).
TINY_GIF = bytes.fromhex(
    "474946383961010001008000000000" "00ffffff21f90401000000002c00000000010001000002024401003b"
)
TINY_BMP = bytes.fromhex(
    "424d4e000000000000003600000028000000030000000200000001001800000000001800000000000000"
    "000000000000000000000000464646464646464646000000464646464646464646000000"
)


def write_image(path, height, width, channels, value, encoding="png"):
    image = np.full((height, width, channels), value, np.uint8)
    image[0, 0] = 255 - value
    path.parent.mkdir(parents=True, exist_ok=True)
    encode = tf.io.encode_jpeg if encoding == "jpg" else tf.io.encode_png
    path.write_bytes(encode(image).numpy())


def make_folder(root, classes=("cat", "dog"), per_class=6):
    for label, name in enumerate(classes):
        for index in range(per_class):
            write_image(root / name / f"{index:03d}.png", 20, 24, 1, 40 + 60 * label + index)
    return root


def preprocess(make_config, *overrides):
    cfg = make_config("data=image_folder", "data.image_size=[16,16]", *overrides)
    return preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)


def total(metadata):
    return sum(count["total"] for count in metadata.counts.values())


@pytest.mark.slow
def test_image_folder_takes_every_format_size_and_colour(make_config, tmp_path):
    root = make_folder(tmp_path / "imgs", per_class=8)
    write_image(root / "cat" / "big.jpg", 40, 30, 3, 60, "jpg")
    (root / "cat" / "odd.bmp").write_bytes(TINY_BMP)
    (root / "dog" / "tiny.gif").write_bytes(TINY_GIF)
    records_dir, metadata = preprocess(make_config, f"data.path={root}")
    assert metadata.class_names == ["cat", "dog"] and total(metadata) == 19
    assert metadata.raw_shape == [None, None, 3]  # sizes vary; some images are colour
    assert metadata.input_shape == [16, 16, 3]
    example_fn = image_ops.make_example_fn(metadata, records_dir)
    spec = data_loader.InputSpec.from_config(make_config(), records_dir, metadata, example_fn)
    assert next(iter(data_loader.load_split(spec, "train", 4, training=False)))[0].shape[1:] == (
        16,
        16,
        3,
    )


def test_grayscale_folders_give_one_channel_and_a_given_test_split(make_config, tmp_path):
    root, test_root = make_folder(tmp_path / "train", per_class=10), tmp_path / "test"
    _, metadata = preprocess(
        make_config, f"data.path={root}", f"data.test_path={make_folder(test_root, per_class=3)}"
    )
    assert metadata.input_shape == [16, 16, 1] and metadata.raw_shape == [20, 24, 1]
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
        write_image(root / "001.png", 8, 8, 1, 10)
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
    np.savez(
        cache / "mnist.npz",
        x_train=images[20:],
        y_train=labels[20:],
        x_test=images[:20],
        y_test=labels[:20],
    )


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
    cfg = make_config(f"data={name}", f"data.download_dir={tmp_path / 'keras'}")
    records_dir, metadata = preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
    assert metadata.counts["test"]["total"] == 20 and total(metadata) == 120
    assert metadata.input_shape == [32, 32, 3 if len(shape) == 3 else 1]
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
    assert total(metadata) == 8000 and metadata.raw_shape == [28, 28, 1]
    assert metadata.class_names == [str(digit) for digit in range(10)]


def photo_jpeg(height, width, seed=0):
    """A noisy colour JPEG of the given size (noise: as large a file as a real photo)."""
    image = np.random.default_rng(seed).integers(0, 256, (height, width, 3)).astype(np.uint8)
    return tf.io.encode_jpeg(image, quality=90).numpy()


@pytest.mark.slow
def test_large_photos_are_stored_shrunk_upright_and_small_ones_as_they_are(make_config, tmp_path):
    root = make_folder(tmp_path / "imgs", per_class=8)
    jpeg = photo_jpeg(300, 400)  # with an Exif orientation 6 (shows as 400 x 300: portrait)
    # Exif, little-endian TIFF, one directory entry: orientation (0x0112), a short, 1 value: 6.
    exif = b"Exif\0\0II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0\x06\0\0\0\0\0\0\0"
    rotated = jpeg[:2] + b"\xff\xe1" + (len(exif) + 2).to_bytes(2, "big") + exif + jpeg[2:]
    for index in range(2):
        (root / "cat" / f"photo{index}.jpg").write_bytes(rotated)
    small_files = {path.read_bytes() for path in root.glob("*/*.png")}

    records_dir, metadata = preprocess(make_config, f"data.path={root}")
    assert metadata.max_stored_size == 32  # auto: twice data.image_size [16, 16]
    stored = [
        raw
        for split in preprocess_data.SPLITS
        for raw in data_loader.read_raw_examples(records_dir, split, metadata, 18)[0]
    ]
    shapes = [tuple(image_ops.decode_image(raw).shape) for raw in stored]
    assert shapes.count((43, 32, 3)) == 2  # upright, the shorter side 32, aspect kept
    assert sum(raw in small_files for raw in stored) == 16  # the small files, byte for byte
    _, kept = preprocess(make_config, f"data.path={root}", "data.max_stored_size=null")
    assert kept.fingerprint != metadata.fingerprint and kept.max_stored_size is None


@pytest.mark.parametrize(
    "value, expected", [("auto", 64), (48, 48), (None, None), (16, "at least")]
)
def test_max_stored_size_is_auto_a_size_or_null(make_config, value, expected):
    cfg = make_config("data.image_size=[32,24]", f"data.max_stored_size={value or 'null'}")
    if expected == "at least":
        with pytest.raises(ValueError, match="at least data.image_size's 32"):
            image_sources.max_stored_side(cfg.data)
    else:
        assert image_sources.max_stored_side(cfg.data) == expected


@pytest.mark.full  # writes 600 JPEGs, then preprocesses twice in a new process: about 30 s
def test_preprocess_memory_does_not_grow_with_the_number_of_images(run_module, tmp_path):
    for count in (200, 400):
        for index in range(count):
            path = tmp_path / str(count) / ("a", "b")[index % 2] / f"{index}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(photo_jpeg(256, 256, seed=index))  # 60 KB each
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
