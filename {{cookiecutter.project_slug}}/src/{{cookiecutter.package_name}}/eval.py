"""Evaluate a run's latest (or best) checkpoint on its test split; writes metrics.json and report.md.

    {{ cookiecutter.package_name }}-eval                                  # the newest run: runs/latest
    {{ cookiecutter.package_name }}-eval run_dir=runs/DIR checkpoint=best # the best by train.monitor
    {{ cookiecutter.package_name }}-eval data.test_path=other_test_data/  # other test data, same classes

The config, data assets and weights all come from the run directory (configs/eval.yaml lists
this command's own few options); training overrides given to it are ignored with a note.
"""

import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path

import hydra
import keras
import numpy as np
import tensorflow as tf
from omegaconf import DictConfig
from sklearn.metrics import confusion_matrix

from . import checkpoints as checkpoints_lib
from . import cli, distribute, jsonio, report, runs
from . import model as model_lib
from .config import register_configs
from .data import data_loader, input_ops
from .data.metadata import Metadata
{%- if cookiecutter.tracking == "mlflow" %}
from .mlflow_tracking import log_artifacts
{%- endif %}

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
KNOWN_KEYS = ("run_dir", "runs_root", "checkpoint", "batch_size", "data.test_path")


def predict_test_split(
    model: keras.Model,
    records_dir: str,
    records: Metadata,
    example_fn: Callable[[tf.Tensor], tf.Tensor],
    batch_size: int,
) -> tuple[list[bytes], np.ndarray, np.ndarray]:
    """(raw inputs, labels, probabilities) of every test example, in file order."""
    shards = data_loader.list_shards(records_dir, "test", records)
    dataset = (
        tf.data.TFRecordDataset(shards)
        .map(input_ops.parse_example)
        .map(lambda raw, label: (example_fn(raw), label, raw), num_parallel_calls=tf.data.AUTOTUNE)
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
    predict = tf.function(lambda inputs: tf.nn.softmax(model(inputs, training=False), axis=-1))
    raw_inputs, labels, probabilities = [], [], []
    for inputs, batch_labels, raws in dataset:
        probabilities.append(predict(inputs).numpy())
        labels.append(batch_labels.numpy())
        raw_inputs.extend(raws.numpy())
    if not raw_inputs:
        raise ValueError(f"The test split of {records_dir} is empty: nothing to evaluate.")
    return raw_inputs, np.concatenate(labels), np.concatenate(probabilities).astype(np.float64)


def split_metrics(labels: np.ndarray, probabilities: np.ndarray, class_names: list[str]) -> dict:
    """What metrics.json holds of predicted class `probabilities` of examples of true class
    `labels`: report.classification_metrics, the mean cross-entropy and the confusion matrix."""
    predictions = probabilities.argmax(axis=-1)
    confusion = confusion_matrix(labels, predictions, labels=range(len(class_names)))
    true_probabilities = probabilities[np.arange(len(labels)), labels]
    return {
        **report.classification_metrics(confusion, class_names),
        "loss": float(-np.log(np.maximum(true_probabilities, 1e-12)).mean()),
        "num_examples": len(labels),
        "confusion_matrix": confusion.tolist(),
    }


def evaluate(
    run_dir: str | Path,
    checkpoint: str = "latest",
    test_path: str | None = None,
    batch_size: int | None = None,
) -> dict:
    """Evaluates the latest (or best) checkpoint of `run_dir` on its test split.

    Args:
        run_dir: a run directory written by train.
        checkpoint: latest, or best (by the run's train.monitor).
        test_path: other test data, read with the run's data config; None: the run's own.
        batch_size: None: the run's train.batch_size.

    Returns:
        The metrics, also written to run_dir/metrics.json; report.md goes beside it.
    """
    run_dir = Path(run_dir)
    cfg, metadata = runs.load_config(run_dir), runs.load_metadata(run_dir)
    records_dir, records = runs.run_records(cfg, metadata, test_path)
    class_names = metadata.class_names
    if records.class_names != class_names:
        raise ValueError(
            f"The test data ({records_dir}) has the classes {records.class_names}, but the "
            f"model of {run_dir} was trained on {class_names}. Evaluate it on data "
            "with the same classes."
        )
    model = model_lib.build_model(cfg.model, metadata)
    checkpoint_path = checkpoints_lib.restore_model(model, run_dir, checkpoint)
    example_fn = input_ops.make_example_fn(metadata, runs.assets_dir(run_dir))
    raw_inputs, labels, probabilities = predict_test_split(
        model, records_dir, records, example_fn, batch_size or cfg.train.batch_size
    )
    metrics = split_metrics(labels, probabilities, class_names)
    metrics.update(checkpoint=checkpoint_path, test_data=test_path or "the run's test split")
    jsonio.write_json(run_dir / METRICS_FILE, metrics)
    wrong = report.most_confident_errors(labels, probabilities, class_names)
    for example in wrong:  # the raw input as a person looks at it
{%- if cookiecutter.model_type == "cnn" %}
        raw, channels = raw_inputs[example["index"]], metadata.input_shape[-1]
        example["input"] = input_ops.decode_image(raw, channels).numpy()
{%- else %}
        example["input"] = raw_inputs[example["index"]].decode("utf-8", errors="replace")
{%- endif %}
    report_file = report.write_report(run_dir, metrics, class_names, wrong)
{%- if cookiecutter.tracking == "mlflow" %}
    log_artifacts(run_dir, [run_dir / METRICS_FILE, report_file])
{%- endif %}
    per_class = report.per_class_table(metrics["per_class"])
    log.info("Wrote %s and %s\n%s", run_dir / METRICS_FILE, report_file, per_class)
    return metrics


@hydra.main(version_base="1.3", config_path="configs", config_name="eval")
def _main(cfg: DictConfig) -> None:
    cli.setup_logging()
    with cli.exit_on_user_error():
        metrics = evaluate(
            runs.resolve_run_dir(cfg.run_dir, cfg.runs_root),
            cfg.checkpoint,
            cfg.data.test_path,
            cfg.batch_size,
        )
    summary = ("accuracy", "macro_f1", "weighted_f1", "loss", "num_examples")
    print(json.dumps({key: metrics[key] for key in summary}, indent=2))


def main() -> None:
    """Console script: {{ cookiecutter.package_name }}-eval [run_dir=DIR|latest] [checkpoint=best]"""
    cli.setup_logging()
    distribute.probe_devices()  # first: without an NVIDIA GPU it mutes CUDA's start-up errors
    sys.argv[1:] = cli.keep_known_overrides(sys.argv[1:], KNOWN_KEYS)
    register_configs()
    _main()


if __name__ == "__main__":
    main()
