"""eval.py on a copy of the shared run (conftest.SHARED_RUN): metrics.json and report.md
against the Keras model's outputs counted here, and the runs it refuses."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from helpers import keras_outputs

from {{ cookiecutter.package_name }} import runs
from {{ cookiecutter.package_name }}.eval import evaluate


def test_evaluate_writes_metrics_and_report_and_refuses_other_classes(shared_run_copy):
    run_dir = Path(shared_run_copy.run_dir)
    metrics = evaluate(run_dir)
    assert json.loads((run_dir / "metrics.json").read_text())["accuracy"] == metrics["accuracy"]
    metadata = runs.load_metadata(run_dir)
    assert list(metrics["per_class"]) == metadata.class_names

    # The restored Keras model on every test example, counted here.
    _, labels, probabilities = keras_outputs(shared_run_copy)
    correct = probabilities.argmax(axis=-1) == labels
    assert metrics["num_examples"] == metadata.counts["test"]["total"]
    assert np.isclose(metrics["accuracy"], correct.mean())
    per_class = metrics["per_class"].values()
    assert [(counts["support"], counts["correct"]) for counts in per_class] == [
        (np.sum(labels == label), np.sum(correct[labels == label]))
        for label in range(metadata.num_classes)
    ]
    losses = keras.losses.sparse_categorical_crossentropy(labels, probabilities)
    assert np.isclose(metrics["loss"], float(np.mean(losses)), rtol=1e-4)
    metadata_file = runs.assets_dir(run_dir) / "metadata.json"  # data of other classes: refused
    changed = json.loads(metadata_file.read_text())
    metadata_file.write_text(json.dumps({**changed, "class_names": changed["class_names"][::-1]}))
    with pytest.raises(ValueError, match="Evaluate it on data with the same classes"):
        evaluate(run_dir)
