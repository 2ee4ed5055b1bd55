"""The model learns: a short deterministic run on the default data beats chance by far (every
other test passes with an untrained model). The thresholds, calibrated once on a 2-core CPU
(`pytest tests/test_learning.py`, a fresh bake), sit well below the measured figures."""

import pytest
from helpers import assert_learned

from {{ cookiecutter.package_name }}.train import train

# 3 epochs of 20 steps of 32 (60 steps).
LOOP = ("train.epochs=3", "train.steps_per_epoch=20", "train.batch_size=32")
LOOP += ("train.log_every_steps=5", "train.deterministic=true")
{%- if cookiecutter.model_type == "cnn" %}
# scikit-learn's digits, the default data: 10 classes, chance is 0.1. Measured (seed 42):
# val_accuracy 0.844 (180 held-out digits), training loss 2.34 at step 5, 1.31 at the end
# (ratio 0.56). With every gradient divided by 10,000 (docs/testing.md), AdamW still reached
# 0.58: keep the bar high.
DATA = ("data=digits",)
MIN_ACCURACY, MAX_LOSS_RATIO = 0.7, 0.7
{%- else %}
# The default digit sentences ("odd" or "even"), a fixed slice of 2,000: 2 classes, chance is
# 0.5. Measured (seed 42, the default rate 0.01): val_accuracy 1.0 (200 held-out sentences),
# training loss 0.472 at step 5, about 2e-10 at the end.
DATA = ("data=digit_sentences", "data.num_examples=2000")
MIN_ACCURACY, MAX_LOSS_RATIO = 0.9, 0.5
{%- endif %}


@pytest.mark.slow
def test_a_short_run_on_the_default_data_learns(make_config):
    result = train(make_config(*DATA, *LOOP))
    assert result["steps"] == 60
    # val_accuracy is on the whole validation split, which training never sees.
    assert_learned(result, MIN_ACCURACY, MAX_LOSS_RATIO)
