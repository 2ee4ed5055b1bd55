"""Model builders by name: ``model=<name>`` picks one, model.py calls it.

A builder is a plain function that takes the data's shape arguments and its own options, all
keyword-only and without defaults, and returns a functional keras.Model whose last layer,
named "logits", gives unnormalised scores. To add a model, write ``models/mynet.py`` with
``build_mynet(...)``, add it here, type its options in config.ModelConfig and give their
values in ``configs/model/mynet.yaml``, their one home.
"""
{% if cookiecutter.model_type == "cnn" %}
from .lenet5net import build_lenet5

MODELS = {"lenet5": build_lenet5}
{%- else %}
from .lstmnet import build_lstm

MODELS = {"lstm": build_lstm}
{%- endif %}
