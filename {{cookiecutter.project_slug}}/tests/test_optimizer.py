"""optimizer.py: the learning-rate schedules{{ ", and the two phases of a fine-tune" if cookiecutter.model_type == "cnn" }}. The optimizer
that each train.optimizer builds: test_options.py."""

from types import SimpleNamespace

import pytest

from {{ cookiecutter.package_name }} import optimizer as optimizer_lib
{%- if cookiecutter.model_type == "cnn" %}
from {{ cookiecutter.package_name }}.models import FineTune
{%- endif %}

# train.* of each schedule, over 20 steps at a peak of 0.1, and its rates at steps 0, 5, ..., 20.
SCHEDULES = {
    "constant": ({"lr_schedule": "constant"}, [0.1, 0.1, 0.1, 0.1, 0.1]),
    "step": ({"lr_schedule": "step"}, [0.1, 0.1, 0.05, 0.05, 0.025]),  # halved every 10
    "cosine": ({"lr_schedule": "cosine"}, [0.1, 0.08536, 0.05, 0.01464, 0.0]),
    "cosine-warmup": ({"lr_schedule": "cosine", "warmup_steps": 10}, [0, 0.05, 0.1, 0.05, 0]),
}


@pytest.mark.parametrize("name", SCHEDULES)
def test_schedules(name):
    settings, expected = SCHEDULES[name]
    train_cfg = SimpleNamespace(
        **{"warmup_steps": 0, "lr_decay_steps": 10, "lr_decay_rate": 0.5, **settings}
    )
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
