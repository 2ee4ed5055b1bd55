"""data=tfds: a TensorFlow Datasets dataset that this test prepares itself (no download)."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from {{ cookiecutter.package_name }}.train import train

CLASSES = ["circle", "square", "star"]


def prepare_tiny_dataset(data_dir, per_split: dict[str, int]) -> None:
    """tiny_shapes:1.0.0 in data_dir, as `tfds build` leaves a dataset: a split per key."""
    rng = np.random.default_rng(0)

    def split(count: int) -> tf.data.Dataset:
        labels = np.arange(count) % len(CLASSES)
{%- if cookiecutter.model_type == "cnn" %}
        inputs = rng.integers(0, 60, size=(count, 12, 12, 1), dtype=np.uint8)
        inputs[np.arange(count), labels * 4] = 255  # a bright row per class
{%- else %}
        inputs = [f"a {CLASSES[label]} among {rng.integers(100)} shapes" for label in labels]
{%- endif %}
        return tf.data.Dataset.from_tensor_slices({"input": inputs, "label": labels})

    features = tfds.features.FeaturesDict(
        {
{%- if cookiecutter.model_type == "cnn" %}
            "input": tfds.features.Image(shape=(12, 12, 1)),
{%- else %}
            "input": tfds.features.Text(),
{%- endif %}
            "label": tfds.features.ClassLabel(names=CLASSES),
        }
    )
    splits = {name: split(count) for name, count in per_split.items()}
    builder = tfds.dataset_builders.TfDataBuilder(
        name="tiny_shapes",
        version="1.0.0",
        data_dir=data_dir,
        split_datasets=splits,
        features=features,
    )
    builder.download_and_prepare()


def test_data_tfds_trains_on_a_prepared_dataset_and_uses_its_test_split(make_config, tmp_path):
    prepare_tiny_dataset(tmp_path, {"train": 90, "test": 30})
    source = ["data=tfds", "data.tfds_name=tiny_shapes:1.0.0", f"data.tfds_data_dir={tmp_path}"]
    result = train(make_config(*source, "train.epochs=2"))
    assert result["epochs"] == 2 and result["val_accuracy"] is not None
    metadata = (tmp_path / "run" / "assets" / "metadata.json").read_text()
    assert '"test": {\n      "total": 30' in metadata and all(name in metadata for name in CLASSES)


def test_data_tfds_names_what_to_do_when_the_dataset_is_not_there(make_config, tmp_path):
    missing = ["data=tfds", "data.tfds_name=tiny_shapes", f"data.tfds_data_dir={tmp_path}"]
    with pytest.raises(ValueError, match="data.tfds_name=tiny_shapes: .* Prepare it where"):
        train(make_config(*missing))
