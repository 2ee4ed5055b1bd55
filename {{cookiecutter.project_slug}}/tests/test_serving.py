"""The export as its real consumers load it: TensorFlow Serving's session loader (through
``saved_model_cli`` and ``tf.compat.v1``), LiteRT with each quantization, and a client that has
nothing but the export folder.

    python -m pytest tests/test_serving.py

One run on the default data, exported once with a float .tflite, serves every test here.
"""

import base64
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from conftest import run_bounded, smoke_config

from {{ cookiecutter.package_name }} import checkpoints, runs
from {{ cookiecutter.package_name }} import export as export_lib
from {{ cookiecutter.package_name }} import model as model_lib
{%- if cookiecutter.model_type == "cnn" %}
from {{ cookiecutter.package_name }}.data import (
    data_loader,
    input_ops,
    preprocess_data,
)
from {{ cookiecutter.package_name }}.predict_image import tflite_pixels
{%- else %}
from {{ cookiecutter.package_name }}.data import (
    data_loader,
    input_ops,
    preprocess_data,
    text_ops,
)
from {{ cookiecutter.package_name }}.predict_text import token_ids
{%- endif %}
from {{ cookiecutter.package_name }}.train import train
{%- if cookiecutter.model_type == "cnn" %}

# scikit-learn's digits, the default data: 5 epochs of 22 steps (about 0.98 test accuracy).
DEFAULT_RUN = ("data=digits", "train.epochs=5", "train.max_steps_per_epoch=null")
{%- else %}

# The default digit sentences, a fixed slice of 2,000: 2 epochs.
DEFAULT_RUN = ("data=digit_sentences", "data.num_examples=2000", "train.epochs=2")
{%- endif %}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(config, export folder, raw test inputs, labels, the Keras model's probabilities) of a
    run on the default data, exported with a float .tflite."""
    cfg = smoke_config(tmp_path_factory.mktemp("serving"), *DEFAULT_RUN)
    train(cfg)
    path = export_lib.export(cfg.run_dir, tflite=True)
    metadata = runs.load_metadata(cfg.run_dir)
    records_dir = preprocess_data.records_path(cfg.data, cfg.seed)
    count = metadata.counts["test"]["total"]
    raw_inputs, labels = data_loader.read_raw_examples(records_dir, "test", metadata, count)
    model = model_lib.build_model(cfg.model, metadata)
    checkpoints.restore_model(model, cfg.run_dir)
    example_fn = input_ops.make_example_fn(metadata, runs.assets_dir(cfg.run_dir))
    model_inputs = tf.stack([example_fn(tf.constant(raw)) for raw in raw_inputs])
    expected = tf.nn.softmax(model(model_inputs, training=False)).numpy()
    return cfg, path, raw_inputs, np.array(labels), expected


def saved_model_cli(*arguments: str) -> str:
    """Runs the installed TensorFlow's saved_model_cli; returns what it printed."""
    command = [str(Path(sys.executable).parent / "saved_model_cli"), *arguments]
    result = run_bounded(command, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_saved_model_cli_runs_every_signature_like_the_keras_model(served, tmp_path):
    _, path, raw_inputs, _, expected = served
    metadata = runs.load_metadata(path)
    count = 4
{%- if cookiecutter.model_type == "cnn" %}
    (images,) = export_lib.serving.serving_batches(raw_inputs[:count], metadata)
    inputs = {
        "serving_default": ("images", images.numpy()),
        "serve_bytes": ("image_bytes", np.array(raw_inputs[:count], dtype=object)),
    }
{%- else %}
    inputs = {"serving_default": ("texts", np.array(raw_inputs[:count], dtype=object))}
{%- endif %}
    shown = saved_model_cli("show", "--dir", str(path), "--all")
    assert sorted(inputs) == sorted(
        line.split("'")[1]
        for line in shown.splitlines()
        if line.startswith("signature_def[") and "__saved_model_init_op" not in line
    )
    for name, (key, values) in inputs.items():
        np.save(tmp_path / f"{key}.npy", values, allow_pickle=True)
        outdir = tmp_path / name
        saved_model_cli(
            *("run", "--dir", str(path), "--tag_set", "serve", "--signature_def", name),
            *("--inputs", f"{key}={tmp_path / key}.npy", "--outdir", str(outdir)),
        )
        probabilities = np.load(outdir / "probabilities.npy")
        np.testing.assert_allclose(probabilities, expected[:count], atol=1e-5)
        class_names = [
            name.decode() for name in np.load(outdir / "class_name.npy", allow_pickle=True)
        ]
        assert class_names == [metadata.class_names[i] for i in expected[:count].argmax(-1)]


def session_serving_default(export_dir, inputs):
    """serving_default's outputs, the SavedModel loaded by TensorFlow 1's session loader."""
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], str(export_dir))
        signature = meta_graph.signature_def["serving_default"]
        (input_info,) = signature.inputs.values()
        fetches = {key: info.name for key, info in signature.outputs.items()}
        return session.run(fetches, {input_info.name: inputs})


def test_the_tf1_session_loader_runs_serving_default(served):
    _, path, raw_inputs, labels, expected = served
    metadata = runs.load_metadata(path)
    (batch,) = export_lib.serving.serving_batches(raw_inputs, metadata)
    outputs = session_serving_default(path, batch.numpy())
    np.testing.assert_allclose(outputs["probabilities"], expected, atol=1e-5)
    summary = json.loads((path / "export.json").read_text())
    assert summary["accuracy"] == pytest.approx(np.mean(outputs["class_id"] == labels))


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
    if not summary["tflite"]["xnnpack"]:  # as README.md tells
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
def test_each_tflite_quantization_scores_the_test_split_near_the_float_model(served, quantization):
    cfg, path, raw_inputs, labels, expected = served
    if quantization != "none":
        # A quantization alone asks for the .tflite (export.tflite_quantization=int8).
        path = export_lib.export(cfg.run_dir, tflite_quantization=quantization)
    summary = json.loads((path / "export.json").read_text())
    assert summary["tflite"]["quantization"] == quantization
    probabilities = litert_probabilities(
        path / "model.tflite", client_tflite_inputs(path, raw_inputs)
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
    cfg, path, raw_inputs, _, _ = served
    metadata = runs.load_metadata(path)
    table = text_ops.make_vocabulary_table(path / "assets" / "vocab.txt")
    odd_texts = ["Hello, World!", "call 0800-123-4567 now", "ÉTÉ… à l'heure", "", "...", "a " * 99]
    texts = [raw.decode("utf-8") for raw in raw_inputs[:50]] + odd_texts
    expected = text_ops.tokenize(tf.constant(texts), table, metadata.sequence_length).numpy()
    vocabulary = (path / "assets" / "vocab.txt").read_text(encoding="utf-8").splitlines()
    np.testing.assert_array_equal(token_ids(texts, vocabulary, metadata.sequence_length), expected)
{%- endif %}


def test_a_client_with_only_the_export_folder_runs_every_signature_and_the_tflite(
    served, tmp_path, run_module
):
    cfg, path, raw_inputs, labels, expected = served
    client = tmp_path / "client" / "1"
    shutil.copytree(path, client)
    run_dir = Path(cfg.run_dir)
    hidden = run_dir.with_name(run_dir.name + "-hidden")
    run_dir.rename(hidden)  # nothing of the run is left to read
    try:
        summary = json.loads((client / "export.json").read_text())
        # Every REST body of export.json, decoded as TensorFlow Serving decodes JSON.
        for name, signature in summary["signatures"].items():
            ((key, spec),) = signature["inputs"].items()
            instances = signature["rest_body"]["instances"]
            if spec["dtype"] == "string":
                values = [
                    base64.b64decode(item["b64"]) if isinstance(item, dict) else item
                    for item in instances
                ]
                values = np.array(values, dtype=object)
            else:
                values = np.array(instances, dtype=spec["dtype"])
            (outputs,) = export_lib.serve_in_session(client, [(name, {key: values})])
            np.testing.assert_allclose(
                outputs["probabilities"], expected[: len(values)], atol=1e-5
            )
        probabilities = litert_probabilities(
            client / "model.tflite", client_tflite_inputs(client, raw_inputs)
        )
        np.testing.assert_allclose(probabilities, expected, atol=1e-3)
        # The predict command on raw files, given only the export folder.
{%- if cookiecutter.model_type == "cnn" %}
        inputs = tmp_path / "inputs"
        metadata = runs.load_metadata(client)
        for number, (raw, label) in enumerate(zip(raw_inputs[:20], labels[:20], strict=True)):
            folder = inputs / metadata.class_names[label]
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{number}.png").write_bytes(raw)
        result = run_module("predict", f"inputs={inputs}", f"export_dir={client}")
{%- else %}
        inputs = tmp_path / "texts.txt"
        inputs.write_text("".join(raw.decode("utf-8") + "\n" for raw in raw_inputs[:20]))
        result = run_module("predict", f"inputs={inputs}", f"export_dir={client}")
{%- endif %}
        assert result.returncode == 0, result.stderr[-3000:]
        assert len(result.stdout.strip().splitlines()) == 21
    finally:
        hidden.rename(run_dir)
