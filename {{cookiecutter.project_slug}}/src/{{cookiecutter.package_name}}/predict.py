"""Classify new inputs with an exported SavedModel; it needs TensorFlow and nothing else.

This module and {{ "predict_image" if cookiecutter.model_type == "cnn" else "predict_text" }}.py, which reads the inputs, import none of the training code, so
they are also the template of a serving client:
{%- if cookiecutter.model_type == "cnn" %}

    {{ cookiecutter.package_name }}-predict inputs=photo.png                        # the newest export of runs/latest
    {{ cookiecutter.package_name }}-predict inputs=images/ output=predictions.csv batch_size=32
    {{ cookiecutter.package_name }}-predict inputs=images/ run_dir=runs/lenet5-digits/latest
    {{ cookiecutter.package_name }}-predict inputs=images/ export_dir=runs/lenet5-digits/2025-01-31_12-00-00/export/1

Image files (PNG, JPEG, BMP, GIF; any size) or a folder of them, searched recursively, go
through the export's ``serve_bytes`` signature. When every file sits in a folder named after one
of the model's classes (``images/<class_name>/<file>``), the accuracy is printed too.
{%- else %}

    {{ cookiecutter.package_name }}-predict inputs=texts.txt                        # the newest export of runs/latest
    {{ cookiecutter.package_name }}-predict inputs=data.csv column=text label_column=label output=predictions.csv
    {{ cookiecutter.package_name }}-predict inputs=texts.txt run_dir=runs/lstm-digit_sentences/latest
    {{ cookiecutter.package_name }}-predict inputs=texts.txt export_dir=runs/lstm-digit_sentences/2025-01-31_12-00-00/export/1

A text file holds one example per line; a CSV file (header row; the delimiter is sniffed as
training does) names its text column with ``column``. With ``label_column`` the accuracy is
printed too.
{%- endif %}

Without ``export_dir`` the newest version under ``<run_dir>/export/`` is used; ``run_dir=latest``
(the default) is the run named by the pointer file ``<runs_root>/latest``. An input that cannot be
read is named in a warning and skipped (``strict=true`` stops instead). Output: CSV rows of
``input, class_name, probability`` on stdout, or in ``output=FILE``. All options:
``{{ cookiecutter.package_name }}-predict --help``.
"""

import csv
import os
import sys
from collections.abc import Callable

import hydra
import tensorflow as tf
from omegaconf import DictConfig, OmegaConf

from .{{ "predict_image" if cookiecutter.model_type == "cnn" else "predict_text" }} import SENT, SIGNATURE, SIGNATURE_INPUT, read_inputs

# The command lines of the docstring above: what a user types.
USAGE = "\n".join(line for line in __doc__.splitlines() if line.startswith("    "))
EXPORT_DIR = "export"
LATEST_POINTER = "latest"
# Every other option is a path or a name, text even when it looks like a number (inputs=2024).
NOT_TEXT_OPTIONS = ("batch_size", "strict")


class Skipped:
    """Unreadable inputs: named in a warning and counted, or the end of the run when strict."""

    def __init__(self, strict: bool) -> None:
        self.strict, self.names = strict, []

    def add(self, name: str, reason: str | BaseException) -> None:
        if isinstance(reason, BaseException):
            reason = describe(reason)
        if self.strict:
            raise ValueError(
                f"{name} cannot be read ({reason}); fix or remove it, or leave out strict=true "
                "to skip unreadable inputs."
            )
        print(f"warning: skipped {name}: {reason}", file=sys.stderr)
        self.names.append(name)


# === Options ===


def check_options(cfg: DictConfig) -> None:
    """Fails early, with the value and what to type instead, on options that cannot work."""
    if not cfg.inputs:
        raise ValueError(f"inputs= is required. Usage:\n{USAGE}")
    if not tf.io.gfile.exists(cfg.inputs):
        raise FileNotFoundError(f"inputs={cfg.inputs} does not exist.")
    size = cfg.batch_size
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"batch_size={size} must be a whole number >= 1, e.g. batch_size=64.")
    if not isinstance(cfg.strict, bool):
        raise ValueError(f"strict={cfg.strict} must be true or false.")
    folder = os.path.dirname(cfg.output or "") or "."
    if cfg.output and not tf.io.gfile.isdir(folder):
        raise FileNotFoundError(f"output={cfg.output}: the folder {folder} does not exist.")


def resolve_run_dir(run_dir: str, runs_root: str) -> str:
    """A run folder from `latest`, a run folder, or a pointer file (one line: a path relative
    to the pointer's folder)."""
    path = os.path.join(runs_root, LATEST_POINTER) if run_dir == LATEST_POINTER else run_dir
    if tf.io.gfile.isdir(path):
        return path
    if not tf.io.gfile.exists(path):
        where = f"runs_root={runs_root} has no pointer {path}" if run_dir == LATEST_POINTER else ""
        raise FileNotFoundError(
            f"run_dir={run_dir}: {where or f'{path} does not exist'}. Train a run first, or give "
            "run_dir=DIR (a run folder) or export_dir=DIR (a SavedModel)."
        )
    with tf.io.gfile.GFile(path) as pointer:
        target = os.path.join(os.path.dirname(path), pointer.read().strip())
    if not tf.io.gfile.isdir(target):
        raise FileNotFoundError(
            f"run_dir={run_dir}: the pointer {path} names {target}, which is gone."
        )
    return target


def resolve_export_dir(cfg: DictConfig) -> str:
    """export_dir when given, else the highest numbered version under <run_dir>/export/."""
    if cfg.export_dir:
        return cfg.export_dir
    run_dir = resolve_run_dir(str(cfg.run_dir), cfg.runs_root)
    root = os.path.join(run_dir, EXPORT_DIR)
    names = [name.rstrip("/") for name in tf.io.gfile.glob(os.path.join(root, "*"))]
    versions = [os.path.basename(name) for name in names if os.path.basename(name).isdigit()]
    if not versions:
        raise FileNotFoundError(
            f"{run_dir} has no export under {root}; run "
            f"{{ cookiecutter.package_name }}-export run_dir={run_dir} first, or give export_dir=DIR."
        )
    return os.path.join(root, max(versions, key=int))


def load_signature(export_dir: str) -> Callable:
    """The export's signature this client calls; another model kind's export is refused."""
    try:
        signatures = tf.saved_model.load(export_dir).signatures
    except (OSError, ValueError, tf.errors.OpError) as error:
        raise ValueError(
            f"export_dir={export_dir} is not a loadable SavedModel ({describe(error)})."
        ) from error
    inputs = {
        name: sorted(function.structured_input_signature[1])
        for name, function in signatures.items()
    }
    if SIGNATURE_INPUT not in inputs.get(SIGNATURE, []):
        takes = ", ".join(f"{name}({', '.join(keys)})" for name, keys in inputs.items())
        raise ValueError(
            f"export_dir={export_dir} expects {takes or 'no signature'}, not {SENT} through "
            f"{SIGNATURE}({SIGNATURE_INPUT}): it is the export of another kind of model, so "
            "classify with the project that trained it."
        )
    return signatures[SIGNATURE]


# === Classification ===


def classify(
    serve: Callable, names: list[str], inputs: list[bytes], batch_size: int, skipped: Skipped
) -> list[tuple[str, float] | None]:
    """(class name, probability) of each input, or None for one the export cannot take.

    A batch that fails is retried input by input, so that one unreadable input costs only
    itself.
    """

    def run(batch: list[bytes]) -> list[tuple[str, float]]:
        outputs = serve(**{SIGNATURE_INPUT: tf.constant(batch)})
        classes = [name.decode("utf-8") for name in outputs["class_name"].numpy()]
        probabilities = tf.reduce_max(outputs["probabilities"], axis=-1).numpy().tolist()
        return list(zip(classes, probabilities, strict=True))

    results: list[tuple[str, float] | None] = []
    for start in range(0, len(inputs), batch_size):
        batch = inputs[start : start + batch_size]
        try:
            results.extend(run(batch))
            continue
        except tf.errors.InvalidArgumentError:
            pass
        for name, raw in zip(names[start : start + batch_size], batch, strict=True):
            try:
                results.extend(run([raw]))
            except tf.errors.InvalidArgumentError as error:
                skipped.add(name, describe(error))
                results.append(None)
    return results


def describe(error: BaseException) -> str:
    """An error in one line: TensorFlow's own message, without the graph's stack around it."""
    message = error.message if isinstance(error, tf.errors.OpError) else str(error)
    lines = [line.strip() for line in message.splitlines()]
    lines = [line for line in lines if line and not line.startswith("[[")]
    if not isinstance(error, tf.errors.OpError):
        return lines[0] if lines else type(error).__name__
    text = lines[-1] if lines else type(error).__name__
    if text.startswith("{"):  # eager ops: the function node in double braces, message, [Op:Name]
        text = text.split("}} ", 1)[-1]
    return text.split(" [Op:")[0]


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


def predict(cfg: DictConfig) -> dict:
    """Classifies cfg.inputs with an export and writes the CSV.

    Returns:
        export_dir, predicted (the count), skipped (names of unreadable inputs) and accuracy
        (None without known labels).

    Raises:
        ValueError, FileNotFoundError: on options or inputs that cannot work; with strict=true
            on the first unreadable input.
    """
    texts = {k: str(v) for k, v in cfg.items() if k not in NOT_TEXT_OPTIONS and v is not None}
    cfg = OmegaConf.merge(cfg, texts)
    check_options(cfg)
    export_dir = resolve_export_dir(cfg)
    serve = load_signature(export_dir)
    skipped = Skipped(cfg.strict)
    names, inputs, labels = read_inputs(cfg, skipped.add)
    results = classify(serve, names, inputs, cfg.batch_size, skipped)
    kept = [
        (name, result, label)
        for name, result, label in zip(names, results, labels, strict=True)
        if result is not None
    ]
    if not kept:
        unreadable = f": its {len(skipped.names)} input(s) cannot be read" if skipped.names else ""
        raise ValueError(f"inputs={cfg.inputs}: nothing to classify{unreadable}.")
    rows = [[name, class_name, f"{score:.6f}"] for name, (class_name, score), _ in kept]
    table = [["input", "class_name", "probability"], *rows]
    if cfg.output:
        with tf.io.gfile.GFile(cfg.output, "w") as output:
            csv.writer(output).writerows(table)
    else:
        csv.writer(sys.stdout).writerows(table)
    if skipped.names:
        print(
            f"warning: skipped {len(skipped.names)} of {len(kept) + len(skipped.names)} inputs "
            "that could not be read (named above); strict=true stops at the first one instead.",
            file=sys.stderr,
        )
    score = accuracy([result for _, result, _ in kept], [label for *_, label in kept], export_dir)
    if score is not None:
        print(f"accuracy {score:.4f} on {len(kept)} labelled inputs", file=sys.stderr)
    return {
        "export_dir": export_dir,
        "predicted": len(kept),
        "skipped": skipped.names,
        "accuracy": score,
    }


@hydra.main(version_base="1.3", config_path="configs", config_name="predict")
def _main(cfg: DictConfig) -> None:
    try:
        predict(cfg)
    except (ValueError, OSError, tf.errors.OpError) as error:
        # ours are one line (the usage follows the missing-inputs one); TensorFlow's are cut
        message = describe(error) if isinstance(error, tf.errors.OpError) else error
        print(f"error: {message}", file=sys.stderr)
        sys.exit(1)


def main() -> None:
    """Console script: {{ cookiecutter.package_name }}-predict inputs=... [run_dir=DIR|export_dir=DIR] [output=FILE]"""
    _main()


if __name__ == "__main__":
    main()
