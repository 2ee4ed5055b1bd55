"""model.py: each net built from its YAML file's _target_, the weight penalty and the training
loss; each other net through the whole loop; the net that docs/architecture.md adds."""

import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pytest
from helpers import (
    OTHER_NETS,
    PACKAGE,
    assert_export_serves_evals_accuracy,
    final_weights,
    kill_and_resume,
    net_overrides,
    run_bounded,
)

from {{ cookiecutter.package_name }} import model as model_lib
from {{ cookiecutter.package_name }} import runs

# The data's values that Metadata.model_arguments gives a builder.
{%- if cookiecutter.model_type == "cnn" %}
NETS = ["lenet5", "resnet", "pretrained"]
DATA = {"num_classes": 3, "input_shape": [32, 32, 1], "mean": [0.5], "std": [0.25]}
INITIAL_WEIGHTS = ("model=pretrained", "model.weights=missing.weights.h5", "model.weights=")
{%- else %}
NETS = ["lstm", "transformer"]
DATA = {"num_classes": 3, "sequence_length": 8, "vocab_size": 20, "vocabulary_file": None}
INITIAL_WEIGHTS = ("model=lstm", "model.embeddings=missing.txt", "needs the data's vocabulary")
{%- endif %}
METADATA = SimpleNamespace(model_arguments=lambda folder=None: DATA)


@pytest.mark.parametrize("name", NETS)
def test_each_yaml_builds_its_net_in_mixed_precision(make_config, name):
    cfg = make_config(f"model={name}")
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = model_lib.build_model(cfg.model, METADATA)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.output_shape == (None, 3)
    assert {layer.compute_dtype for layer in model.layers[1:-1]} == {"bfloat16"}
    assert model.get_layer("logits").compute_dtype == "float32"
    assert {weight.dtype for weight in model.trainable_weights} == {"float32"}  # master weights


def test_initial_weights_are_read_only_when_asked(make_config):
    """A model built to restore a checkpoint into reads no starting weights (INITIAL_WEIGHTS);
    a fresh one does, and the builder's own error comes through instantiate unwrapped."""
    name, option, message = INITIAL_WEIGHTS
    cfg = make_config(name, option)
    with pytest.raises(ValueError, match=message):
        model_lib.build_model(cfg.model, METADATA, initial_weights=True)
    assert model_lib.build_model(cfg.model, METADATA).output_shape == (None, 3)


def test_weight_penalty_covers_kernels_not_biases():
    inputs = keras.Input((2,))
    model = keras.Model(
        inputs, keras.layers.Dense(1, kernel_initializer="ones", bias_initializer="ones")(inputs)
    )
    assert float(model_lib.weight_penalty(model, 0.0, 0.0)) == 0.0
    assert np.isclose(float(model_lib.weight_penalty(model, 0.5, 0.0)), 1.0)
    assert np.isclose(float(model_lib.weight_penalty(model, 0.0, 0.25)), 0.5)


LABELS = np.array([0, 1, 1, 1])
LOGITS = np.array([[2.0, 0.0], [0.0, 2.0], [1.0, 0.5], [0.2, 0.1]], np.float32)
# The train split of an imbalanced two-class data set, as metadata.json counts it.
IMBALANCED = SimpleNamespace(
    class_names=["ham", "spam"],
    num_classes=2,
    counts={"train": {"per_class": {"ham": 90, "spam": 10}}},
)


def training_loss(**changes) -> np.ndarray:
    """Each example's training loss on LABELS and LOGITS with train.* as `changes` say."""
    settings = {"loss": "cross_entropy", "focal_gamma": 2.0, "label_smoothing": 0.0}
    train_cfg = SimpleNamespace(**{**settings, "class_weight": "none", **changes})
    return model_lib.build_loss(train_cfg, IMBALANCED)(LABELS, LOGITS).numpy()


def test_training_loss_is_cross_entropy_smoothed_or_focal_per_example():
    plain = training_loss()
    assert plain.shape == (4,)
    np.testing.assert_allclose(plain, model_lib.cross_entropy()(LABELS, LOGITS), rtol=1e-6)
    smoothed = keras.losses.CategoricalCrossentropy(
        from_logits=True, label_smoothing=0.2, reduction="none"
    )(np.eye(2)[LABELS], LOGITS)
    np.testing.assert_allclose(training_loss(label_smoothing=0.2), smoothed, rtol=1e-5)
    right = keras.ops.softmax(LOGITS).numpy()[np.arange(4), LABELS]
    focal = (1 - right) ** 2 * plain  # gamma 2
    np.testing.assert_allclose(training_loss(loss="focal"), focal, rtol=1e-5)


def test_class_weights_multiply_each_examples_loss():
    plain = training_loss()
    # Inverse frequencies, averaging 1 over the examples: 100 / (2 * 90), 100 / (2 * 10).
    balanced = plain * np.array([100 / 180, 100 / 20])[LABELS]
    np.testing.assert_allclose(training_loss(class_weight="balanced"), balanced, rtol=1e-6)
    named = training_loss(class_weight={"spam": 3.0})
    np.testing.assert_allclose(named, plain * [1, 3, 3, 3], rtol=1e-6)


@pytest.mark.parametrize("setting", ["inverse", {"eggs": 2.0}, 3.0])
def test_bad_class_weight_is_refused_with_the_class_names(setting):
    with pytest.raises(ValueError, match="balanced or a mapping.*ham, spam"):
        training_loss(class_weight=setting)


# Each other net, two epochs of 12 steps on the smoke data with a checkpoint every 5 steps:
# killed in the first epoch, the resumed run crosses every epoch boundary (and a fine-tune's
# phase) to the weights of an uninterrupted one; eval scores it, its export serves as much.
RESUMED = [
    "experiment=smoke",
    "train.epochs=2",
    "train.max_steps_per_epoch=null",
    "train.checkpoint_every_steps=5",
    "train.deterministic=true",
]
{%- if cookiecutter.model_type == "cnn" %}
EXPECTED_LOG = {"resnet": "", "pretrained": "Epoch 2: fine-tune phase 2"}
{%- else %}
EXPECTED_LOG = {"transformer": "", "lstm-embeddings": "12 of 25 words have vectors"}
{%- endif %}


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
    for expected, actual in zip(
        final_weights(tmp_path / "whole"), final_weights(run_dir), strict=True
    ):
        np.testing.assert_array_equal(actual, expected)
    exported = ["model.keras"{{ ', "model.tflite"' if cookiecutter.tflite }}]
    options = [f"export.{name.split('.')[1]}=true" for name in exported]
    for module, overrides in [("eval", []), ("export", options)]:
        result = run_module(module, f"run_dir={run_dir}", *overrides)
        assert result.returncode == 0, f"{module}:\n{result.stderr}"
    assert all((run_dir / "export" / "1" / name).stat().st_size for name in exported)
    assert 0 <= assert_export_serves_evals_accuracy(run_dir)["macro_f1"] <= 1


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
    env = {**run_module.env, "PYTHONPATH": str(copy)}
    run_dir = f"run_dir={tmp_path / 'run'}"
    for module, overrides in [
        ("train", ["experiment=smoke", "model=tiny", run_dir]),
        ("eval", [run_dir]),
        ("export", [run_dir{{ ', "export.tflite=true"' if cookiecutter.tflite }}]),
    ]:
        command = [sys.executable, "-m", f"{PACKAGE}.{module}", *overrides]
        result = run_bounded(command, 300, cwd=tmp_path, env=env)
        assert result.returncode == 0, f"{module}:\n{result.stderr}"
    exported = "{{ 'model.tflite' if cookiecutter.tflite else 'saved_model.pb' }}"
    assert (tmp_path / "run" / "export" / "1" / exported).stat().st_size > 0
    assert runs.load_config(tmp_path / "run").model.units == 32
