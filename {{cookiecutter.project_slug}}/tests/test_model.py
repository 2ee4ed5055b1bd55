"""model.py: each net from its YAML file, loss, optimizer, schedules, whole loop; docs' new net."""

import shutil
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pytest
{%- if cookiecutter.model_type == "rnn" %}
import tensorflow as tf
{%- endif %}
from helpers import (
    OTHER_NETS,
    PACKAGE,
    assert_export_serves_evals_accuracy,
    final_weights,
    kill_and_resume,
    net_overrides,
{%- if cookiecutter.model_type == "rnn" %}
    vectorizer,
{%- endif %}
)

from {{ cookiecutter.package_name }} import model as model_lib
from {{ cookiecutter.package_name }} import runs
{%- if cookiecutter.model_type == "cnn" %}
from {{ cookiecutter.package_name }}.models import FineTune
{%- endif %}

# The data's values that Metadata.model_arguments gives a builder.
{%- if cookiecutter.model_type == "cnn" %}
NETS = ["lenet5", "resnet", "pretrained"]
DATA = {"num_classes": 3, "input_shape": [32, 32, 1], "mean": [0.5], "std": [0.25]}
METADATA = SimpleNamespace(model_arguments=lambda: DATA)
INITIAL_WEIGHTS = ("model=pretrained", "model.weights=missing.weights.h5", ValueError)
{%- else %}
NETS = ["lstm", "transformer"]
METADATA = SimpleNamespace(model_arguments=lambda: {"num_classes": 3, "vectorizer": vectorizer(8)})
INITIAL_WEIGHTS = ("model=lstm", "model.embeddings=missing.txt", tf.errors.NotFoundError)
{%- endif %}


@pytest.mark.parametrize("name", NETS)
def test_each_yaml_builds_its_net_in_mixed_precision(make_config, name):
    cfg = make_config(f"model={name}")
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = model_lib.build_model(cfg.model, METADATA)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.output_shape == (None, 3)
    hidden = [layer for layer in model.layers[1:-1] if layer.name != "vectorizer"]  # of strings
    assert {layer.compute_dtype for layer in hidden} == {"bfloat16"}
    assert model.get_layer("logits").compute_dtype == "float32"
    assert {weight.dtype for weight in model.trainable_weights} == {"float32"}  # master weights


def test_initial_weights_are_read_only_for_training(make_config, tmp_path):
    """A model to restore into (no data_dir) reads none; the builder's own error comes through."""
    name, option, error = INITIAL_WEIGHTS
    cfg = make_config(name, option)
    with pytest.raises(error, match="missing"):
        model_lib.build_model(cfg.model, METADATA, data_dir=str(tmp_path))
    assert model_lib.build_model(cfg.model, METADATA).output_shape == (None, 3)


def test_the_loss_and_optimizer_are_those_the_config_names():
    adam, adamw, sgd = (model_lib.build_optimizer(n, 0.01, 0.2) for n in ("adam", "adamw", "sgd"))
    assert type(adam) is keras.optimizers.Adam  # AdamW is an Adam: isinstance would not tell
    assert type(adamw) is keras.optimizers.AdamW and adamw.weight_decay == pytest.approx(0.2)
    assert type(sgd) is keras.optimizers.SGD and sgd.momentum == pytest.approx(0.9)
    labels = np.array([0, 1, 1, 1])
    logits = np.array([[2.0, 0.0], [0.0, 2.0], [1.0, 0.5], [0.2, 0.1]], np.float32)
    metadata = SimpleNamespace(num_classes=2)
    plain = model_lib.build_loss(SimpleNamespace(label_smoothing=0.0), metadata)
    unsmoothed = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    np.testing.assert_allclose(plain(labels, logits), unsmoothed, rtol=1e-6)
    smoothed = model_lib.build_loss(SimpleNamespace(label_smoothing=0.2), metadata)
    expected = -np.sum(  # the true class aimed at 0.9, the other at 0.1
        (0.1 + 0.8 * np.eye(2)[labels]) * keras.ops.log_softmax(logits).numpy(), axis=1
    )
    np.testing.assert_allclose(smoothed(labels, logits), expected, rtol=1e-5)


SCHEDULES = [  # (train.lr_schedule, a fine-tune's freeze_epochs, rates at steps 0, 5, ..., 30)
    ("constant", 0, [0.1] * 7),
    ("cosine", 0, [0.1, 0.0933, 0.075, 0.05, 0.025, 0.0067, 0.0]),
{%- if cookiecutter.model_type == "cnn" %}
    ("cosine", 1, [0.1, 0.05, 0.01, 0.008536, 0.005, 0.001464, 0.0]),  # epoch 1, then 2 and 3
{%- endif %}
]


@pytest.mark.parametrize("lr_schedule, freeze_epochs, expected", SCHEDULES)
def test_schedules_over_3_epochs_of_10_steps(lr_schedule, freeze_epochs, expected):
{%- if cookiecutter.model_type == "cnn" %}
    train_cfg = SimpleNamespace(epochs=3, learning_rate=0.1, lr_schedule=lr_schedule)
    fine_tune = FineTune(freeze_epochs, 0.01, set_trainable=print) if freeze_epochs else None
    rates = model_lib.run_schedule(train_cfg, steps_per_epoch=10, fine_tune=fine_tune)
{%- else %}
    rates = model_lib.build_schedule(lr_schedule, 0.1, total_steps=30)
{%- endif %}
    assert [float(rates(step)) for step in range(0, 31, 5)] == pytest.approx(expected, abs=1e-5)


# Each other net, two epochs of 12 steps on the smoke data with a checkpoint every 5 steps:
# killed in the first epoch, the resumed run crosses every epoch boundary (and a fine-tune's
# phase) to the weights of an uninterrupted one; eval scores it, its export serves as much.
RESUMED = ["experiment=smoke", "train.epochs=2", "train.steps_per_epoch=null"]
RESUMED += ["train.checkpoint_every_steps=5", "train.deterministic=true"]
{%- if cookiecutter.model_type == "cnn" %}
EXPECTED_LOG = {"resnet": "", "pretrained": "Epoch 2: fine-tune phase 2"}
{%- else %}
EXPECTED_LOG = {"transformer": "", "lstm-embeddings": "model.embeddings: 12 of 25 words"}
{%- endif %}
EXPORT = ("export",{{ ' "export.tflite=true"' if cookiecutter.tflite }})  # the command and its overrides


@pytest.mark.full
@pytest.mark.parametrize("net", OTHER_NETS)
def test_net_resumes_evaluates_and_exports(run_module, tmp_path, net):
    records = f"data.records_dir={tmp_path / 'records'}"
    overrides = [*RESUMED, records, *net_overrides(net, tmp_path / "files")]
    whole = run_module("train", *overrides, f"run_dir={tmp_path / 'whole'}")
    assert whole.returncode == 0, whole.stderr
    run_dir = tmp_path / "killed"
    resumed = kill_and_resume(run_module, run_dir, overrides)
    assert "Done: 2 epochs, 24 steps" in resumed.stderr and EXPECTED_LOG[net] in resumed.stderr
    np.testing.assert_equal(final_weights(run_dir), final_weights(tmp_path / "whole"))
    for module, *overrides in [("eval",), EXPORT]:
        result = run_module(module, f"run_dir={run_dir}", *overrides)
        assert result.returncode == 0, f"{module}:\n{result.stderr}"
{%- if cookiecutter.tflite %}
    assert (run_dir / "export" / "1" / "model.tflite").stat().st_size
{%- endif %}
    assert 0 <= assert_export_serves_evals_accuracy(run_dir)["macro_f1"] <= 1  # loads export/1


@pytest.mark.full
def test_the_documented_net_needs_its_two_files_and_nothing_else(tmp_path, run_module):
    """docs/architecture.md's "add your own net": its Python and YAML blocks, written into a
    copy of the package, train, evaluate and export{{ ' (TFLite included)' if cookiecutter.tflite }} as model=tiny."""
    project = Path(__file__).resolve().parents[1]
    guide = (project / "docs" / "architecture.md").read_text()
    section = guide[guide.index("## Where to add a new model") :]
    copy = tmp_path / "src"
    shutil.copytree(project / "src" / PACKAGE, copy / PACKAGE)
    for language in ("python", "yaml"):
        block = section.split(f"```{language}\n", 1)[1].split("```", 1)[0]
        path = block.splitlines()[0].removeprefix("# ")  # e.g. src/<package>/models/tinynet.py
        (tmp_path / path).write_text(block)
    run_module.env["PYTHONPATH"] = str(copy)
    for module, *overrides in [("train", "experiment=smoke", "model=tiny"), ("eval",), EXPORT]:
        result = run_module(module, *overrides, f"run_dir={tmp_path / 'run'}")
        assert result.returncode == 0, f"{module}:\n{result.stderr}"
    exported = "{{ 'model.tflite' if cookiecutter.tflite else 'saved_model.pb' }}"
    assert (tmp_path / "run" / "export" / "1" / exported).stat().st_size > 0
    assert runs.load_config(tmp_path / "run").model.units == 32
