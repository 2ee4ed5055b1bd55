"""export.py and serving_{{ "image" if cookiecutter.model_type == "cnn" else "text" }}.py on the shared run's export/1 (new exports: on a copy): the
folder alone, served as TensorFlow Serving loads it, and the checks that keep a broken one out."""

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from helpers import keras_outputs, run_bounded

from {{ cookiecutter.package_name }} import export as export_lib
from {{ cookiecutter.package_name }} import runs
{%- if cookiecutter.model_type == "cnn" %}
from {{ cookiecutter.package_name }}.data import image_sources
{%- endif %}


@pytest.fixture(scope="module")
def served(shared_run):
    """The shared run's config, export/1, raw test inputs, labels, Keras model's probabilities."""
    return shared_run, Path(shared_run.run_dir, "export", "1"), *keras_outputs(shared_run)


def test_the_export_folder_alone_serves_every_signature(served, tmp_path):
    """Reloaded as TensorFlow Serving loads it (check_export) with the run folder out of reach;
    saved_model_cli show --all lists its signatures{{ "; serve_bytes takes another size" if cookiecutter.model_type == "cnn" }}."""
    cfg, path, raw_inputs, labels, expected = served
    client = shutil.copytree(path, tmp_path / "client" / "1")
    summary = json.loads((client / "export.json").read_text())
    assert summary["accuracy"] == pytest.approx(np.mean(expected.argmax(-1) == labels))
    metadata = runs.load_metadata(client)  # assets/metadata.json
    run_dir = Path(cfg.run_dir)
    hidden = run_dir.rename(run_dir.with_name(run_dir.name + "-hidden"))  # nothing else to read
    try:
        _, outputs = export_lib.check_export(client, raw_inputs[:4], expected[:4], metadata, 1e-5)
    finally:
        hidden.rename(run_dir)
    for output in outputs.values():
        np.testing.assert_allclose(output["probabilities"], expected[:4], atol=1e-5)
        np.testing.assert_array_equal(output["class_id"], expected[:4].argmax(-1))
        names = [metadata.class_names[i].encode() for i in expected[:4].argmax(-1)]
        assert list(output["class_name"]) == names
    saved_model_cli = [str(Path(sys.executable).parent / "saved_model_cli"), "show", "--all"]
    shown = run_bounded([*saved_model_cli, "--dir", str(client)], timeout=120)
    assert shown.returncode == 0, shown.stderr[-3000:]
    listed = [line.split("'")[1] for line in shown.stdout.splitlines() if "signature_def[" in line]
    assert sorted(listed) == sorted(["__saved_model_init_op", *outputs])
{%- if cookiecutter.model_type == "cnn" %}
    # serve_bytes takes images of another size: it gives what serving_default (checked above)
    # gives on what preprocess stores of the same files.
    inputs_of = export_lib.serving.signature_inputs
    images = inputs_of(raw_inputs[:8], metadata)["serving_default"]["images"]
    larger = tf.cast(tf.image.resize(images, [30, 36], method="nearest"), tf.uint8)
    encoded = [tf.io.encode_png(image).numpy() for image in larger]
    signatures = tf.saved_model.load(str(client)).signatures
    from_bytes = signatures["serve_bytes"](image_bytes=tf.constant(encoded))
    stored = [raw for _, raw, _ in image_sources.encode_examples(encoded, False, cfg.data)]
    default = signatures["serving_default"](**inputs_of(stored, metadata)["serving_default"])
    np.testing.assert_allclose(from_bytes["probabilities"], default["probabilities"], atol=1e-5)
{%- endif %}


def test_the_check_bounds_the_difference_from_the_keras_model(served, tmp_path):
    _, path, raw_inputs, _, expected = served
    metadata = runs.load_metadata(path)
    off = expected[:8] + 1e-4  # the classes the same
    difference, _ = export_lib.check_export(path, raw_inputs[:8], off, metadata, 1e-3)
    assert difference == pytest.approx(1e-4, abs=2e-5)
    other_model = np.roll(expected[:8], 1, axis=0)  # another model's answers
    for wrong, tolerance in [(off, 1e-5), (other_model, 1.0)]:
        with pytest.raises(ValueError, match="serving_default differs from the Keras model"):
            export_lib.check_export(path, raw_inputs[:8], wrong, metadata, tolerance)
    broken = shutil.copytree(path, tmp_path / "broken")  # its weights lost
    shutil.rmtree(broken / "variables")
    with pytest.raises(ValueError, match="could not be reloaded"):
        export_lib.check_export(broken, raw_inputs[:8], expected[:8], metadata, 1e-5)

{%- if cookiecutter.model_type == "rnn" %}


def test_serving_default_takes_unseen_words_and_empty_texts(served):
    _, path, *_ = served
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    probabilities = serve(texts=tf.constant(["never seen words", "", "!!!"]))["probabilities"]
    assert probabilities.shape == (3, len(runs.load_metadata(path).class_names))
    np.testing.assert_allclose(probabilities.numpy().sum(-1), 1.0, atol=1e-5)
{%- endif %}


def test_each_export_is_the_next_version_and_a_failed_check_keeps_nothing(
    shared_run_copy, monkeypatch
):
    run_dir = Path(shared_run_copy.run_dir)
    (run_dir / "export" / "9").mkdir()  # the highest + 1, not the count + 1
    stale = run_dir / "export" / ".staging-10"  # a killed export's: cleared, not mixed in
    stale.mkdir()
    (stale / "stray.tflite").write_bytes(b"")
    assert export_lib.export(run_dir) == run_dir / "export" / "10"
    assert not (run_dir / "export" / "10" / "stray.tflite").exists()
    monkeypatch.setattr(export_lib, "TOLERANCE", -1.0)  # no difference is below it
    with pytest.raises(ValueError, match="The reloaded export.* differs from the Keras model"):
        export_lib.export(run_dir)
    assert sorted(path.name for path in (run_dir / "export").iterdir()) == ["1", "10", "9"]
