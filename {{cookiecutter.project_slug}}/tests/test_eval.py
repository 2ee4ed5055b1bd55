"""eval.py on a copy of the shared run (conftest.SHARED_RUN): metrics.json against the Keras
model's outputs counted here, and the runs it refuses."""

import json
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
from helpers import keras_outputs_on_the_test_split
from omegaconf import OmegaConf

from {{ cookiecutter.package_name }} import runs
from {{ cookiecutter.package_name }}.eval import evaluate


@pytest.fixture
def trained_run(shared_run, tmp_path):
    """A copy of the shared run without its export, for one test to change."""
    shutil.copytree(shared_run.run_dir, tmp_path / "run", ignore=shutil.ignore_patterns("export"))
    return OmegaConf.merge(shared_run, {"run_dir": str(tmp_path / "run")})


def test_evaluate_writes_metrics(trained_run):
    metrics = evaluate(trained_run.run_dir)
    on_disk = json.loads(Path(trained_run.run_dir, "metrics.json").read_text())
    assert on_disk["accuracy"] == metrics["accuracy"]
    assert "# Test report" in Path(trained_run.run_dir, "report.md").read_text()
    metadata = runs.load_metadata(trained_run.run_dir)
    assert list(metrics["per_class"]) == metadata.class_names
    supports = [counts["support"] for counts in metrics["per_class"].values()]
    assert supports == list(metadata.counts["test"]["per_class"].values())

    # The restored Keras model on every test example, counted here.
    _, labels, probabilities = keras_outputs_on_the_test_split(trained_run)
    correct = probabilities.argmax(axis=-1) == labels
    assert metrics["num_examples"] == metadata.counts["test"]["total"]
    assert np.isclose(metrics["accuracy"], correct.mean())
    assert [counts["correct"] for counts in metrics["per_class"].values()] == [
        int(correct[labels == label].sum()) for label in range(metadata.num_classes)
    ]
    losses = keras.losses.sparse_categorical_crossentropy(labels, probabilities)
    assert np.isclose(metrics["loss"], float(np.mean(losses)), rtol=1e-4)


def test_evaluate_without_a_run_explains(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a run directory"):
        evaluate(tmp_path / "nowhere")


def test_evaluating_on_data_with_other_classes_is_refused(trained_run):
    metadata_file = runs.assets_dir(trained_run.run_dir) / "metadata.json"
    metadata = json.loads(metadata_file.read_text())
    metadata["class_names"] = list(reversed(metadata["class_names"]))
    metadata_file.write_text(json.dumps(metadata))
    with pytest.raises(ValueError, match="Evaluate it on data with the same classes"):
        evaluate(trained_run.run_dir)
