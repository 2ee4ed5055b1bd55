"""Model builders by name: ``model=<name>`` picks one, model.py calls it.

A builder is a plain function that takes the data's shape arguments and its own options and
returns a functional keras.Model whose last layer, named "logits", gives unnormalised scores.
To add a model, write ``models/mynet.py`` with ``build_mynet(...)``, add it here and add
``configs/model/mynet.yaml``.
"""
{% if cookiecutter.model_type == "cnn" %}
from .lenet5net import build_lenet5
from .pretrainednet import build_pretrained
from .resnetnet import build_resnet

MODELS = {"lenet5": build_lenet5, "resnet": build_resnet, "pretrained": build_pretrained}
{%- else %}
from .lstmnet import build_lstm
from .transformernet import build_transformer

MODELS = {"lstm": build_lstm, "transformer": build_transformer}
{%- endif %}
