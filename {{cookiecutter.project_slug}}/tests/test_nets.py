"""The project's other nets (conftest.OTHER_NETS) through the whole loop, each as a user runs
it: a run killed after its first checkpoint resumes to the weights of an uninterrupted one,
then eval scores it and its export (SavedModel, .keras{{ ' and TFLite' if cookiecutter.tflite }}) serves raw inputs with the
same accuracy. The mirrored test of every net is in test_distribute.py."""

import numpy as np
import pytest
from conftest import OTHER_NETS, assert_export_serves_evals_accuracy, net_overrides
from test_resume import final_weights, kill_and_resume

# Two epochs of 12 steps on the smoke data, a checkpoint every 5 steps: the kill comes in
# the first epoch, so the resumed run crosses every epoch boundary (and a fine-tune's phase).
OVERRIDES = [
    "experiment=smoke",
    "train.epochs=2",
    "train.max_steps_per_epoch=null",
    "train.checkpoint_every_steps=5",
    "train.deterministic=true",
]
PLANNED_STEPS = 2 * 12
# What each net's resumed run logs besides the common lines.
{%- if cookiecutter.model_type == "cnn" %}
EXPECTED_LOG = {"resnet": "", "pretrained": "Epoch 2: fine-tune phase 2"}
{%- else %}
EXPECTED_LOG = {"transformer": "", "lstm-embeddings": "12 of 25 words have vectors"}
{%- endif %}


@pytest.mark.full
@pytest.mark.parametrize("net", OTHER_NETS)
def test_net_resumes_evaluates_and_exports(run_module, tmp_path, net):
    records = f"data.records_dir={tmp_path / 'records'}"
    overrides = [*OVERRIDES, records, *net_overrides(net, tmp_path / "files")]
    whole = run_module("train", *overrides, f"run_dir={tmp_path / 'whole'}")
    assert whole.returncode == 0, whole.stderr

    run_dir = tmp_path / "killed"
    resumed = kill_and_resume(run_module, run_dir, overrides)
    assert f"Done: 2 epochs, {PLANNED_STEPS} steps" in resumed.stderr
    assert EXPECTED_LOG[net] in resumed.stderr
    for expected, actual in zip(
        final_weights(tmp_path / "whole"), final_weights(run_dir), strict=True
    ):
        np.testing.assert_array_equal(actual, expected)

{%- if cookiecutter.tflite %}
    exported = ["model.keras", "model.tflite"]
{%- else %}
    exported = ["model.keras"]
{%- endif %}
    options = [f"export.{name.split('.')[1]}=true" for name in exported]
    for module, overrides in [("eval", []), ("export", options)]:
        result = run_module(module, f"run_dir={run_dir}", *overrides)
        assert result.returncode == 0, f"{module}:\n{result.stderr}"
    for name in exported:
        assert (run_dir / "export" / "1" / name).stat().st_size > 0
    metrics = assert_export_serves_evals_accuracy(run_dir)
    assert 0 <= metrics["macro_f1"] <= 1
