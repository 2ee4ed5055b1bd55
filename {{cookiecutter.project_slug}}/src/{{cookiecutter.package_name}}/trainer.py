"""The compiled side of training (orbit's StandardTrainer and StandardEvaluator), under any
tf.distribute strategy: `num_steps` train steps or a validation pass per tf.function call."""

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial

import keras
import numpy as np
import tensorflow as tf

from . import distribute, report
from .data import data_loader

log = logging.getLogger(__name__)


@dataclass
class Datasets:
    train: tf.distribute.DistributedDataset  # endless
    validation: tf.distribute.DistributedDataset  # repeated: one iterator serves every pass
    validation_steps: int  # global batches in one pass


def distributed_datasets(
    strategy: tf.distribute.Strategy, spec: data_loader.InputSpec, batch_size: int, step: int
) -> Datasets:
    """Training from `step` on, and validation padded (weight 0) to full batches per replica."""

    def make(context: tf.distribute.InputContext, training: bool) -> tf.data.Dataset:
        split = "train" if training else "validation"
        options = {"input_context": context, "examples_fed": step * batch_size}
        options["pad_to_full_batches"] = not training
        size = context.get_per_replica_batch_size(batch_size)
        dataset = data_loader.load_split(spec, split, size, training=training, **options)
        return dataset if training else dataset.repeat()

    # No per-device buffer when every device is a CPU: the batches are on the host already,
    # and its autotuning thread made the end of a run wait for seconds.
    options = None
    if all("CPU" in name.upper() for name in strategy.extended.worker_devices):
        options = tf.distribute.InputOptions(experimental_per_replica_buffer_size=0)
    train, validation = (
        strategy.distribute_datasets_from_function(partial(make, training=training), options)
        for training in (True, False)
    )
    # Padded to whole global batches (load_split): a step takes one batch from every replica.
    validation_steps = -(-spec.metadata.counts["validation"]["total"] // batch_size)
    return Datasets(train, validation, validation_steps)


class Trainer:
    """Synchronous train steps on every replica, `num_steps` per call (train.steps_per_loop);
    the loss is divided by the global batch size, so it is the same under every strategy."""

    def __init__(self, strategy, model, optimizer, loss_fn, global_batch_size, train_cfg):
        self.strategy, self.model, self.optimizer = strategy, model, optimizer
        self.loss_fn, self.global_batch_size = loss_fn, global_batch_size  # model.build_loss's
        self.clip_norm, jit_compile = train_cfg.clip_norm, train_cfg.jit_compile
        # `auto`: XLA on a GPU, unless the run is deterministic.
        xla = distribute.resolve_switch(jit_compile, "train.jit_compile")
        self.jit_compile = xla and (jit_compile is True or not train_cfg.deterministic)
{%- if cookiecutter.model_type == "rnn" %}
        if self.jit_compile and any(x.dtype == "string" for x in model.inputs):
            log.warning("XLA compiles no string op: train.jit_compile is off for this net")
            self.jit_compile = False
{%- endif %}
        log.info("Train step with XLA: %s", self.jit_compile)
        with strategy.scope():  # the running training metrics, aggregated over replicas
            self.metrics = {"loss": keras.metrics.Mean(), "gradient_norm": keras.metrics.Mean()}
            self.metrics["accuracy"] = keras.metrics.SparseCategoricalAccuracy()
        self.train_loop{{ ", self.phase = None, None" if cookiecutter.model_type == "cnn" else " = None" }}

    def train_loop_begin(self, epoch: int) -> None:
        """Resets the running metrics{{ "; sets the epoch's fine-tune phase (models.FineTune)" if cookiecutter.model_type == "cnn" }}."""
        for metric in self.metrics.values():
            metric.reset_state()
{%- if cookiecutter.model_type == "cnn" %}
        fine_tune = getattr(self.model, "fine_tune", None)
        phase = fine_tune and int(epoch >= fine_tune.freeze_epochs)
        if fine_tune is not None and phase != self.phase:
            self.phase, self.train_loop = phase, None  # traced again, for the weights that train
            fine_tune.set_trainable(self.model, bool(phase))
            count = len(self.model.trainable_weights)
            log.info("Epoch %d: fine-tune phase %d, %d weights train", epoch + 1, phase + 1, count)
{%- endif %}

    def train_loop_end(self, step: int) -> dict[str, float]:
        """The running training metrics, checked before anything is logged or saved."""
        values = {name: float(metric.result()) for name, metric in self.metrics.items()}
        if not np.isfinite(values["loss"]):
            raise FloatingPointError(
                f"The training loss became {values['loss']} by step {step}; the run stopped "
                "and saved nothing after it. Lower train.learning_rate, set train.clip_norm, "
                "or check the data."
            )
        return values

    def train(self, iterator: Iterator, num_steps: int) -> None:  # in one call
        if self.train_loop is None:
            compiled = tf.function(self.replica_step, jit_compile=True)
            replica_step = compiled if self.jit_compile else self.replica_step

            @tf.function
            def train_loop(iterator: Iterator, num_steps: tf.Tensor) -> None:
                for _ in tf.range(num_steps):
                    self.strategy.run(replica_step, args=next(iterator))

            self.train_loop = train_loop
        self.train_loop(iterator, tf.constant(num_steps))

    def replica_step(self, inputs: tf.Tensor, labels: tf.Tensor) -> None:  # of a step
        model, optimizer, variables = self.model, self.optimizer, self.model.trainable_variables
        with tf.GradientTape() as tape:
            logits = model(inputs, training=True)
            losses = self.loss_fn(labels, logits)  # per example
            loss = tf.nn.compute_average_loss(losses, global_batch_size=self.global_batch_size)
            if model.losses:  # the net's own regularizers
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
            scaled_loss = optimizer.scale_loss(loss)
        # The gradient of the whole global batch, summed over replicas once here so that it is
        # clipped and measured whole (Keras would clip each replica's part). Dense, because
        # Keras' Adam squares a sparse gradient (of a lookup table) row by row, duplicates apart.
        context = tf.distribute.get_replica_context()
        gradients = tape.gradient(scaled_loss, variables)
        gradients = context.all_reduce(tf.distribute.ReduceOp.SUM, gradients)
        gradients = [tf.convert_to_tensor(gradient) for gradient in gradients]
        loss_scale = optimizer.scale_loss(tf.constant(1.0))  # > 1 with float16 loss scaling
        norm = tf.linalg.global_norm(gradients)
        if self.clip_norm:
            gradients, _ = tf.clip_by_global_norm(gradients, self.clip_norm * loss_scale, norm)
        # The optimizer sums over replicas again: give each replica an equal share.
        shares = [gradient / context.num_replicas_in_sync for gradient in gradients]
        optimizer.apply_gradients(zip(shares, variables, strict=True))
        self.metrics["loss"].update_state(losses)  # weighted, as it is optimised
        self.metrics["accuracy"].update_state(labels, logits)
        self.metrics["gradient_norm"].update_state(norm / loss_scale)


def make_evaluator(
    strategy: tf.distribute.Strategy, model: keras.Model, class_names: Sequence[str]
) -> Callable[[Iterator, int], dict]:
    """evaluate(iterator, num_steps) of validation and eval: cross-entropy (whatever trains, so
    runs compare), accuracy, macro_f1, per_class, num_examples, confusion matrix (rows: true)."""
    num_classes = len(class_names)

    def replica_step(inputs: tf.Tensor, labels: tf.Tensor, weights: tf.Tensor | None = None):
        logits = tf.cast(model(inputs, training=False), tf.float32)
        losses = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        weights = tf.ones_like(losses) if weights is None else weights  # padding's: 0
        predictions = tf.argmax(logits, axis=-1, output_type=tf.int32)
        confusion = tf.math.confusion_matrix(
            labels, predictions, num_classes=num_classes, weights=weights, dtype=tf.int64
        )
        return tf.cast(tf.reduce_sum(losses * weights), tf.float64), confusion

    @tf.function
    def evaluate_loop(iterator: Iterator, num_steps: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        loss_sum, confusion = tf.constant(0.0, tf.float64), tf.zeros([num_classes] * 2, tf.int64)
        for _ in tf.range(num_steps):
            batch_loss, batch_confusion = strategy.run(replica_step, args=next(iterator))
            loss_sum += strategy.reduce(tf.distribute.ReduceOp.SUM, batch_loss, axis=None)
            confusion += strategy.reduce(tf.distribute.ReduceOp.SUM, batch_confusion, axis=None)
        return loss_sum, confusion

    def evaluate(iterator: Iterator, num_steps: int) -> dict:
        loss_sum, confusion = evaluate_loop(iterator, tf.constant(num_steps))
        confusion = confusion.numpy().tolist()  # plain ints, as metrics.json holds them
        scores = report.classification_metrics(confusion, class_names)
        count = int(np.sum(confusion))
        loss = max(0.0, float(loss_sum) / max(count, 1))  # never -0.0
        return {"loss": loss, **scores, "num_examples": count, "confusion_matrix": confusion}

    return evaluate
