"""Classify new inputs with an exported SavedModel alone. This module and {{ "predict_image" if cookiecutter.model_type == "cnn" else "predict_text" }}.py
(which reads the inputs) import no other project code: they are the template of a serving client.
{%- if cookiecutter.model_type == "cnn" %}

    {{ cookiecutter.package_name }}-predict inputs=photo.png                        # the newest export of runs/latest
    {{ cookiecutter.package_name }}-predict inputs=images/ output=predictions.csv batch_size=32
    {{ cookiecutter.package_name }}-predict inputs=images/ export_dir=runs/lenet5-digits/2025-01-31_12-00-00/export/1

Image files of any size, or a folder searched recursively, go through the export's
``serve_bytes``; when every file sits in a folder named after a class, the accuracy is printed.
{%- else %}

    {{ cookiecutter.package_name }}-predict inputs=texts.txt                        # the newest export of runs/latest
    {{ cookiecutter.package_name }}-predict inputs=data.csv column=text label_column=label output=predictions.csv
    {{ cookiecutter.package_name }}-predict inputs=texts.txt export_dir=runs/lstm-digit_sentences/2025-01-31_12-00-00/export/1

A text file holds one example per line; a CSV file (delimiter sniffed as training does) names
its text column with ``column``. With ``label_column`` the accuracy is printed too.
{%- endif %}

Without ``export_dir``: the newest version under ``<run_dir>/export/`` (``run_dir=latest``: the
run ``<runs_root>/latest`` names). An unreadable input is named and skipped (``strict=true``
stops). Output: CSV rows of input, class_name, probability on stdout or in ``output=FILE``.
"""

import csv
import os
import sys
from collections.abc import Callable
from contextlib import nullcontext

import hydra
import tensorflow as tf
from omegaconf import DictConfig, OmegaConf

from .{{ "predict_image" if cookiecutter.model_type == "cnn" else "predict_text" }} import SENT, SIGNATURE, SIGNATURE_INPUT, read_inputs

USAGE = "\n".join(line for line in __doc__.splitlines() if line.startswith("    "))


def find_export(export_dir: str | None, run_dir: str, runs_root: str) -> str:
    """export_dir, or the newest version under <run_dir>/export/, where run_dir=latest is
    what the pointer file <runs_root>/latest names (a path relative to its folder)."""
    if export_dir:
        return export_dir
    path = os.path.join(runs_root, "latest") if run_dir == "latest" else run_dir
    if tf.io.gfile.exists(path) and not tf.io.gfile.isdir(path):  # a pointer file
        with tf.io.gfile.GFile(path) as pointer:
            path = os.path.join(os.path.dirname(path), pointer.read().strip())
    root = os.path.join(path, "export")
    names = tf.io.gfile.listdir(root) if tf.io.gfile.isdir(root) else []
    versions = [name.rstrip("/") for name in names if name.rstrip("/").isdigit()]
    if not versions:
        raise FileNotFoundError(
            f"run_dir={run_dir}: there is no export under {root}. Train and export a run "
            "first, or give run_dir=DIR (a run folder) or export_dir=DIR (a SavedModel)."
        )
    return os.path.join(root, max(versions, key=int))


def describe(error: BaseException | str) -> str:
    """An error as text; TensorFlow's in one line, without the graph's stack around it."""
    if not isinstance(error, tf.errors.OpError):
        return str(error)
    lines = [line.strip() for line in error.message.splitlines()]
    lines = [line for line in lines if line and not line.startswith("[[")] or [repr(error)]
    # An eager op's: its function node in double braces, the message, [Op:Name].
    return lines[-1].split("}} ", 1)[-1].split(" [Op:")[0]


def classify(
    serve: Callable, names: list[str], inputs: list[bytes], batch_size: int, skip: Callable
) -> list[tuple[str, float] | None]:
    """(class name, probability) of each input, or None for one the export cannot read. A batch
    that fails is retried input by input, so that an unreadable input costs only itself."""

    def run(batch: list[bytes]) -> list[tuple[str, float]]:
        outputs = serve(**{SIGNATURE_INPUT: tf.constant(batch)})
        classes = [name.decode("utf-8") for name in outputs["class_name"].numpy()]
        probabilities = tf.reduce_max(outputs["probabilities"], axis=-1).numpy().tolist()
        return list(zip(classes, probabilities, strict=True))

    results = []
    for start in range(0, len(inputs), batch_size):
        try:
            results += run(inputs[start : start + batch_size])
        except tf.errors.InvalidArgumentError:
            for index in range(start, min(start + batch_size, len(inputs))):
                try:
                    results += run([inputs[index]])
                except tf.errors.InvalidArgumentError as error:
                    skip(names[index], error)
                    results.append(None)
    return results


def predict(cfg: DictConfig) -> dict:
    """Classifies cfg.inputs with an export and writes the CSV; returns export_dir, predicted
    (a count), skipped (names of unreadable inputs) and accuracy (None without labels)."""
    texts = [key for key, value in cfg.items() if key not in ("batch_size", "strict") and value]
    cfg = OmegaConf.merge(cfg, {key: str(cfg[key]) for key in texts})  # inputs=2024: a path
    if not cfg.inputs:
        raise ValueError(f"inputs= is required. Usage:\n{USAGE}")
    if not tf.io.gfile.exists(cfg.inputs):
        raise FileNotFoundError(f"inputs={cfg.inputs} does not exist.")
    if not isinstance(cfg.batch_size, int) or cfg.batch_size < 1:
        raise ValueError(f"batch_size={cfg.batch_size} must be a whole number >= 1, e.g. 64.")
    if not isinstance(cfg.strict, bool):
        raise ValueError(f"strict={cfg.strict} must be true or false.")
    export_dir = find_export(cfg.export_dir, cfg.run_dir, cfg.runs_root)
    signatures = tf.saved_model.load(export_dir).signatures
    if SIGNATURE not in signatures:
        raise ValueError(f"export_dir={export_dir} has no {SIGNATURE} signature for {SENT}.")
    skipped = []

    def skip(name: str, reason: BaseException | str) -> None:
        if cfg.strict:
            raise ValueError(
                f"{name} cannot be read ({describe(reason)}); fix or remove it, or leave out "
                "strict=true to skip unreadable inputs."
            )
        print(f"warning: skipped {name}: {describe(reason)}", file=sys.stderr)
        skipped.append(name)

    names, inputs, labels = read_inputs(cfg, skip)
    results = classify(signatures[SIGNATURE], names, inputs, cfg.batch_size, skip)
    kept = [
        (name, *result, label)  # name, class name, probability, label
        for name, result, label in zip(names, results, labels, strict=True)
        if result is not None
    ]
    if not kept:
        raise ValueError(f"inputs={cfg.inputs}: nothing to classify, {len(skipped)} unreadable.")
    with tf.io.gfile.GFile(cfg.output, "w") if cfg.output else nullcontext(sys.stdout) as output:
        writer = csv.writer(output)
        writer.writerow(["input", "class_name", "probability"])
        for name, class_name, probability, _ in kept:
            writer.writerow([name, class_name, f"{probability:.6f}"])
    if skipped:
        total = len(kept) + len(skipped)
        print(f"warning: skipped {len(skipped)} of {total} inputs (named above)", file=sys.stderr)
    accuracy = labelled_accuracy([(row[1], row[3]) for row in kept], export_dir)
    return dict(export_dir=export_dir, predicted=len(kept), skipped=skipped, accuracy=accuracy)


def labelled_accuracy(predictions: list[tuple[str, str | None]], export_dir: str) -> float | None:
    """The share of (predicted class, label) pairs that agree, printed; None unless every label
    is a class of the model."""
    with tf.io.gfile.GFile(os.path.join(export_dir, "assets", "class_names.txt")) as names_file:
        class_names = set(names_file.read().splitlines())
    if not all(label in class_names for _, label in predictions):
        return None
    accuracy = sum(predicted == label for predicted, label in predictions) / len(predictions)
    print(f"accuracy {accuracy:.4f} on {len(predictions)} labelled inputs", file=sys.stderr)
    return accuracy


@hydra.main(version_base="1.3", config_path="configs", config_name="predict")
def _main(cfg: DictConfig) -> None:
    try:
        predict(cfg)
    except (ValueError, OSError, tf.errors.OpError) as error:
        print(f"error: {describe(error)}", file=sys.stderr)
        sys.exit(1)


def main() -> None:
    """Console script: {{ cookiecutter.package_name }}-predict inputs=... [run_dir=DIR|export_dir=DIR] [output=FILE]"""
    _main()


if __name__ == "__main__":
    main()
