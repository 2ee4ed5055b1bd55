"""Classify new inputs with an exported SavedModel; it needs TensorFlow and nothing else.

This module imports none of the training code, so it is also the template of a serving client:
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
{%- if cookiecutter.model_type == "rnn" %}
import io
{%- endif %}
import os
import sys
from collections.abc import Callable, Sequence

import hydra
import tensorflow as tf
from omegaconf import DictConfig, OmegaConf

# The command lines of the docstring above: what a user types.
USAGE = "\n".join(line for line in __doc__.splitlines() if line.startswith("    "))
EXPORT_DIR = "export"
LATEST_POINTER = "latest"
TEXT_OPTIONS = ("inputs", "export_dir", "run_dir", "runs_root", "output"{{ ', "column", "label_column"' if cookiecutter.model_type == "rnn" else "" }})
{%- if cookiecutter.model_type == "cnn" %}
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
# encoded files of any size; serving_default(images) takes decoded images of one size
SIGNATURE, SIGNATURE_INPUT, SENT = "serve_bytes", "image_bytes", "image files"
{%- else %}
SIGNATURE, SIGNATURE_INPUT, SENT = "serving_default", "texts", "texts"
{%- endif %}

Inputs = tuple[list[str], list[bytes], list[str | None]]  # names, raw inputs, labels


class Skipped:
    """Unreadable inputs: named in a warning and counted, or the end of the run when strict."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.names: list[str] = []

    def add(self, name: str, reason: str) -> None:
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
    batch_size = cfg.batch_size
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(
            f"batch_size={batch_size} must be a whole number >= 1, e.g. batch_size=64."
        )
    if not isinstance(cfg.strict, bool):
        raise ValueError(f"strict={cfg.strict} must be true or false.")
    if cfg.output:
        folder = os.path.dirname(cfg.output) or "."
        if not tf.io.gfile.isdir(folder):
            raise FileNotFoundError(
                f"output={cfg.output}: the folder {folder} does not exist; create it first."
            )
{%- if cookiecutter.model_type == "rnn" %}
    if cfg.label_column and not cfg.column:
        raise ValueError(f"label_column={cfg.label_column} needs column=NAME, the text column.")
{%- endif %}


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
    versions = [
        name.rstrip("/")
        for name in (tf.io.gfile.listdir(root) if tf.io.gfile.isdir(root) else [])
        if name.rstrip("/").isdigit()
    ]
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


# === Inputs ===

{% if cookiecutter.model_type == "cnn" %}
def read_inputs(cfg: DictConfig, skipped: Skipped) -> Inputs:
    """Names, encoded image bytes and (the parent folder's name) labels of the inputs."""
    root = cfg.inputs
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
    names, images, labels = [], [], []
    for path in paths:
        try:
            with tf.io.gfile.GFile(path, "rb") as image_file:
                images.append(image_file.read())
        except (OSError, tf.errors.OpError) as error:
            skipped.add(path, describe(error))
            continue
        names.append(path)
        labels.append(os.path.basename(os.path.dirname(path)))
    return names, images, labels

{%- else %}
def read_inputs(cfg: DictConfig, skipped: Skipped) -> Inputs:
    """Names, UTF-8 texts and (with label_column) labels of the inputs."""
    with tf.io.gfile.GFile(cfg.inputs, "rb") as text_file:
        content = text_file.read()
    if cfg.column:
        return read_csv_rows(cfg, content, skipped)
    if cfg.inputs.lower().endswith(".csv"):
        raise ValueError(
            f"inputs={cfg.inputs} is a CSV file: name its text column with column=NAME "
            "(and label_column=NAME for the accuracy)."
        )
    names, texts = [], []
    for number, line in enumerate(content.removeprefix(b"\xef\xbb\xbf").splitlines(), 1):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as error:
            skipped.add(f"line {number}", f"not UTF-8: {error}")
            continue
        if text.strip():
            names.append(f"line {number}")
            texts.append(text.encode("utf-8"))
    return names, texts, [None] * len(texts)


def sniff_dialect(text: str, columns: list[str]) -> tuple[type[csv.Dialect], str]:
    """(dialect, delimiter) of a CSV file: csv.Sniffer's guess, as training makes it, unless
    its header lacks the named columns; then the first of , ; tab | whose header has them."""
    try:
        dialect = csv.Sniffer().sniff(text[:65536], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    for delimiter in (dialect.delimiter, *",;\t|"):
        header = next(csv.reader(io.StringIO(text, newline=""), dialect, delimiter=delimiter), [])
        if all(column in header for column in columns):
            return dialect, delimiter
    return dialect, dialect.delimiter


def read_csv_rows(cfg: DictConfig, content: bytes, skipped: Skipped) -> Inputs:
    """The text (and label) column of a CSV file, read the way training reads it: the delimiter
    sniffed among , ; tab |, UTF-8 with or without a byte-order mark."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"inputs={cfg.inputs} is not UTF-8 text ({error}); save it as UTF-8."
        ) from error
    dialect, delimiter = sniff_dialect(text, [cfg.column, cfg.label_column or cfg.column])
    reader = csv.DictReader(io.StringIO(text, newline=""), dialect=dialect, delimiter=delimiter)
    columns = reader.fieldnames or []
    for key, column in (("column", cfg.column), ("label_column", cfg.label_column)):
        if column and column not in columns:
            raise ValueError(
                f"inputs={cfg.inputs} has no column {column!r}; its columns are {columns}. "
                f"Set {key} to one of them."
            )
    names, texts, labels = [], [], []
    for row in reader:
        name = f"row {reader.line_num}"
        if None in row or None in row.values():  # more or fewer fields than the header
            skipped.add(name, f"it has not the {len(columns)} fields of the header")
            continue
        names.append(name)
        texts.append(row[cfg.column].encode("utf-8"))
        labels.append(row[cfg.label_column].strip() if cfg.label_column else None)
    return names, texts, labels

{%- endif %}


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


def write_rows(rows: Sequence[Sequence[str]], output: str | None) -> None:
    """CSV rows into `output`, or onto stdout when it is None."""
    if not output:
        csv.writer(sys.stdout).writerows(rows)
        return
    with tf.io.gfile.GFile(output, "w") as output_file:
        csv.writer(output_file).writerows(rows)


def predict(cfg: DictConfig) -> dict:
    """Classifies cfg.inputs with an export and writes the CSV.

    Returns:
        export_dir, predicted (the count), skipped (names of unreadable inputs) and accuracy
        (None without known labels).

    Raises:
        ValueError, FileNotFoundError: on options or inputs that cannot work; with strict=true
            on the first unreadable input.
    """
    # paths and names are text, even when they look like numbers (inputs=2024)
    cfg = OmegaConf.merge(
        cfg, {key: str(cfg[key]) for key in TEXT_OPTIONS if cfg[key] is not None}
    )
    check_options(cfg)
    export_dir = resolve_export_dir(cfg)
    serve = load_signature(export_dir)
    skipped = Skipped(cfg.strict)
    names, inputs, labels = read_inputs(cfg, skipped)
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
    write_rows([["input", "class_name", "probability"], *rows], cfg.output)
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
