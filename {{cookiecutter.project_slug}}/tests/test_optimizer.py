"""optimizer.py: the optimizer each train.optimizer builds and the learning-rate
schedules{{ ", and the two phases of a fine-tune" if cookiecutter.model_type == "cnn" }}."""

from types import SimpleNamespace

import keras
import pytest

from {{ cookiecutter.package_name }} import optimizer as optimizer_lib
{%- if cookiecutter.model_type == "cnn" %}
from {{ cookiecutter.package_name }}.models import FineTune
{%- endif %}

# (train.lr_schedule, train.warmup_steps, the rates at steps 0, 5, ..., 20 of 20 at a peak of 0.1)
SCHEDULES = [
    ("constant", 0, [0.1, 0.1, 0.1, 0.1, 0.1]),
    ("cosine", 0, [0.1, 0.08536, 0.05, 0.01464, 0.0]),
    ("cosine", 10, [0, 0.05, 0.1, 0.05, 0]),
]


@pytest.mark.parametrize("lr_schedule, warmup_steps, expected", SCHEDULES)
def test_schedules(lr_schedule, warmup_steps, expected):
    train_cfg = SimpleNamespace(lr_schedule=lr_schedule, warmup_steps=warmup_steps)
    rates = optimizer_lib.build_schedule(train_cfg, 0.1, total_steps=20)
    rates = [float(rates(step)) if callable(rates) else rates for step in range(0, 21, 5)]
    assert rates == pytest.approx(expected, abs=1e-5)
{%- if cookiecutter.model_type == "cnn" %}


def test_a_fine_tune_has_a_schedule_per_phase():
    train_cfg = SimpleNamespace(epochs=3, learning_rate=0.1, lr_schedule="cosine", warmup_steps=0)
    fine_tune = FineTune(freeze_epochs=1, blocks=2, learning_rate=0.01, set_trainable=print)
    rates = optimizer_lib.run_schedule(train_cfg, steps_per_epoch=10, fine_tune=fine_tune)
    rates = [float(rates(step)) for step in (0, 5, 9, 10, 20, 30)]
    assert rates[0] == pytest.approx(0.1) and rates[0] > rates[1] > rates[2] > 0  # epoch 1
    assert rates[3:] == pytest.approx([0.01, 0.005, 0.0], abs=1e-6)  # cosine from epoch 2
{%- endif %}


@pytest.mark.parametrize(
    "name, optimizer_type, attributes",
    [
        ("adam", keras.optimizers.Adam, {}),
        ("adamw", keras.optimizers.AdamW, {"weight_decay": 0.2}),
        ("sgd", keras.optimizers.SGD, {"momentum": 0.9}),
    ],
)
def test_the_optimizer_is_the_one_the_config_names(name, optimizer_type, attributes):
    optimizer = optimizer_lib.build_optimizer(name, learning_rate=0.01, weight_decay=0.2)
    assert type(optimizer) is optimizer_type  # AdamW is an Adam: isinstance would not tell
    for key, value in attributes.items():
        assert getattr(optimizer, key) == pytest.approx(value), key
