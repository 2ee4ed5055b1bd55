"""Classify new inputs with an exported SavedModel alone: this module and {{ "predict_image" if cookiecutter.model_type == "cnn" else "predict_text" }}.py (which
reads the inputs) import no other project code, the template of a serving client.
{%- if cookiecutter.model_type == "cnn" %}

    {{ cookiecutter.package_name }}-predict inputs=photo.png                        # the newest export of runs/latest
    {{ cookiecutter.package_name }}-predict inputs=images/ output=predictions.csv
    {{ cookiecutter.package_name }}-predict inputs=images/ export_dir=runs/lenet5-digits/2025-01-31_12-00-00/export/1

Image files of any size (a folder: searched recursively) go through the export's serve_bytes.
{%- else %}

    {{ cookiecutter.package_name }}-predict inputs=texts.txt                        # the newest export of runs/latest
    {{ cookiecutter.package_name }}-predict inputs=data.csv column=text output=predictions.csv
    {{ cookiecutter.package_name }}-predict inputs=texts.txt export_dir=runs/lstm-digit_sentences/2025-01-31_12-00-00/export/1

A text file holds one example per line; a CSV file names its text column with column=NAME.
{%- endif %}
Without export_dir: the newest version under <run_dir>/export/. An input the export could not
read is named in a warning and left out. Output: CSV rows of input, class_name, probability,
on stdout or in output=FILE. (Accuracy on labelled data: {{ cookiecutter.package_name }}-eval data.test_path=DIR.)
"""

import csv
import os
import signal
import sys
from contextlib import nullcontext

import hydra
import tensorflow as tf
from omegaconf import DictConfig

from .{{ "predict_image" if cookiecutter.model_type == "cnn" else "predict_text" }} import SENT, SIGNATURE, SIGNATURE_INPUT, read_inputs

BATCH_SIZE = 64  # inputs per call of the export
TEXT_KEYS = ("inputs", "export_dir", "run_dir", "runs_root", "output", "column")
USAGE = "\n".join(line for line in __doc__.splitlines() if line.startswith("    "))


def find_export(export_dir: str | None, run_dir: str, runs_root: str) -> str:
    """export_dir, or the newest in <run_dir>/export/ (latest: what <runs_root>/latest names)."""
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


def predict(cfg: DictConfig) -> None:
    if not cfg.inputs:
        raise ValueError(f"inputs= is required. Usage:\n{USAGE}")
    export_dir = find_export(cfg.export_dir, cfg.run_dir, cfg.runs_root)
    signatures = tf.saved_model.load(export_dir).signatures
    if SIGNATURE not in signatures:
        raise ValueError(f"export_dir={export_dir} has no {SIGNATURE} signature for {SENT}.")
    names, inputs, left_out = read_inputs(cfg)  # checked: the export can read each one
    for name, reason in left_out.items():
        print(f"warning: left out {name}: {reason}", file=sys.stderr)
    if not inputs:
        raise ValueError(f"inputs={cfg.inputs}: nothing to classify, {len(left_out)} unreadable.")
    with tf.io.gfile.GFile(cfg.output, "w") if cfg.output else nullcontext(sys.stdout) as output:
        writer = csv.writer(output)
        writer.writerow(["input", "class_name", "probability"])
        for start in range(0, len(inputs), BATCH_SIZE):  # one call of the export a batch
            batch = slice(start, start + BATCH_SIZE)
            outputs = signatures[SIGNATURE](**{SIGNATURE_INPUT: tf.constant(inputs[batch])})
            classes = [name.decode("utf-8") for name in outputs["class_name"].numpy()]
            probabilities = [f"{p:.6f}" for p in outputs["probabilities"].numpy().max(axis=-1)]
            writer.writerows(zip(names[batch], classes, probabilities, strict=True))


@hydra.main(version_base="1.3", config_path="configs", config_name="predict")
def _main(cfg: DictConfig) -> None:
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also where a parent ignored it
    try:
        predict(cfg)
    except (ValueError, OSError, tf.errors.OpError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt as stopped:  # Ctrl-C, or stop()'s SIGTERM
        name = str(stopped) or "SIGINT"
        print(f"error: stopped by {name}; the CSV may be cut short.", file=sys.stderr)
        sys.exit(128 + signal.Signals[name])


def stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)  # as Ctrl-C: the same one line


def main() -> None:
    """Console script; each value is quoted for Hydra, which reads no emoji, comma or "(" bare."""
    for index, argument in enumerate(sys.argv[1:], 1):
        key, _, value = argument.partition("=")
        if key in TEXT_KEYS and value[:1] not in ("'", '"') and value != "null":
            escaped = value.replace("'", "\\'")
            sys.argv[index] = f"{key}='{escaped}'"  # 2024 too: a path, not a number
    _main()


if __name__ == "__main__":
    main()
