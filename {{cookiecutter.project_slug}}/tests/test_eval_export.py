import json
import os
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from omegaconf import OmegaConf

from {{ cookiecutter.package_name }} import checkpoints, runs
from {{ cookiecutter.package_name }} import export as export_lib
from {{ cookiecutter.package_name }} import model as model_lib
from {{ cookiecutter.package_name }}.data import (
    data_loader,
    input_ops,
    preprocess_data,
)
from {{ cookiecutter.package_name }}.eval import evaluate


@pytest.fixture
def trained_run(shared_run, tmp_path):
    """A copy of the shared run without its export, for one test to change."""
    shutil.copytree(shared_run.run_dir, tmp_path / "run", ignore=shutil.ignore_patterns("export"))
    return OmegaConf.merge(shared_run, {"run_dir": str(tmp_path / "run")})


def restored_model(run_dir):
    """The run's Keras model with its latest weights: what every export must match."""
    model = model_lib.build_model(runs.load_config(run_dir).model, runs.load_metadata(run_dir))
    checkpoints.restore_model(model, run_dir)
    return model


def split_examples(cfg, count, split="test"):
    """Raw inputs, the model inputs that training's input_ops make of them, and labels."""
    metadata = runs.load_metadata(cfg.run_dir)
    records_dir = preprocess_data.records_path(cfg.data, cfg.seed)
    raw_inputs, labels = data_loader.read_raw_examples(records_dir, split, metadata, count)
    example_fn = input_ops.make_example_fn(metadata, runs.assets_dir(cfg.run_dir))
    model_inputs = tf.stack([example_fn(tf.constant(raw)) for raw in raw_inputs])
    return raw_inputs, model_inputs, np.array(labels)


def keras_probabilities(model, model_inputs):
    return tf.nn.softmax(model(model_inputs, training=False), axis=-1).numpy()


def test_evaluate_writes_metrics(trained_run):
    metrics = evaluate(trained_run.run_dir)
    on_disk = json.loads(Path(trained_run.run_dir, "metrics.json").read_text())
    assert on_disk["accuracy"] == metrics["accuracy"]
    metadata = runs.load_metadata(trained_run.run_dir)
    assert list(metrics["per_class"]) == metadata.class_names
    supports = [counts["support"] for counts in metrics["per_class"].values()]
    assert supports == list(metadata.counts["test"]["per_class"].values())

    # The restored Keras model on every test example, counted here.
    count = metadata.counts["test"]["total"]
    _, model_inputs, labels = split_examples(trained_run, count)
    probabilities = keras_probabilities(restored_model(trained_run.run_dir), model_inputs)
    correct = probabilities.argmax(axis=-1) == labels
    assert metrics["num_examples"] == count
    assert np.isclose(metrics["accuracy"], correct.mean())
    assert [counts["correct"] for counts in metrics["per_class"].values()] == [
        int(correct[labels == label].sum()) for label in range(metadata.num_classes)
    ]
    losses = keras.losses.sparse_categorical_crossentropy(labels, probabilities)
    assert np.isclose(metrics["loss"], float(np.mean(losses)), rtol=1e-4)


def test_evaluate_without_a_run_explains(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a run directory"):
        evaluate(tmp_path / "nowhere")


def test_export_serves_raw_inputs_like_the_keras_model(trained_run):
    run_dir = trained_run.run_dir
    path = export_lib.export(run_dir)
    assert path == Path(run_dir) / "export" / "1"
    assert export_lib.export(run_dir).name == "2"

    metadata = runs.load_metadata(run_dir)
    raw_inputs, model_inputs, _ = split_examples(trained_run, 6)
    expected = keras_probabilities(restored_model(run_dir), model_inputs)
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    (batch,) = export_lib.serving.serving_batches(raw_inputs, metadata)
    outputs = serve(batch)
    probabilities = outputs["probabilities"].numpy()
    assert probabilities.shape == (6, metadata.num_classes)
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    names = [name.decode() for name in outputs["class_name"].numpy()]
    assert names == [metadata.class_names[i] for i in expected.argmax(axis=-1)]
{%- if cookiecutter.model_type == "cnn" %}

    loaded = tf.saved_model.load(str(path))
    from_bytes = loaded.signatures["serve_bytes"](image_bytes=tf.constant(raw_inputs))
    np.testing.assert_allclose(from_bytes["probabilities"], expected, atol=1e-5)
{%- else %}

    unseen = serve(tf.constant(["never seen words", ""]))
    assert unseen["probabilities"].shape == (2, metadata.num_classes)
{%- endif %}


def test_export_check_catches_a_model_that_differs(trained_run):
    run_dir = trained_run.run_dir
    path = export_lib.export(run_dir)
    metadata = runs.load_metadata(run_dir)
    untrained = model_lib.build_model(trained_run.model, metadata)
    raw_inputs, _ = data_loader.read_raw_examples(
        preprocess_data.records_path(trained_run.data, trained_run.seed), "test", metadata, 8
    )
    example_fn = input_ops.make_example_fn(metadata, runs.assets_dir(run_dir))
    model_inputs = tf.stack([example_fn(tf.constant(raw)) for raw in raw_inputs])
    expected = export_lib.keras_probabilities(untrained, model_inputs)
    with pytest.raises(ValueError, match="differs from the Keras model"):
        export_lib.check_export(path, raw_inputs, expected, metadata, 1e-5)


def test_a_failed_export_leaves_nothing(trained_run, monkeypatch):
    def broken_check(*args, **kwargs):
        raise ValueError("differs")

    monkeypatch.setattr(export_lib, "check_export", broken_check)
    with pytest.raises(ValueError):
        export_lib.export(trained_run.run_dir)
    assert os.listdir(os.path.join(trained_run.run_dir, "export")) == []


def test_evaluating_on_data_with_other_classes_is_refused(trained_run):
    metadata_file = runs.assets_dir(trained_run.run_dir) / "metadata.json"
    metadata = json.loads(metadata_file.read_text())
    metadata["class_names"] = list(reversed(metadata["class_names"]))
    metadata_file.write_text(json.dumps(metadata))
    with pytest.raises(ValueError, match="Evaluate it on data with the same classes"):
        evaluate(trained_run.run_dir)


def test_a_keras_file_is_written_and_gives_the_keras_model_outputs(trained_run):
    path = export_lib.export(trained_run.run_dir, keras=True)
    assert (path / "assets" / "class_names.txt").read_text().split("\n")[:-1] == (
        runs.load_metadata(trained_run.run_dir).class_names
    )
    _, model_inputs, _ = split_examples(trained_run, 8)
    expected = keras_probabilities(restored_model(trained_run.run_dir), model_inputs)
    reloaded = keras.saving.load_model(path / "model.keras")
    np.testing.assert_allclose(keras_probabilities(reloaded, model_inputs), expected, atol=1e-5)


def test_an_export_broken_after_saving_is_detected_and_removed(trained_run, monkeypatch):
    build_archive = export_lib.build_archive

    def archive_that_loses_its_assets(*args):
        archive = build_archive(*args)
        write_out = archive.write_out

        def write_then_lose_the_assets(path, **options):
            write_out(path, **options)
            for asset in Path(path, "assets").iterdir():
                asset.unlink()

        archive.write_out = write_then_lose_the_assets
        return archive

    monkeypatch.setattr(export_lib, "build_archive", archive_that_loses_its_assets)
    with pytest.raises(ValueError, match="could not be reloaded"):
        export_lib.export(trained_run.run_dir)
    assert os.listdir(os.path.join(trained_run.run_dir, "export")) == []
{%- if cookiecutter.model_type == "cnn" %}


def test_serve_bytes_takes_images_of_another_size(trained_run):
    path = export_lib.export(trained_run.run_dir)
    metadata = runs.load_metadata(trained_run.run_dir)
    raw_inputs, _, _ = split_examples(trained_run, 8)
    (images,) = export_lib.serving.serving_batches(raw_inputs, metadata)
    larger = tf.cast(tf.image.resize(images, [30, 36], method="nearest"), tf.uint8)
    encoded = [input_ops.encode_png(image) for image in larger]

    loaded = tf.saved_model.load(str(path))
    from_files = loaded.signatures["serve_bytes"](image_bytes=tf.constant(encoded))
    # What training's input_ops make of the larger images (resized to the model's size).
    normalization = metadata.normalization
    model_inputs = input_ops.prepare_images(
        larger, metadata.input_shape[:2], normalization.mean, normalization.std
    )
    expected = keras_probabilities(restored_model(trained_run.run_dir), model_inputs)
    np.testing.assert_allclose(from_files["probabilities"], expected, atol=1e-5)
{%- endif %}
