import json
import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from {{ cookiecutter.package_name }} import export as export_lib
from {{ cookiecutter.package_name }} import model as model_lib
from {{ cookiecutter.package_name }} import runs
from {{ cookiecutter.package_name }}.data import data_loader, input_ops, preprocess_data
from {{ cookiecutter.package_name }}.eval import evaluate
from {{ cookiecutter.package_name }}.train import train


@pytest.fixture
def trained_run(make_config):
    cfg = make_config()
    train(cfg)
    return cfg


def test_evaluate_writes_metrics(trained_run):
    metrics = evaluate(trained_run.run_dir)
    on_disk = json.loads(Path(trained_run.run_dir, "metrics.json").read_text())
    assert on_disk["accuracy"] == metrics["accuracy"] and 0.0 <= metrics["accuracy"] <= 1.0
    assert np.isfinite(metrics["loss"])
    metadata = runs.load_metadata(trained_run.run_dir)
    assert list(metrics["per_class"]) == metadata["class_names"]
    supports = [counts["support"] for counts in metrics["per_class"].values()]
    assert supports == list(metadata["counts"]["test"]["per_class"].values())
    correct = sum(counts["correct"] for counts in metrics["per_class"].values())
    assert np.isclose(metrics["accuracy"], correct / metrics["num_examples"])


def test_evaluate_without_a_run_explains(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a run directory"):
        evaluate(tmp_path / "nowhere")


def test_export_serves_raw_inputs_like_the_keras_model(trained_run):
    run_dir = trained_run.run_dir
    path = export_lib.export(run_dir)
    assert path == Path(run_dir) / "export" / "1"
    assert export_lib.export(run_dir).name == "2"

    metadata = runs.load_metadata(run_dir)
    raw_inputs, _ = data_loader.read_raw_examples(
        preprocess_data.records_path(trained_run.data, trained_run.seed), "test", metadata, 6
    )
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    (batch,) = export_lib.serving_batches(raw_inputs, metadata)
    outputs = serve(batch)
    probabilities = outputs["probabilities"].numpy()
    assert probabilities.shape == (6, metadata["num_classes"])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    names = [name.decode() for name in outputs["class_name"].numpy()]
    assert names == [metadata["class_names"][i] for i in outputs["class_id"].numpy()]
{%- if cookiecutter.model_type == "cnn" %}

    loaded = tf.saved_model.load(str(path))
    from_bytes = loaded.signatures["serve_bytes"](image_bytes=tf.constant(raw_inputs))
    np.testing.assert_allclose(from_bytes["probabilities"], probabilities, atol=1e-5)
{%- else %}

    unseen = serve(tf.constant(["never seen words", ""]))
    assert unseen["probabilities"].shape == (2, metadata["num_classes"])
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


def test_keras_and_tflite_files_are_written_and_checked(trained_run):
    path = export_lib.export(trained_run.run_dir, keras=True, tflite=True)
    assert (path / "model.keras").stat().st_size > 0
    assert (path / "model.tflite").stat().st_size > 0
    assert (path / "assets" / "class_names.txt").read_text().split("\n")[:-1] == (
        runs.load_metadata(trained_run.run_dir)["class_names"]
    )


def test_an_export_broken_after_saving_is_detected_and_removed(trained_run, monkeypatch):
    save = tf.saved_model.save

    def save_then_lose_the_assets(module, path, signatures):
        save(module, path, signatures=signatures)
        for asset in Path(path, "assets").iterdir():
            asset.unlink()

    monkeypatch.setattr(export_lib.tf.saved_model, "save", save_then_lose_the_assets)
    with pytest.raises(ValueError, match="could not be reloaded"):
        export_lib.export(trained_run.run_dir)
    assert os.listdir(os.path.join(trained_run.run_dir, "export")) == []
{%- if cookiecutter.model_type == "cnn" %}


def test_serve_bytes_takes_images_of_another_size(make_config):
    cfg = make_config("train.epochs=4", "train.max_steps_per_epoch=10")
    train(cfg)
    path = export_lib.export(cfg.run_dir)
    metadata = runs.load_metadata(cfg.run_dir)
    records_dir = preprocess_data.records_path(cfg.data, cfg.seed)
    raw_inputs, _ = data_loader.read_raw_examples(records_dir, "test", metadata, 24)
    (images,) = export_lib.serving_batches(raw_inputs, metadata)
    larger = tf.cast(tf.image.resize(images, [30, 36], method="nearest"), tf.uint8)
    encoded = [input_ops.encode_png(image) for image in larger]

    loaded = tf.saved_model.load(str(path))
    from_files = loaded.signatures["serve_bytes"](image_bytes=tf.constant(encoded))
    resized = tf.cast(tf.round(tf.image.resize(larger, images.shape[1:3])), tf.uint8)
    from_arrays = loaded.signatures["serving_default"](images=resized)
    np.testing.assert_array_equal(from_files["class_id"], from_arrays["class_id"])
{%- endif %}
