"""Every image source and every bad-data case, on files the tests write themselves."""

import gzip
import io
import pickle
import struct
import tarfile

import numpy as np
import pytest
import tensorflow as tf
from conftest import peak_memory_of_preprocess, shared_data

from {{ cookiecutter.package_name }}.data import (
    data_loader,
    image_sources,
    input_ops,
    preprocess_data,
)

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


@pytest.mark.slow
def test_image_folder_takes_every_format_size_and_colour(make_config, tmp_path):
    root = make_folder(tmp_path / "imgs", per_class=8)
    write_image(root / "cat" / "big.jpg", 40, 30, 3, 60, "jpg")
    write_image(root / "cat" / "odd.bmp", 7, 5, 3, 70, "bmp")
    write_image(root / "dog" / "tiny.gif", 1, 1, 3, 80, "gif")
    (root / "dog" / "notes.txt").write_text("not an image")

    records_dir, metadata = preprocess(make_config, f"data.path={root}")

    assert metadata.class_names == ["cat", "dog"]
    assert sum(count["total"] for count in metadata.counts.values()) == 19
    assert metadata.raw_shape == [None, None, 3]  # sizes vary; some images are colour
    assert metadata.input_shape == [16, 16, 3]
    example_fn = input_ops.make_example_fn(metadata, records_dir)
    cfg = make_config("data=image_folder")
    spec = data_loader.InputSpec.from_config(cfg, records_dir, metadata, example_fn)
    dataset = data_loader.load_split(spec, "train", 4, training=False)
    assert next(iter(dataset))[0].shape[1:] == (16, 16, 3)


def test_grayscale_folders_give_one_channel_and_a_given_test_split(make_config, tmp_path):
    root = make_folder(tmp_path / "train", per_class=10)
    test_root = make_folder(tmp_path / "test", per_class=3)
    _, metadata = preprocess(make_config, f"data.path={root}", f"data.test_path={test_root}")
    assert metadata.input_shape == [16, 16, 1] and metadata.raw_shape == [20, 24, 1]
    assert metadata.counts["test"]["per_class"] == {"cat": 3, "dog": 3}
    assert metadata.counts["train"]["total"] + metadata.counts["validation"]["total"] == 20
    assert len(metadata.normalization.mean) == 1


def test_changed_input_files_change_the_records(make_config, tmp_path):
    root = make_folder(tmp_path / "imgs")
    first_dir, _ = preprocess(make_config, f"data.path={root}")
    write_image(root / "dog" / "new.png", 20, 24, 1, 99)
    second_dir, metadata = preprocess(make_config, f"data.path={root}")
    assert second_dir != first_dir
    assert sum(count["total"] for count in metadata.counts.values()) == 13


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


@pytest.mark.slow
def test_corrupt_images_are_named_together_or_skipped(make_config, tmp_path):
    root = make_folder(tmp_path / "imgs", per_class=8)
    (root / "cat" / "broken.png").write_bytes(b"\x89PNG not really")
    (root / "dog" / "empty.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match="2 image file") as error:
        preprocess(make_config, f"data.path={root}")
    assert "broken.png" in str(error.value) and "empty.jpg" in str(error.value)

    _, metadata = preprocess(make_config, f"data.path={root}", "data.skip_invalid=true")
    assert sum(count["total"] for count in metadata.counts.values()) == 16


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


@pytest.mark.slow
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
    assert metadata.counts["test"]["total"] == 20
    assert metadata.counts["train"]["total"] + metadata.counts["validation"]["total"] == 100
    assert metadata.input_shape == [32, 32, channels]
    assert len(metadata.class_names) == 10


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
    assert sum(count["total"] for count in metadata.counts.values()) == 8000
    assert metadata.class_names == [str(digit) for digit in range(10)]
    assert metadata.raw_shape == [28, 28, 1]


def photo_jpeg(height, width, seed=0, quality=90):
    """A noisy colour JPEG of the given size (noise: as large a file as a real photo)."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (height, width, 3)).astype(np.uint8)
    return tf.io.encode_jpeg(image, quality=quality).numpy()


def with_orientation(jpeg, orientation):
    """JPEG bytes with an Exif block holding one tag: the orientation (as phones write it)."""
    ifd = b"\x01\x00" + b"\x12\x01\x03\x00\x01\x00\x00\x00" + bytes([orientation, 0, 0, 0])
    payload = b"Exif\x00\x00" + b"II*\x00\x08\x00\x00\x00" + ifd + b"\x00" * 4
    return jpeg[:2] + b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload + jpeg[2:]


def stored_inputs(records_dir, metadata, split="train"):
    count = metadata.counts[split]["total"]
    return data_loader.read_raw_examples(records_dir, split, metadata, count)[0]


@pytest.mark.parametrize("dataset_map", [False, True], ids=["eager", "in-dataset-map"])
def test_decode_shrunk_keeps_the_aspect_ratio_and_small_images(dataset_map):
    def run(encoded, max_side):
        if not dataset_map:
            return input_ops.decode_shrunk(tf.constant(encoded), max_side)
        dataset = tf.data.Dataset.from_tensors(encoded)
        return next(iter(dataset.map(lambda raw: input_ops.decode_shrunk(raw, max_side))))

    rows, columns = np.mgrid[0:300, 0:400]
    picture = np.stack([rows * 255 // 300, columns * 255 // 400, (rows + columns) // 3], -1)
    large = tf.io.encode_jpeg(picture.astype(np.uint8), quality=95).numpy()
    image, shrunk = run(large, 32)  # decoded at 1/8 scale (38 x 50), then shrunk to 32 x 43
    assert image.shape == (32, 43, 3) and bool(shrunk)
    full = input_ops.shrink_image(tf.io.decode_jpeg(large), 32)
    # The same picture (the scaled decode's last row and column are partial: a shift of at
    # most 1/8 pixel here).
    assert np.abs(image.numpy().astype(int) - full.numpy()).mean() < 2
    small = input_ops.encode_png(np.full((20, 40, 1), 7, np.uint8))
    image, shrunk = run(small, 32)
    assert image.shape == (20, 40, 1) and not bool(shrunk)


@pytest.mark.slow
def test_large_photos_are_stored_shrunk_upright_and_small_ones_as_they_are(make_config, tmp_path):
    root = make_folder(tmp_path / "imgs", per_class=8)
    rotated = with_orientation(photo_jpeg(300, 400), 6)  # shows as 400 x 300 (portrait)
    for index in range(2):
        (root / "cat" / f"photo{index}.jpg").write_bytes(rotated)
    small_files = {path.read_bytes() for path in root.glob("*/*.png")}

    records_dir, metadata = preprocess(make_config, f"data.path={root}")
    assert metadata.max_stored_size == 32  # auto: twice data.image_size [16, 16]
    stored = [
        raw
        for split in preprocess_data.SPLITS
        for raw in stored_inputs(records_dir, metadata, split)
    ]
    shapes = sorted(tuple(input_ops.decode_upright(raw).shape) for raw in stored)
    assert shapes.count((43, 32, 3)) == 2  # upright, the shorter side 32, aspect kept
    assert sum(raw in small_files for raw in stored) == 16  # the small files, byte for byte

    _, kept = preprocess(make_config, f"data.path={root}", "data.max_stored_size=null")
    assert kept.fingerprint != metadata.fingerprint and kept.max_stored_size is None


@pytest.mark.parametrize(
    "value, expected", [("auto", 64), (48, 48), (None, None), (16, "at least")]
)
def test_max_stored_size_is_auto_a_size_or_null(make_config, value, expected):
    cfg = make_config(
        "data.image_size=[32,24]", f"data.max_stored_size={value if value else 'null'}"
    )
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
