"""trainer.py: the compiled train step, checked against the update worked out by hand."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from omegaconf import OmegaConf

from {{ cookiecutter.package_name }}.trainer import Trainer

TRAIN_CFG = OmegaConf.create(
    {"clip_norm": 0.0, "l1": 0.0, "l2": 0.0, "jit_compile": False, "deterministic": True}
)


def per_example_loss(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    return keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)


@pytest.mark.parametrize("num_steps", [1, 3])
def test_a_step_is_sgd_on_the_mean_loss_of_the_global_batch(num_steps):
    """w <- w - rate * d(mean loss)/dw, step after step: a loss summed instead of averaged
    (or averaged over the wrong count) gives a step `batch size` times too long."""
    keras.utils.set_random_seed(0)
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    inputs = np.random.default_rng(0).normal(size=(8 * num_steps, 5)).astype("float32")
    labels = np.arange(8 * num_steps) % 3
    with strategy.scope():
        model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
        optimizer = keras.optimizers.SGD(learning_rate=0.1)
    expected = [tf.Variable(weight) for weight in model.trainable_weights]
    for start in range(0, 8 * num_steps, 8):
        with tf.GradientTape() as tape:
            x = tf.matmul(inputs[start : start + 8], expected[0]) + expected[1]
            loss = tf.reduce_mean(per_example_loss(labels[start : start + 8], x))
        for weight, gradient in zip(expected, tape.gradient(loss, expected), strict=True):
            weight.assign_sub(0.1 * gradient)

    trainer = Trainer(strategy, model, optimizer, per_example_loss, 8, TRAIN_CFG)
    dataset = tf.data.Dataset.from_tensor_slices((inputs, labels)).batch(8)
    trainer.train_loop_begin(0)
    trainer.train(iter(dataset), num_steps)

    for weight, want in zip(model.trainable_weights, expected, strict=True):
        np.testing.assert_allclose(weight.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)
    assert int(optimizer.iterations.numpy()) == num_steps
    assert trainer.train_loop_end(1)["loss"] > 0
