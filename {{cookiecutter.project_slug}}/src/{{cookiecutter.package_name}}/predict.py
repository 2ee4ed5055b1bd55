"""Classify new inputs with an exported SavedModel; it needs TensorFlow and nothing else.

This module imports none of the training code, so it is also the template of a serving client:
{%- if cookiecutter.model_type == "cnn" %}

    {{ cookiecutter.package_name }}-predict export_dir=runs/lenet5-digits/export/1 inputs=photo.png
    {{ cookiecutter.package_name }}-predict export_dir=DIR inputs=images/ output=predictions.csv

Image files (PNG, JPEG, BMP, GIF; any size) or a folder of them, searched recursively, go
through the ``serve_bytes`` signature. When every file sits in a folder named after one of the
model's classes (``images/<class_name>/<file>``), the accuracy is printed too.
{%- else %}

    {{ cookiecutter.package_name }}-predict export_dir=runs/lstm-digit_sentences/export/1 inputs=texts.txt
    {{ cookiecutter.package_name }}-predict export_dir=DIR inputs=data.csv column=text [label_column=label]

A text file holds one example per line; a CSV file (header row) names its text column with
``column``. With ``label_column`` the accuracy is printed too.
{%- endif %}

Output: CSV rows of ``input, class_name, probability`` on stdout, or in ``output=FILE``.
"""

import csv
{%- if cookiecutter.model_type == "rnn" %}
import io
{%- endif %}
import os
import sys
from collections.abc import Sequence

import tensorflow as tf

USAGE = __doc__.split("\n\n")[1]
{%- if cookiecutter.model_type == "cnn" %}
KEYS = ("export_dir", "inputs", "output", "batch_size")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
SIGNATURE, SIGNATURE_INPUT = "serve_bytes", "image_bytes"  # encoded files of any size
{%- else %}
KEYS = ("export_dir", "inputs", "output", "batch_size", "column", "label_column")
SIGNATURE, SIGNATURE_INPUT = "serving_default", "texts"
{%- endif %}


def parse_arguments(arguments: Sequence[str]) -> dict:
    """key=value arguments, checked against KEYS; export_dir and inputs are required."""
    options = {"output": None, "batch_size": "64"}
    for argument in arguments:
        key, separator, value = argument.partition("=")
        if not separator or key not in KEYS:
            raise ValueError(
                f"Unknown argument {argument!r}; expected key=value with key in {KEYS}."
            )
        options[key] = value
    missing = [key for key in ("export_dir", "inputs") if not options.get(key)]
    if missing:
        raise ValueError(f"Missing {', '.join(missing)}. Usage:\n{USAGE}")
    if not tf.io.gfile.exists(options["inputs"]):
        raise FileNotFoundError(f"inputs={options['inputs']} does not exist.")
    return options

{% if cookiecutter.model_type == "cnn" %}
def read_inputs(options: dict) -> tuple[list[str], list[bytes], list[str | None]]:
    """Names, encoded image bytes and (from the parent folder's name) labels of the inputs."""
    root = options["inputs"]
    if tf.io.gfile.isdir(root):
        paths = sorted(
            os.path.join(folder, name)
            for folder, _, names in tf.io.gfile.walk(root)
            for name in names
            if name.lower().endswith(IMAGE_EXTENSIONS)
        )
    else:
        paths = [root]
    if not paths:
        raise ValueError(f"inputs={root} holds no {'/'.join(IMAGE_EXTENSIONS)} files.")
    images = []
    for path in paths:
        with tf.io.gfile.GFile(path, "rb") as image_file:
            images.append(image_file.read())
    labels = [os.path.basename(os.path.dirname(path)) for path in paths]
    return paths, images, labels

{%- else %}
def read_inputs(options: dict) -> tuple[list[str], list[bytes], list[str | None]]:
    """Names, UTF-8 texts and (with label_column) labels of the inputs."""
    path = options["inputs"]
    with tf.io.gfile.GFile(path, "rb") as text_file:
        content = text_file.read().decode("utf-8-sig")
    if not options.get("column"):
        lines = [line for line in content.splitlines() if line.strip()]
        names = [f"line {number}" for number in range(1, len(lines) + 1)]
        return names, [line.encode("utf-8") for line in lines], [None] * len(lines)
    reader = csv.DictReader(io.StringIO(content, newline=""))
    for key in ("column", "label_column"):
        if options.get(key) and options[key] not in (reader.fieldnames or []):
            raise ValueError(
                f"{path} has no column {options[key]!r}; its columns are {reader.fieldnames}."
            )
    rows = list(reader)
    names = [f"row {number}" for number in range(2, len(rows) + 2)]
    texts = [row[options["column"]].encode("utf-8") for row in rows]
    labels = [
        row[options["label_column"]] if options.get("label_column") else None for row in rows
    ]
    return names, texts, labels

{%- endif %}


def classify(export_dir: str, inputs: list[bytes], batch_size: int) -> list[tuple[str, float]]:
    """(class name, probability) of each input, through the export's raw-input signature."""
    serve = tf.saved_model.load(export_dir).signatures[SIGNATURE]
    results = []
    for start in range(0, len(inputs), batch_size):
        outputs = serve(**{SIGNATURE_INPUT: tf.constant(inputs[start : start + batch_size])})
        names = [name.decode("utf-8") for name in outputs["class_name"].numpy()]
        probabilities = tf.reduce_max(outputs["probabilities"], axis=-1).numpy()
        results.extend(zip(names, probabilities.tolist(), strict=True))
    return results


def accuracy(
    results: list[tuple[str, float]], labels: list[str | None], export_dir: str
) -> float | None:
    """Share of correct predictions when every input has a label the model knows, else None."""
    with tf.io.gfile.GFile(os.path.join(export_dir, "assets", "class_names.txt")) as names_file:
        class_names = set(names_file.read().splitlines())
    if not labels or any(label not in class_names for label in labels):
        return None
    correct = sum(name == label for (name, _), label in zip(results, labels, strict=True))
    return correct / len(labels)


def main(arguments: Sequence[str] | None = None) -> int:
    """Console script: {{ cookiecutter.package_name }}-predict export_dir=DIR inputs=... [output=FILE]"""
    try:
        options = parse_arguments(sys.argv[1:] if arguments is None else arguments)
        names, inputs, labels = read_inputs(options)
        results = classify(options["export_dir"], inputs, int(options["batch_size"]))
    except (ValueError, FileNotFoundError, OSError, tf.errors.OpError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    rows = [["input", "class_name", "probability"]] + [
        [name, class_name, f"{probability:.6f}"]
        for name, (class_name, probability) in zip(names, results, strict=True)
    ]
    if options["output"]:
        with open(options["output"], "w", newline="") as output:
            csv.writer(output).writerows(rows)
    else:
        csv.writer(sys.stdout).writerows(rows)
    score = accuracy(results, labels, options["export_dir"])
    if score is not None:
        print(f"accuracy {score:.4f} on {len(labels)} labelled inputs", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
