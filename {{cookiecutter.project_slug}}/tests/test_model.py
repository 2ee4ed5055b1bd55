import keras
import numpy as np
import pytest

from {{ cookiecutter.package_name }} import model as model_lib
from {{ cookiecutter.package_name }}.data import preprocess_data


def test_build_model_uses_the_data_shapes(make_config):
    cfg = make_config()
    _, metadata = preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
    model = model_lib.build_model(cfg.model, metadata)
    assert model.output_shape == (None, metadata["num_classes"])
    assert model.get_layer("logits").dtype_policy.compute_dtype == "float32"


def test_unknown_model_is_refused():
    with pytest.raises(ValueError, match="not a model of this project"):
        model_lib.build_model({"name": "resnet"}, {"num_classes": 2, "model_inputs": {}})


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd"])
def test_optimizers(name):
    optimizer = model_lib.build_optimizer(name, 0.1, total_steps=10)
    assert np.isclose(float(np.asarray(optimizer.learning_rate)), 0.1)


def test_cosine_schedule_decays_to_zero():
    optimizer = model_lib.build_optimizer("adam", 0.1, "cosine", total_steps=10)
    schedule = optimizer._learning_rate
    assert isinstance(schedule, keras.optimizers.schedules.CosineDecay)
    assert np.isclose(float(schedule(0)), 0.1) and np.isclose(float(schedule(10)), 0.0)


@pytest.mark.parametrize(
    "arguments, message",
    [(("rmsprop", 0.1), "train.optimizer"), (("adam", 0.1, "linear"), "train.lr_schedule")],
    ids=["optimizer", "schedule"],
)
def test_unknown_optimizer_or_schedule_is_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        model_lib.build_optimizer(*arguments)


def test_loss_is_per_example():
    loss = model_lib.build_loss()(np.array([0, 1]), np.array([[2.0, 0.0], [0.0, 2.0]]))
    assert loss.shape == (2,)
