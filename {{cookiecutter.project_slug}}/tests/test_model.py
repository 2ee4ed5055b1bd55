import keras
import numpy as np
import pytest

from {{ cookiecutter.package_name }} import model as model_lib
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


def test_loss_is_per_example():
    loss = model_lib.build_loss()(np.array([0, 1]), np.array([[2.0, 0.0], [0.0, 2.0]]))
    assert loss.shape == (2,)
