"""Every image source, on files the tests write themselves (bad data: test_data_faults.py)."""

import base64
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf
from helpers import make_folder, peak_memory_of_preprocess, total

from {{ cookiecutter.package_name }} import model as model_lib
from {{ cookiecutter.package_name }}.data import (  # one per line at any name length
    data_loader,
    image_ops,
    preprocess_data,
)

# A 1x1 GIF: TensorFlow decodes GIF (one frame here) but cannot write it.
TINY_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")


@pytest.mark.slow
def test_image_folder_stores_every_format_at_the_image_size(make_config, tmp_path):
    root = make_folder(tmp_path / "imgs", per_class=8)
    (root / "dog" / "tiny.gif").write_bytes(TINY_GIF)
    photo = np.zeros((300, 400, 3), np.uint8)
    photo[150:] = 255  # landscape, bottom half white
    (root / "cat" / "photo.jpg").write_bytes(tf.io.encode_jpeg(photo).numpy())
    cfg = make_config("data=image_folder", "data.image_size=[16,16]", f"data.path={root}")
    records_dir, metadata = preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
    assert metadata.class_names == ["cat", "dog"] and total(metadata) == 18
    assert metadata.input_shape == [16, 16, 3]  # one image is colour
    stored = [
        image_ops.decode_image(raw, 3).numpy()
        for split in preprocess_data.SPLITS
        for raw in data_loader.read_raw_examples(records_dir, split, metadata, 18)[0]
    ]
    assert {image.shape for image in stored} == {(16, 16, 3)}
    (photo,) = [image for image in stored if image.max() - image.min() > 200]
    assert photo[:6].max() < 30 and photo[10:].min() > 225  # top black, bottom white


def test_grayscale_folders_give_one_channel_and_a_given_test_split(make_config, tmp_path):
    root = make_folder(tmp_path / "train", per_class=10)
    test_root = make_folder(tmp_path / "test", per_class=3, first=10)  # other images
    paths = [f"data.path={root}", f"data.test_path={test_root}"]
    cfg = make_config("data=image_folder", "data.image_size=[16,16]", *paths)
    _, metadata = preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
    assert metadata.input_shape == [16, 16, 1] and len(metadata.mean) == 1
    assert metadata.counts["test"]["per_class"] == {"cat": 3, "dog": 3}
    assert metadata.counts["train"]["total"] + metadata.counts["validation"]["total"] == 20
    cfg = make_config("data=image_folder", "data.image_size=[24,20]", "data.channels=3", *paths)
    _, metadata = preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
    assert model_lib.build_model(cfg.model, metadata).input_shape == (None, 24, 20, 3)


@pytest.mark.slow
def test_mnist_reads_its_cached_archive_or_says_where_it_goes(make_config, tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (120, 28, 28)).astype(np.uint8), np.arange(120) % 10
    (tmp_path / "keras" / "datasets").mkdir(parents=True)
    arrays = {"x_train": images[20:], "y_train": labels[20:], "x_test": images[:20]}
    np.savez(tmp_path / "keras" / "datasets" / "mnist.npz", **arrays, y_test=labels[:20])
    overrides = [f"data.download_dir={tmp_path / 'keras'}", "data.image_size=[28,28]"]
    cfg = make_config("data=mnist", *overrides)  # its own size: pixels stored as written
    records_dir, metadata = preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
    assert metadata.counts["test"]["total"] == 20 and total(metadata) == 120
    assert metadata.input_shape == [28, 28, 1] and len(metadata.class_names) == 10
    split = zip(*data_loader.read_raw_examples(records_dir, "test", metadata, 20), strict=True)
    stored = [(label, image_ops.decode_image(raw).numpy().tobytes()) for raw, label in split]
    written = zip(labels[:20].tolist(), [image.tobytes() for image in images[:20]], strict=True)
    assert sorted(stored) == sorted(written)  # the pixels laid out right, with their labels
    offline = mock.Mock(side_effect=OSError("URL fetch failure"))  # no archive, no network
    monkeypatch.setattr("keras.utils.get_file", offline)
    cfg = make_config("data=mnist", f"data.download_dir={tmp_path / 'empty'}")
    with pytest.raises(RuntimeError, match="copy the file to .*empty/datasets/mnist.npz"):
        preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)


@pytest.mark.full  # writes 600 JPEGs, then preprocesses twice in a new process: about 30 s
def test_preprocess_memory_does_not_grow_with_the_number_of_images(run_module, tmp_path):
    peaks = []
    for count in (200, 400):
        for index in range(count):
            path = tmp_path / str(count) / ("a", "b")[index % 2] / f"{index}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            noise = np.random.default_rng(index).integers(0, 256, (256, 256, 3), np.uint8)
            path.write_bytes(tf.io.encode_jpeg(noise, quality=90).numpy())  # 60 KB, like a photo
        peaks.append(peak_memory_of_preprocess(run_module.env, "image_folder", path.parents[1]))
    # 200 more JPEGs (12 MB): streaming grows by about 3 MB, code that held the files by 64.
    assert peaks[1] - peaks[0] < 25e6, [f"{peak / 1e6:.0f} MB" for peak in peaks]
