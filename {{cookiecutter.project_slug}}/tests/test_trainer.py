"""trainer.py: the compiled train step, checked against the update worked out by hand."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from omegaconf import OmegaConf

from {{ cookiecutter.package_name }}.trainer import Trainer

TRAIN_CFG = OmegaConf.create({"clip_norm": 0.0, "jit_compile": False, "deterministic": True})


def per_example_loss(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    return keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)


@pytest.mark.parametrize("num_steps, l2", [(1, 0.0), (3, 0.0), (2, 0.5)])
def test_a_step_is_sgd_on_the_mean_loss_of_the_global_batch(num_steps, l2):
    """w <- w - rate * d(mean loss + the net's own penalties)/dw, step after step: a loss summed
    instead of averaged (or over the wrong count) gives a step `batch size` times too long."""
    keras.utils.set_random_seed(0)
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    inputs = np.random.default_rng(0).normal(size=(8 * num_steps, 5)).astype("float32")
    labels = np.arange(8 * num_steps) % 3
    with strategy.scope():
        regularizer = keras.regularizers.L2(l2) if l2 else None
        dense = keras.layers.Dense(3, kernel_regularizer=regularizer)
        model = keras.Sequential([keras.Input((5,)), dense])
        optimizer = keras.optimizers.SGD(learning_rate=0.1)
    expected = [tf.Variable(weight) for weight in model.trainable_weights]
    for start in range(0, 8 * num_steps, 8):
        with tf.GradientTape() as tape:
            x = tf.matmul(inputs[start : start + 8], expected[0]) + expected[1]
            loss = tf.reduce_mean(per_example_loss(labels[start : start + 8], x))
            loss += l2 * tf.reduce_sum(expected[0] ** 2)
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


def test_clip_norm_scales_the_global_gradient_down_to_it():
    """With train.clip_norm an SGD step is rate * clip_norm long when the gradient is longer.
    (A step of 1e-2, not less: float32 weights near 1 measure a shorter one only to 1e-3.)"""
    keras.utils.set_random_seed(0)
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    inputs = np.random.default_rng(0).normal(size=(8, 5)).astype("float32")
    with strategy.scope():
        model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
        optimizer = keras.optimizers.SGD(learning_rate=1.0)
    before = [weight.numpy() for weight in model.trainable_weights]
    train_cfg = OmegaConf.merge(TRAIN_CFG, {"clip_norm": 1e-2})
    trainer = Trainer(strategy, model, optimizer, per_example_loss, 8, train_cfg)
    trainer.train_loop_begin(0)
    dataset = tf.data.Dataset.from_tensor_slices((inputs, np.arange(8) % 3)).batch(8)
    trainer.train(iter(dataset), 1)
    moved = [new.numpy() - old for new, old in zip(model.trainable_weights, before, strict=True)]
    assert np.sqrt(sum(np.sum(step**2) for step in moved)) == pytest.approx(1e-2, rel=1e-4)
    assert trainer.train_loop_end(1)["gradient_norm"] > 1e-1  # the clip binds
