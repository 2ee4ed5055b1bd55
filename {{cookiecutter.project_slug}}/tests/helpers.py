"""What several test files share: import them with `from helpers import ...`."""

import keras
import numpy as np
import tensorflow as tf
from omegaconf import DictConfig

from {{ cookiecutter.package_name }} import checkpoints, runs
from {{ cookiecutter.package_name }} import model as model_lib
from {{ cookiecutter.package_name }}.data import (
    data_loader,
    input_ops,
    preprocess_data,
)

# What the loop passes to on_epoch_end, one dict per epoch.
EPOCH_LOGS = [
    {"loss": 1.5, "accuracy": 0.4, "val_loss": 1.2, "val_accuracy": 0.5, "learning_rate": 1e-3},
    {"loss": 0.9, "accuracy": 0.7, "val_loss": 0.8, "val_accuracy": 0.75, "learning_rate": 5e-4},
    {"loss": 0.6, "accuracy": 0.8, "val_loss": 0.7, "val_accuracy": 0.8, "learning_rate": 1e-4},
]


def tiny_model() -> keras.Model:
    inputs = keras.Input((4,), name="features")
    return keras.Model(inputs, keras.layers.Dense(2, name="logits")(inputs), name="tiny")


def drive(callbacks: keras.callbacks.CallbackList, epochs: range) -> None:
    """Calls the callbacks as the loop does, for `epochs` with two logging steps each."""
    callbacks.on_train_begin()
    for epoch in epochs:
        callbacks.on_epoch_begin(epoch)
        for step in (2 * epoch + 1, 2 * epoch + 2):
            callbacks.on_train_batch_end(step, {"loss": 1.0 / step, "accuracy": 0.5})
        callbacks.on_epoch_end(epoch, EPOCH_LOGS[epoch])
    best = max(logs["val_accuracy"] for logs in EPOCH_LOGS[: epochs.stop])
    result = {"epochs": epochs.stop, "steps": 2 * epochs.stop, "best_val_accuracy": best}
    callbacks.on_train_end({**EPOCH_LOGS[epochs.stop - 1], **result, "run_dir": "somewhere"})


def keras_outputs_on_the_test_split(cfg: DictConfig) -> tuple[list, np.ndarray, np.ndarray]:
    """(raw test inputs, labels, the Keras model's probabilities) of the run `cfg` trained,
    with its latest weights: what every export of it must reproduce."""
    metadata = runs.load_metadata(cfg.run_dir)
    records_dir = preprocess_data.records_path(cfg.data, cfg.seed)
    count = metadata.counts["test"]["total"]
    raw_inputs, labels = data_loader.read_raw_examples(records_dir, "test", metadata, count)
    model = model_lib.build_model(cfg.model, metadata)
    checkpoints.restore_model(model, cfg.run_dir)
    example_fn = input_ops.make_example_fn(metadata, runs.assets_dir(cfg.run_dir))
    model_inputs = tf.stack([example_fn(tf.constant(raw)) for raw in raw_inputs])
    expected = tf.nn.softmax(model(model_inputs, training=False)).numpy()
    return raw_inputs, np.array(labels), expected
{%- if cookiecutter.model_type == "rnn" %}


def small_transformer(**options) -> keras.Model:
    """A small Transformer encoder, every builder option given (`options` override them)."""
    from {{ cookiecutter.package_name }}.models import transformernet

    defaults = {"embedding_dim": 16, "num_heads": 2, "feed_forward_dim": 32, "num_blocks": 2}
    defaults.update(dropout_rate=0.0, embeddings=None, freeze_embeddings=False)
    return transformernet.build_transformer(**{**defaults, "vocabulary_file": None, **options})
{%- endif %}
