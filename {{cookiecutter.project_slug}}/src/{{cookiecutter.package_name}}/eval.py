"""Evaluate a run directory's latest (or best) checkpoint on the test split; writes metrics.json.

    {{ cookiecutter.package_name }}-eval run_dir=runs/{{ "lenet5-digits" if cookiecutter.model_type == "cnn" else "lstm-digit_sentences" }}
    python -m {{ cookiecutter.package_name }}.eval run_dir=DIR checkpoint=best   # the best by train.monitor

The config, data assets and weights all come from the run directory; key=value overrides
given here are applied on top of the run's saved config.
"""

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import hydra
import keras
import numpy as np
import tensorflow as tf
from omegaconf import DictConfig

from . import model as model_lib
from . import runs
from .config import register_configs
from .data import data_loader, input_ops, preprocess_data

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"


def make_eval_step(
    strategy: tf.distribute.Strategy, model: keras.Model, num_classes: int
) -> Callable:
    """Returns a tf.function: batch -> (summed loss, confusion matrix) over all replicas."""
    loss_fn = model_lib.build_loss()

    def replica_step(inputs: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        logits = model(inputs, training=False)
        loss_sum = tf.reduce_sum(loss_fn(labels, logits))
        predictions = tf.argmax(logits, axis=-1, output_type=tf.int32)
        confusion = tf.math.confusion_matrix(
            labels, predictions, num_classes=num_classes, dtype=tf.int64
        )
        return loss_sum, confusion

    @tf.function
    def eval_step(batch: tuple) -> tuple[tf.Tensor, tf.Tensor]:
        loss_sum, confusion = strategy.run(replica_step, args=batch)
        return (
            strategy.reduce(tf.distribute.ReduceOp.SUM, loss_sum, axis=None),
            strategy.reduce(tf.distribute.ReduceOp.SUM, confusion, axis=None),
        )

    return eval_step


def run_evaluation(eval_step: Callable, dataset: tf.data.Dataset, num_classes: int) -> dict:
    """Runs `eval_step` over a whole (distributed) dataset.

    Returns:
        loss (mean per example), accuracy, num_examples and the confusion matrix
        (rows: true class, columns: predicted class).
    """
    total_loss = 0.0
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    for batch in dataset:
        loss_sum, batch_confusion = eval_step(batch)
        total_loss += float(loss_sum)
        confusion += batch_confusion.numpy()
    count = int(confusion.sum())
    return {
        "loss": total_loss / max(count, 1),
        "accuracy": float(np.trace(confusion)) / max(count, 1),
        "num_examples": count,
        "confusion_matrix": confusion,
    }


def per_class_report(confusion: np.ndarray, class_names: Sequence[str]) -> dict:
    """Per class: examples (support), correct predictions, predictions and accuracy."""
    report = {}
    for index, name in enumerate(class_names):
        support = int(confusion[index].sum())
        correct = int(confusion[index, index])
        report[name] = {
            "support": support,
            "correct": correct,
            "predicted": int(confusion[:, index].sum()),
            "accuracy": correct / support if support else None,
        }
    return report


def evaluate(run_dir: str | Path, overrides: Sequence[str] = ()) -> dict:
    """Evaluates the latest (or, with checkpoint=best, the best) checkpoint of `run_dir` on the
    test split.

    Args:
        run_dir: a run directory written by train.
        overrides: key=value overrides applied to the run's saved config.

    Returns:
        The metrics, also written to run_dir/metrics.json.
    """
    run_dir = Path(run_dir)
    cfg = runs.load_config(run_dir, overrides)
    metadata = runs.load_metadata(run_dir)
    records_dir, records = preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
    if records["class_names"] != metadata["class_names"]:
        raise ValueError(
            f"The test data ({records_dir}) has the classes {records['class_names']}, but the "
            f"model of {run_dir} was trained on {metadata['class_names']}. Evaluate it on data "
            "with the same classes."
        )
    model = model_lib.build_model(cfg.model, metadata)
    checkpoint = runs.restore_model(model, run_dir, cfg.checkpoint)
    example_fn = input_ops.make_example_fn(metadata, runs.assets_dir(run_dir))
    dataset = data_loader.load_split(
        records_dir,
        "test",
        records,
        example_fn,
        cfg.train.batch_size,
        training=False,
        cache="none",
    )
    num_classes = metadata["num_classes"]
    eval_step = make_eval_step(tf.distribute.get_strategy(), model, num_classes)
    results = run_evaluation(eval_step, dataset, num_classes)
    metrics = {
        "accuracy": results["accuracy"],
        "loss": results["loss"],
        "num_examples": results["num_examples"],
        "per_class": per_class_report(results["confusion_matrix"], metadata["class_names"]),
        "confusion_matrix": results["confusion_matrix"].tolist(),
        "checkpoint": checkpoint,
    }
    preprocess_data.write_json(str(run_dir / METRICS_FILE), metrics)
    log.info(
        "Test accuracy %.4f, loss %.4f on %d examples; wrote %s",
        metrics["accuracy"],
        metrics["loss"],
        metrics["num_examples"],
        run_dir / METRICS_FILE,
    )
    return metrics


@hydra.main(version_base="1.3", config_path="configs", config_name="config")
def _main(cfg: DictConfig) -> None:
    runs.setup_logging()
    with runs.exit_on_user_error():
        metrics = evaluate(cfg.run_dir, runs.command_line_overrides())
    print(json.dumps({key: metrics[key] for key in ("accuracy", "loss", "per_class")}, indent=2))


def main() -> None:
    """Console script: {{ cookiecutter.package_name }}-eval run_dir=DIR [key=value ...]"""
    register_configs()
    _main()


if __name__ == "__main__":
    main()
