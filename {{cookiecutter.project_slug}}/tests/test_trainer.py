"""trainer.py: the compiled train step, checked against the update worked out by hand."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from omegaconf import OmegaConf

from {{ cookiecutter.package_name }}.trainer import Trainer


def per_example_loss(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    return keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)


@pytest.mark.parametrize("num_steps, l2, clip", [(1, 0, 0), (3, 0, 0), (2, 0.5, 0), (2, 0, 1e-2)])
def test_a_step_is_sgd_on_the_mean_loss_of_the_global_batch(num_steps, l2, clip):
    """w <- w - rate * d(mean loss + the net's own penalties)/dw, step after step, the gradient
    scaled down to train.clip_norm if longer: a loss summed instead of averaged (or over the
    wrong count) gives a step `batch size` times too long."""
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
    losses, norms = [], []  # of each step, for the running metrics
    for start in range(0, 8 * num_steps, 8):
        with tf.GradientTape() as tape:
            x = tf.matmul(inputs[start : start + 8], expected[0]) + expected[1]
            losses.append(tf.reduce_mean(per_example_loss(labels[start : start + 8], x)))
            loss = losses[-1] + l2 * tf.reduce_sum(expected[0] ** 2)
        gradients = tape.gradient(loss, expected)
        norms.append(tf.linalg.global_norm(gradients))
        if clip:
            assert norms[-1] > 10 * clip  # the clip binds
            gradients, _ = tf.clip_by_global_norm(gradients, clip)
        for weight, gradient in zip(expected, gradients, strict=True):
            weight.assign_sub(0.1 * gradient)

    train_cfg = OmegaConf.create({"clip_norm": clip, "jit_compile": False, "deterministic": True})
    trainer = Trainer(strategy, model, optimizer, per_example_loss, 8, train_cfg)
    dataset = tf.data.Dataset.from_tensor_slices((inputs, labels)).batch(8)
    trainer.train_loop_begin(0)
    trainer.train(iter(dataset), num_steps)

    for weight, want in zip(model.trainable_weights, expected, strict=True):
        np.testing.assert_allclose(weight.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)
    assert int(optimizer.iterations.numpy()) == num_steps
    values = trainer.train_loop_end(1)
    assert values["loss"] == pytest.approx(np.mean(losses), rel=1e-5)
    assert values["gradient_norm"] == pytest.approx(np.mean(norms), rel=1e-4)
