"""The export as its real consumers load it: TensorFlow Serving's session loader (through
``saved_model_cli`` and ``tf.compat.v1``), and a client that has nothing but the export folder.

    python -m pytest tests/test_serving.py

The shared run (conftest.SHARED_RUN) and its export serve every test here.
"""

import base64
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from conftest import run_bounded
from helpers import keras_outputs_on_the_test_split

from {{ cookiecutter.package_name }} import export as export_lib
from {{ cookiecutter.package_name }} import runs


@pytest.fixture(scope="module")
def served(shared_run):
    """(config, export folder, raw test inputs, labels, the Keras model's probabilities) of
    the shared run."""
    cfg = shared_run
    path = Path(cfg.run_dir) / "export" / "1"
    return cfg, path, *keras_outputs_on_the_test_split(cfg)


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


def test_a_client_with_only_the_export_folder_runs_every_signature(served, tmp_path, run_module):
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
