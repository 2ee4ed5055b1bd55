"""The export's model.tflite as an app runs it: LiteRT's own interpreter with each
quantization, given what a client makes of raw inputs with the documented helpers.

    python -m pytest tests/test_tflite.py

The shared run (conftest.SHARED_RUN), exported again with each quantization, serves every
test here.
"""

import json
import shutil
from pathlib import Path

{% if cookiecutter.model_type == "rnn" -%}
import keras
{% endif -%}
import numpy as np
import pytest
{%- if cookiecutter.model_type == "rnn" %}
import tensorflow as tf
from helpers import as_texts, keras_outputs, small_transformer, vectorizer
{%- else %}
from helpers import keras_outputs
{%- endif %}

from {{ cookiecutter.package_name }} import export as export_lib
from {{ cookiecutter.package_name }} import {{ "runs, tflite" if cookiecutter.model_type == "rnn" else "tflite" }}
{%- if cookiecutter.model_type == "cnn" %}
from {{ cookiecutter.package_name }}.predict_image import tflite_pixels
{%- else %}
from {{ cookiecutter.package_name }}.data import text_ops
from {{ cookiecutter.package_name }}.predict_text import token_ids
{%- endif %}


@pytest.fixture(scope="module")
def served(shared_run, tmp_path_factory):
    """(a copy of the shared run, its raw test inputs, labels, the Keras model's
    probabilities), for the tests to export again."""
    run_dir = tmp_path_factory.mktemp("tflite") / "run"
    shutil.copytree(shared_run.run_dir, run_dir)
    return run_dir, *keras_outputs(shared_run)


def client_tflite_inputs(export_dir: Path, raw_inputs) -> np.ndarray:
    """What a client with only the export folder gives the .tflite, by the documented
    function and export.json."""
    summary = json.loads((export_dir / "export.json").read_text())
{%- if cookiecutter.model_type == "cnn" %}
    shape = summary["tflite"]["input"]["shape"][1:]
    return np.stack([tflite_pixels(raw, shape) for raw in raw_inputs])
{%- else %}
    vocabulary = (export_dir / "assets" / "vocab.txt").read_text(encoding="utf-8").splitlines()
    sequence_length = summary["tflite"]["input"]["shape"][1]
    texts = [raw.decode("utf-8") for raw in raw_inputs]
    return np.array(token_ids(texts, vocabulary, sequence_length), np.int32)
{%- endif %}


def litert_probabilities(tflite_file: Path, inputs: np.ndarray) -> np.ndarray:
    """The .tflite run by LiteRT's own interpreter (ai-edge-litert), as an app runs it."""
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    resolver = litert.OpResolverType.AUTO
    summary = json.loads((tflite_file.parent / "export.json").read_text())
    if not summary["tflite"]["xnnpack"]:  # as export.json tells
        resolver = litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interpreter = litert.Interpreter(
        model_path=str(tflite_file), experimental_op_resolver_type=resolver
    )
    (input_detail,) = interpreter.get_input_details()
    (output_detail,) = interpreter.get_output_details()
    interpreter.resize_tensor_input(input_detail["index"], inputs.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(input_detail["index"], inputs.astype(input_detail["dtype"]))
    interpreter.invoke()
    return interpreter.get_tensor(output_detail["index"])


@pytest.mark.parametrize("quantization", ["none", "dynamic", "float16", "int8"])
def test_each_quantization_scores_the_test_split_in_litert_from_the_export_folder_alone(
    served, quantization, tmp_path
):
    run_dir, raw_inputs, labels, expected = served
    path = export_lib.export(run_dir, tflite=True, tflite_quantization=quantization)
    client = shutil.copytree(path, tmp_path / "client")
    summary = json.loads((client / "export.json").read_text())
    assert summary["tflite"]["quantization"] == quantization
    probabilities = litert_probabilities(
        client / "model.tflite", client_tflite_inputs(client, raw_inputs)
    )
    accuracy = float(np.mean(probabilities.argmax(-1) == labels))
    print(f"{quantization}: test accuracy {accuracy:.4f}, SavedModel {summary['accuracy']:.4f}")
    assert summary["tflite"]["accuracy"] == pytest.approx(accuracy)
    assert summary["accuracy"] == pytest.approx(np.mean(expected.argmax(-1) == labels))
    if quantization == "none":
        np.testing.assert_allclose(probabilities, expected, atol=1e-3)
    assert accuracy >= summary["accuracy"] - 0.01  # within a point of the float SavedModel


{%- if cookiecutter.model_type == "rnn" %}


def test_the_plain_python_token_ids_are_the_ones_training_makes(served):
    run_dir, raw_inputs, _, _ = served
    assets = runs.assets_dir(run_dir)
    metadata = runs.load_metadata(run_dir)
    odd_texts = ["Hello, World!", "call 0800-123-4567 now", "ÉTÉ… à l'heure", "", "...", "a " * 99]
    texts = [raw.decode("utf-8") for raw in raw_inputs[:50]] + odd_texts
    model_vectorizer = text_ops.make_vectorizer(assets / "vocab.txt", metadata.sequence_length)
    expected = model_vectorizer(tf.constant(texts)).numpy()
    vocabulary = (assets / "vocab.txt").read_text(encoding="utf-8").splitlines()
    np.testing.assert_array_equal(token_ids(texts, vocabulary, metadata.sequence_length), expected)
{%- endif %}


def test_tflite_tolerance_is_the_largest_allowed_difference(served, monkeypatch):
    run_dir, *_ = served
    run = tflite.run
    monkeypatch.setattr(tflite, "run", lambda *args: (run(*args)[0] + 1e-4, True))
    before = sorted(path.name for path in (run_dir / "export").glob("*"))
    with pytest.raises(ValueError, match="The TFLite model differs from the Keras model"):
        export_lib.export(run_dir, tflite=True, tflite_tolerance=1e-5)
    assert sorted(path.name for path in (run_dir / "export").glob("*")) == before
    kept = export_lib.export(run_dir, tflite=True, tflite_tolerance=1e-3)
    assert (kept / "model.tflite").exists()
{%- if cookiecutter.model_type == "rnn" %}


def test_the_transformer_converts_with_builtin_ops():
    model = small_transformer(vectorizer=vectorizer(8), num_classes=3, num_blocks=1)
    ids = tf.constant([[2, 3, 4, 0, 0, 0, 0, 0], [5, 6, 7, 8, 9, 10, 11, 12]], tf.int32)
    expected = tf.nn.softmax(model(as_texts(ids.numpy()))).numpy()
    model = keras.Model(model.get_layer("vectorizer").output, model.output)  # as tflite.write
    # The converter's default target is the builtin ops: a model that needs TensorFlow ops
    # (Flex) fails to convert, and LiteRT runs the result like the Keras model.
    content = tflite.convert(
        lambda token_ids: tf.nn.softmax(model(token_ids)),
        [tf.TensorSpec([None, 8], tf.int32)],
        [model],
        quantization="none",
        calibration=ids.numpy(),
    )
    outputs, _ = tflite.run(content, ids.numpy())
    np.testing.assert_allclose(outputs, expected, atol=1e-4)
{%- endif %}
