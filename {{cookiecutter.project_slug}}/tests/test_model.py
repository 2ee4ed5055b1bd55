import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pytest
from conftest import PACKAGE, run_bounded

from {{ cookiecutter.package_name }} import model as model_lib
from {{ cookiecutter.package_name }} import runs
from {{ cookiecutter.package_name }}.data import preprocess_data

# build_schedule's settings that the cosine and constant schedules leave unused.
NO_DECAY = {"warmup_steps": 0, "decay_steps": 1000, "decay_rate": 0.5}


def test_build_model_uses_the_data_shapes(make_config):
    cfg = make_config()
    _, metadata = preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
    model = model_lib.build_model(cfg.model, metadata)
    assert model.output_shape == (None, metadata.num_classes)
    assert model.get_layer("logits").dtype_policy.compute_dtype == "float32"


def test_mixed_precision_computes_in_bfloat16_with_float32_logits(make_config):
    cfg = make_config()
    _, metadata = preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = model_lib.build_model(cfg.model, metadata)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert {layer.compute_dtype for layer in model.layers[1:-1]} == {"bfloat16"}
    assert model.get_layer("logits").compute_dtype == "float32"
    assert {weight.dtype for weight in model.trainable_weights} == {"float32"}  # master weights


def test_unknown_model_is_refused():
    with pytest.raises(ValueError, match="not a model of this project"):
        model_lib.build_model({"name": "alexnet"}, {"num_classes": 2, "model_inputs": {}})


@pytest.mark.parametrize(
    "name, optimizer_class, settings",
    [
        ("adam", keras.optimizers.Adam, {"weight_decay": None}),
        ("adamw", keras.optimizers.AdamW, {"weight_decay": 0.05}),
        ("sgd", keras.optimizers.SGD, {"momentum": 0.9, "weight_decay": None}),
    ],
)
def test_optimizers(name, optimizer_class, settings):
    optimizer = model_lib.build_optimizer(name, 0.1, weight_decay=0.05)
    assert type(optimizer) is optimizer_class  # AdamW is an Adam: not isinstance
    assert {key: getattr(optimizer, key) for key in settings} == pytest.approx(settings)
    assert np.isclose(float(np.asarray(optimizer.learning_rate)), 0.1)
    assert optimizer.global_clipnorm is None  # the training step clips the global gradient


def test_cosine_schedule_warms_up_then_decays_to_zero():
    schedule = model_lib.build_schedule(0.1, "cosine", total_steps=10, **NO_DECAY)
    assert np.isclose(float(schedule(0)), 0.1) and np.isclose(float(schedule(10)), 0.0)
    warm = model_lib.build_schedule(
        0.1, "cosine", total_steps=12, **{**NO_DECAY, "warmup_steps": 2}
    )
    rates = [float(warm(step)) for step in range(13)]
    assert rates[0] == 0.0 and np.isclose(rates[1], 0.05) and np.isclose(rates[2], 0.1)
    assert rates[2:] == sorted(rates[2:], reverse=True) and np.isclose(rates[12], 0.0)


def test_step_schedule_and_constant():
    schedule = model_lib.build_schedule(
        0.1, "step", 100, warmup_steps=0, decay_steps=10, decay_rate=0.5
    )
    assert [round(float(schedule(step)), 6) for step in (0, 9, 10, 25)] == [0.1, 0.1, 0.05, 0.025]
    assert model_lib.build_schedule(0.1, "constant", 100, **NO_DECAY) == 0.1


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


def train_settings(**changes) -> SimpleNamespace:
    settings = {"loss": "cross_entropy", "focal_gamma": 2.0, "label_smoothing": 0.0}
    return SimpleNamespace(**{**settings, "class_weight": "none", **changes})


def test_training_loss_is_per_example_cross_entropy_by_default():
    loss = model_lib.build_loss(train_settings(), IMBALANCED)(LABELS, LOGITS).numpy()
    expected = model_lib.cross_entropy()(LABELS, LOGITS).numpy()
    assert loss.shape == (4,)
    np.testing.assert_allclose(loss, expected, rtol=1e-6)


def test_class_weights_multiply_each_examples_loss():
    plain = model_lib.build_loss(train_settings(), IMBALANCED)(LABELS, LOGITS).numpy()
    balanced = model_lib.build_loss(train_settings(class_weight="balanced"), IMBALANCED)
    # Inverse frequencies, averaging 1 over the examples: 100 / (2 * 90), 100 / (2 * 10).
    weights = np.array([100 / 180, 100 / 20])[LABELS]
    np.testing.assert_allclose(balanced(LABELS, LOGITS).numpy(), plain * weights, rtol=1e-6)
    named = model_lib.build_loss(train_settings(class_weight={"spam": 3.0}), IMBALANCED)
    np.testing.assert_allclose(named(LABELS, LOGITS).numpy(), plain * [1, 3, 3, 3], rtol=1e-6)


@pytest.mark.parametrize("setting", ["inverse", {"eggs": 2.0}, 3.0])
def test_bad_class_weight_is_refused_with_the_class_names(setting):
    with pytest.raises(ValueError, match="balanced or a mapping.*ham, spam"):
        model_lib.build_loss(train_settings(class_weight=setting), IMBALANCED)


def test_label_smoothing_and_focal_loss_change_the_loss():
    plain = model_lib.build_loss(train_settings(), IMBALANCED)(LABELS, LOGITS).numpy()
    smoothed = model_lib.build_loss(train_settings(label_smoothing=0.2), IMBALANCED)
    expected = keras.losses.CategoricalCrossentropy(
        from_logits=True, label_smoothing=0.2, reduction="none"
    )(np.eye(2)[LABELS], LOGITS)
    np.testing.assert_allclose(smoothed(LABELS, LOGITS).numpy(), expected, rtol=1e-5)
    focal = model_lib.build_loss(train_settings(loss="focal"), IMBALANCED)(LABELS, LOGITS)
    right = keras.ops.softmax(LOGITS).numpy()[np.arange(4), LABELS]
    np.testing.assert_allclose(focal.numpy(), (1 - right) ** 2 * plain, rtol=1e-5)  # gamma 2


def test_two_phase_schedule_switches_at_its_boundary():
    first = keras.optimizers.schedules.CosineDecay(0.1, 10)
    schedule = model_lib.TwoPhaseSchedule(first, 0.01, boundary=10)
    rates = [float(schedule(step)) for step in (0, 5, 9, 10, 30)]
    assert np.isclose(rates[0], 0.1) and rates[1] < rates[0] and rates[2] > 0
    assert rates[3:] == pytest.approx([0.01, 0.01])
    second = model_lib.TwoPhaseSchedule(0.1, keras.optimizers.schedules.CosineDecay(0.01, 10), 4)
    assert float(second(4)) == pytest.approx(0.01) and float(second(14)) == pytest.approx(0.0)


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
{%- if cookiecutter.tflite %}
    assert (tmp_path / "run" / "export" / "1" / "model.tflite").stat().st_size > 0
{%- else %}
    assert (tmp_path / "run" / "export" / "1" / "saved_model.pb").stat().st_size > 0
{%- endif %}
    model_cfg = runs.load_config(tmp_path / "run").model
    assert model_cfg == {"name": "tiny", "units": 32, "dropout_rate": 0.2}
