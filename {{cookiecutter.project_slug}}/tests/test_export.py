"""export.py and serving_{{ "image" if cookiecutter.model_type == "cnn" else "text" }}.py on the shared run's export/1 (a test that exports again
works on a copy): the SavedModel as saved_model_cli (TensorFlow Serving's TF1 session loader)
runs it, and the checks that keep a broken export out."""

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from helpers import {{ "final_weights, " if cookiecutter.model_type == "cnn" }}keras_outputs_on_the_test_split, run_bounded

from {{ cookiecutter.package_name }} import export as export_lib
{%- if cookiecutter.model_type == "cnn" %}
from {{ cookiecutter.package_name }} import model as model_lib
from {{ cookiecutter.package_name }} import runs
from {{ cookiecutter.package_name }}.data import image_sources, input_ops
{%- else %}
from {{ cookiecutter.package_name }} import runs
{%- endif %}


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

{%- if cookiecutter.model_type == "cnn" %}


def test_serve_bytes_takes_images_of_another_size(served):
    cfg, path, raw_inputs, _, _ = served
    metadata = runs.load_metadata(path)
    (images,) = export_lib.serving.serving_batches(raw_inputs[:8], metadata)
    larger = tf.cast(tf.image.resize(images, [30, 36], method="nearest"), tf.uint8)
    encoded = [input_ops.encode_png(image) for image in larger]
    serve_bytes = tf.saved_model.load(str(path)).signatures["serve_bytes"]
    outputs = serve_bytes(image_bytes=tf.constant(encoded))
    # What preprocess stores of the larger files, read as training reads it.
    example_fn = input_ops.make_example_fn(metadata, path / "assets")
    stored = image_sources.encode_examples(encoded, False, cfg.data)
    model_inputs = tf.stack([example_fn(raw) for raw, _ in stored])
    model = model_lib.build_model(cfg.model, metadata)
    model.set_weights(final_weights(cfg.run_dir))
    expected = export_lib.keras_probabilities(model, model_inputs)
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


def test_export_options_pin_the_version_check_examples_and_bound_the_difference(
    run_copy, monkeypatch
):
    """export.version pins the folder and never overwrites it; check_examples raw inputs are
    checked; tolerance is the largest difference allowed from the Keras model."""
    few = {"accuracy_examples": 16}  # scoring the whole test split is not what this checks
    checked, check_export = [], export_lib.check_export

    def counting_check(export_path, raw_inputs, *args):
        checked.append(len(raw_inputs))
        return check_export(export_path, raw_inputs, *args)

    monkeypatch.setattr(export_lib, "check_export", counting_check)
    path = export_lib.export(run_copy, version=7, check_examples=3, **few)
    assert path == run_copy / "export" / "7" and checked == [3]
    with pytest.raises(FileExistsError, match="choose another export.version"):
        export_lib.export(run_copy, version=7, **few)
    keras_probabilities = export_lib.keras_probabilities  # off by 1e-4, the classes the same
    monkeypatch.setattr(
        export_lib, "keras_probabilities", lambda *args: keras_probabilities(*args) + 1e-4
    )
    with pytest.raises(ValueError, match="The reloaded export.* differs from the Keras model"):
        export_lib.export(run_copy, tolerance=1e-5, **few)
    assert sorted(path.name for path in (run_copy / "export").iterdir()) == ["1", "7"]
    assert export_lib.export(run_copy, tolerance=1e-3, **few) == run_copy / "export" / "8"
