"""export.py and serving_{{ "image" if cookiecutter.model_type == "cnn" else "text" }}.py: the SavedModel as its real consumers load it
(``saved_model_cli``, which loads it into a TF1 session as TensorFlow Serving does), and the
checks that keep a broken export out.

    python -m pytest tests/test_export.py

The shared run (conftest.SHARED_RUN) and its export/1 serve every test; a test that exports
again works on a copy of the run.
"""

import json
import shutil
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import keras_outputs_on_the_test_split, run_bounded
{% if cookiecutter.model_type == "cnn" %}
from {{ cookiecutter.package_name }} import checkpoints, runs
from {{ cookiecutter.package_name }} import export as export_lib
from {{ cookiecutter.package_name }} import model as model_lib
{%- else %}
from {{ cookiecutter.package_name }} import export as export_lib
from {{ cookiecutter.package_name }} import runs
{%- endif %}
from {{ cookiecutter.package_name }}.data import input_ops


@pytest.fixture(scope="module")
def served(shared_run):
    """(config, export/1, raw test inputs, labels, the Keras model's probabilities) of the
    shared run."""
    path = Path(shared_run.run_dir) / "export" / "1"
    return shared_run, path, *keras_outputs_on_the_test_split(shared_run)


@pytest.fixture
def run_copy(shared_run, tmp_path) -> Path:
    """A copy of the shared run (with its export/1), for one test to export again."""
    shutil.copytree(shared_run.run_dir, tmp_path / "run")
    return tmp_path / "run"


def saved_model_cli(*arguments: str) -> str:
    """Runs the installed TensorFlow's saved_model_cli; returns what it printed."""
    command = [str(Path(sys.executable).parent / "saved_model_cli"), *arguments]
    result = run_bounded(command, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_saved_model_cli_runs_every_signature_of_the_export_folder_alone(served, tmp_path):
    cfg, path, raw_inputs, labels, expected = served
    client = tmp_path / "client" / "1"
    shutil.copytree(path, client)
    metadata = runs.load_metadata(client)  # assets/metadata.json
    class_names = (client / "assets" / "class_names.txt").read_text().splitlines()
    assert class_names == metadata.class_names
    summary = json.loads((client / "export.json").read_text())
    assert summary["accuracy"] == pytest.approx(np.mean(expected.argmax(-1) == labels))
    requests = export_lib.serving.signature_requests(raw_inputs[:4], metadata)
    run_dir = Path(cfg.run_dir)
    hidden = run_dir.rename(run_dir.with_name(run_dir.name + "-hidden"))  # nothing else to read
    try:
        shown = saved_model_cli("show", "--dir", str(client), "--all")
        for name, inputs in requests:
            ((key, values),) = inputs.items()
            np.save(tmp_path / f"{key}.npy", values, allow_pickle=True)
            saved_model_cli(
                *("run", "--dir", str(client), "--tag_set", "serve", "--signature_def", name),
                *("--inputs", f"{key}={tmp_path / key}.npy", "--outdir", str(tmp_path / name)),
            )
            outputs = {
                key: np.load(tmp_path / name / f"{key}.npy", allow_pickle=True)
                for key in ("probabilities", "class_id", "class_name")
            }
            np.testing.assert_allclose(outputs["probabilities"], expected[:4], atol=1e-5)
            np.testing.assert_array_equal(outputs["class_id"], expected[:4].argmax(-1))
            names = [class_names[i] for i in outputs["class_id"]]
            assert [value.decode() for value in outputs["class_name"]] == names
    finally:
        hidden.rename(run_dir)
    listed = [line.split("'")[1] for line in shown.splitlines() if "signature_def[" in line]
    assert sorted(listed) == sorted(["__saved_model_init_op", *dict(requests)])


def test_the_check_refuses_outputs_that_differ_from_the_keras_model(served):
    _, path, raw_inputs, _, expected = served
    metadata = runs.load_metadata(path)
    assert export_lib.check_export(path, raw_inputs[:8], expected[:8], metadata, 1e-5) <= 1e-5
    other_model = np.roll(expected[:8], 1, axis=0)  # another model's answers
    with pytest.raises(ValueError, match="serving_default differs from the Keras model"):
        export_lib.check_export(path, raw_inputs[:8], other_model, metadata, 1e-5)


def test_an_export_broken_after_saving_is_detected_and_removed(run_copy, monkeypatch):
    build_archive = export_lib.build_archive

    def archive_that_loses_its_variables(*args):
        archive = build_archive(*args)
        write_out = archive.write_out

        def write_then_lose_the_variables(path, **options):
            write_out(path, **options)
            shutil.rmtree(Path(path, "variables"))

        archive.write_out = write_then_lose_the_variables
        return archive

    monkeypatch.setattr(export_lib, "build_archive", archive_that_loses_its_variables)
    with pytest.raises(ValueError, match="could not be reloaded"):
        export_lib.export(run_copy)
    assert [path.name for path in (run_copy / "export").iterdir()] == ["1"]


def test_the_next_export_is_version_2_and_keeps_a_keras_file(run_copy, served):
    *_, raw_inputs, _, expected = served
    path = export_lib.export(run_copy, keras=True, accuracy_examples=16)
    assert path == run_copy / "export" / "2"
    example_fn = input_ops.make_example_fn(runs.load_metadata(path), path / "assets")
    model_inputs = tf.stack([example_fn(tf.constant(raw)) for raw in raw_inputs[:8]])
    reloaded = keras.saving.load_model(path / "model.keras")
    probabilities = export_lib.keras_probabilities(reloaded, model_inputs)
    np.testing.assert_allclose(probabilities, expected[:8], atol=1e-5)
{%- if cookiecutter.model_type == "cnn" %}


def restored_model(run_dir: Path) -> keras.Model:
    """The run's Keras model with its latest weights."""
    model = model_lib.build_model(runs.load_config(run_dir).model, runs.load_metadata(run_dir))
    checkpoints.restore_model(model, run_dir)
    return model


def test_serve_bytes_takes_images_of_another_size(served):
    cfg, path, raw_inputs, _, _ = served
    metadata = runs.load_metadata(path)
    (images,) = export_lib.serving.serving_batches(raw_inputs[:8], metadata)
    larger = tf.cast(tf.image.resize(images, [30, 36], method="nearest"), tf.uint8)
    encoded = [input_ops.encode_png(image) for image in larger]
    serve_bytes = tf.saved_model.load(str(path)).signatures["serve_bytes"]
    outputs = serve_bytes(image_bytes=tf.constant(encoded))
    # What training's input_ops make of the larger images (resized to the model's size).
    model_inputs = input_ops.make_prepare_fn(metadata)(larger)
    expected = export_lib.keras_probabilities(restored_model(cfg.run_dir), model_inputs)
    np.testing.assert_allclose(outputs["probabilities"], expected, atol=1e-5)
{%- else %}


def test_serving_default_takes_unseen_words_and_empty_texts(served):
    _, path, *_ = served
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    outputs = serve(texts=tf.constant(["never seen words", "", "!!!"]))
    probabilities = outputs["probabilities"].numpy()
    assert probabilities.shape == (3, len(runs.load_metadata(path).class_names))
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-5)
{%- endif %}
