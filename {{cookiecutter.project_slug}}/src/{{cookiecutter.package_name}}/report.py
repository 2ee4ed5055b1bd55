"""Test-set metrics per class and the report.md a person reads after eval. Written by:

    {{ cookiecutter.package_name }}-eval run_dir=latest   # then open report.md in that run's folder

report.md sits beside metrics.json in the run directory: the headline numbers, the labelled
confusion matrix (confusion_matrix.png and as a table), precision, recall and F1 per class,
and the test examples the model got wrong with the most confidence{% if cookiecutter.model_type == "cnn" %} (wrong_examples.png){% endif %}.
"""

from collections.abc import Sequence
from pathlib import Path{% if cookiecutter.model_type == "cnn" %}
from typing import TYPE_CHECKING{% endif %}

import numpy as np{% if cookiecutter.model_type == "rnn" %}
import tensorflow as tf{% endif %}
from sklearn.metrics import classification_report

from . import summaries{% if cookiecutter.model_type == "cnn" %}

if TYPE_CHECKING:
    from matplotlib.figure import Figure{% endif %}

REPORT_FILE = "report.md"
CONFUSION_FILE = "confusion_matrix.png"
{%- if cookiecutter.model_type == "cnn" %}
WRONG_EXAMPLES_FILE = "wrong_examples.png"
{%- else %}
MAX_TEXT_CHARS = 300  # longer texts are cut in report.md's table
{%- endif %}


def classification_metrics(
    labels: np.ndarray, predictions: np.ndarray, class_names: Sequence[str]
) -> dict:
    """Precision, recall, F1 and support per class, macro and weighted F1, and accuracy.

    Args:
        labels: [num_examples] true class indices.
        predictions: [num_examples] predicted class indices.
        class_names: the name of each class index; a class without examples scores 0.

    Returns:
        {"per_class": {name: {"precision", "recall", "f1", "support"}}, "macro_f1",
        "weighted_f1", "accuracy"}, plain floats and ints (JSON-serialisable).
    """
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    report = classification_report(
        labels,
        predictions,
        labels=range(len(class_names)),
        output_dict=True,
        zero_division=0,
    )
    per_class = {
        name: {
            "precision": float(report[str(index)]["precision"]),
            "recall": float(report[str(index)]["recall"]),
            "f1": float(report[str(index)]["f1-score"]),
            "support": int(report[str(index)]["support"]),
        }
        for index, name in enumerate(class_names)
    }
    return {
        "per_class": per_class,
        "macro_f1": float(report["macro avg"]["f1-score"]),
        "weighted_f1": float(report["weighted avg"]["f1-score"]),
        "accuracy": float(np.mean(labels == predictions)) if labels.size else 0.0,
    }


def format_table(metrics: dict) -> str:
    """The per-class metrics as an aligned text table (as scikit-learn prints it).

    Args:
        metrics: as returned by classification_metrics.
    """
    per_class = metrics["per_class"]
    total = sum(scores["support"] for scores in per_class.values())
    width = max([len("weighted avg"), *(len(name) for name in per_class)])
    lines = [f"{'':<{width}}  precision     recall         f1    support", ""]
    for name, scores in per_class.items():
        lines.append(
            f"{name:<{width}}  {scores['precision']:>9.4f}  {scores['recall']:>9.4f}  "
            f"{scores['f1']:>9.4f}  {scores['support']:>9d}"
        )
    lines.append("")
    averages = {"accuracy": "accuracy", "macro avg": "macro_f1", "weighted avg": "weighted_f1"}
    for name, key in averages.items():
        lines.append(f"{name:<{width}}  {'':>9}  {'':>9}  {metrics[key]:>9.4f}  {total:>9d}")
    return "\n".join(lines)


def most_confident_errors(
    inputs: Sequence,
    labels: np.ndarray,
    probabilities: np.ndarray,
    class_names: Sequence[str],
    k: int = 16,
) -> list[dict]:
    """The `k` wrongly classified examples the model was surest of, surest first.

    Args:
        inputs: the raw examples, indexable by example number ({{ "uint8 images [height, width, channels]" if cookiecutter.model_type == "cnn" else "texts, as str or UTF-8 bytes" }}).
        labels: [num_examples] true class indices.
        probabilities: [num_examples, num_classes] predicted class probabilities.
        class_names: the name of each class index.
        k: how many to return at most.

    Returns:
        [{"input", "true", "predicted", "confidence", "index"}], where confidence is the
        probability of the predicted class and index the example's number in `inputs`.
    """
    labels, probabilities = np.asarray(labels), np.asarray(probabilities)
    predictions = probabilities.argmax(axis=-1)
    confidences = probabilities.max(axis=-1)
    wrong = np.flatnonzero(predictions != labels)
    surest = wrong[np.argsort(-confidences[wrong], kind="stable")][:k]
    return [
        {
            "input": _raw_input(inputs[index]),
            "true": class_names[labels[index]],
            "predicted": class_names[predictions[index]],
            "confidence": float(confidences[index]),
            "index": int(index),
        }
        for index in surest
    ]


def _raw_input(value):
    """An example as report.md shows it: {{ "a numpy image" if cookiecutter.model_type == "cnn" else "a str" }}."""
{%- if cookiecutter.model_type == "cnn" %}
    return np.asarray(value)
{%- else %}
    value = value.numpy() if isinstance(value, tf.Tensor) else value
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)
{%- endif %}


def write_report(
    directory: Path,
    metrics: dict,
    confusion: np.ndarray,
    class_names: Sequence[str],
    wrong: list[dict],
) -> Path:
    """Writes report.md and its pictures into `directory` (a run directory).

    Args:
        directory: where report.md, {{ "confusion_matrix.png and wrong_examples.png" if cookiecutter.model_type == "cnn" else "and confusion_matrix.png" }} go.
        metrics: classification_metrics' result; "loss", "num_examples" and "checkpoint",
            when present, join the headline numbers.
        confusion: [num_classes, num_classes] counts (rows: true, columns: predicted).
        class_names: the name of each class index.
        wrong: most_confident_errors' result.

    Returns:
        The path of report.md.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    confusion = np.asarray(confusion)
    figure = summaries.confusion_figure(confusion, class_names)
    (directory / CONFUSION_FILE).write_bytes(summaries.figure_png(figure))
    sections = [
        _headline_section(metrics),
        "## Confusion matrix\n\nRows: the true class; columns: the predicted class.\n\n"
        f"![confusion matrix]({CONFUSION_FILE})\n\n"
        + summaries.confusion_table(confusion, class_names),
        "## Per class\n\n" + _per_class_table(metrics["per_class"]),
        _wrong_examples_section(directory, wrong),
    ]
    path = directory / REPORT_FILE
    path.write_text("\n\n".join(sections) + "\n", encoding="utf-8")
    return path


def _headline_section(metrics: dict) -> str:
    rows = [
        ("accuracy", f"{metrics['accuracy']:.4f}"),
        ("macro F1", f"{metrics['macro_f1']:.4f}"),
        ("weighted F1", f"{metrics['weighted_f1']:.4f}"),
    ]
    if "loss" in metrics:
        rows.append(("loss", f"{metrics['loss']:.4f}"))
    if "num_examples" in metrics:
        rows.append(("test examples", str(metrics["num_examples"])))
    if "checkpoint" in metrics:
        rows.append(("checkpoint", f"`{metrics['checkpoint']}`"))
    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    return f"# Test report\n\n| metric | value |\n|---|---|\n{table}"


def _per_class_table(per_class: dict) -> str:
    rows = [
        f"| {_cell(name)} | {scores['precision']:.4f} | {scores['recall']:.4f} | "
        f"{scores['f1']:.4f} | {scores['support']} |"
        for name, scores in per_class.items()
    ]
    header = "| class | precision | recall | F1 | support |\n|---|---|---|---|---|"
    return "\n".join([header, *rows])


def _cell(text: str) -> str:
    """`text` made safe for one cell of a Markdown table."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _wrong_examples_section(directory: Path, wrong: list[dict]) -> str:
    title = "## Most confidently wrong\n\n"
{%- if cookiecutter.model_type == "cnn" %}
    (directory / WRONG_EXAMPLES_FILE).unlink(missing_ok=True)  # an earlier eval's picture
    if not wrong:
        return title + "No test example was classified wrongly."
    figure = example_grid([item["input"] for item in wrong])
    (directory / WRONG_EXAMPLES_FILE).write_bytes(summaries.figure_png(figure))
    rows = [
        f"| {number} | {_cell(item['true'])} | {_cell(item['predicted'])} | "
        f"{item['confidence']:.3f} |"
        for number, item in enumerate(wrong, start=1)
    ]
    return (
        title
        + "The test images the model got wrong with the most confidence, numbered as below.\n\n"
        + f"![most confidently wrong test images]({WRONG_EXAMPLES_FILE})\n\n"
        + "| # | true | predicted | confidence |\n|---|---|---|---|\n"
        + "\n".join(rows)
    )


def example_grid(images: Sequence[np.ndarray], columns: int = 8) -> "Figure":
    """Images of any size and channel count in a grid of `columns`, each titled by its
    number from 1 (a matplotlib figure).

    Args:
        images: uint8 [height, width] or [height, width, channels] images.
        columns: images per row; fewer when there are fewer images.
    """
    from matplotlib.figure import Figure  # only where a picture is drawn

    columns = min(columns, len(images))
    rows = -(-len(images) // columns)
    figure = Figure(figsize=(1.2 * columns, 1.4 * rows), layout="constrained")
    for number, axes in enumerate(figure.subplots(rows, columns, squeeze=False).flat, start=1):
        axes.set_axis_off()
        if number <= len(images):
            image = np.asarray(images[number - 1])
            if image.ndim == 3:  # grey as [height, width], colour without alpha
                image = image[..., 0] if image.shape[-1] == 1 else image[..., :3]
            axes.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            axes.set_title(str(number))
    return figure
{%- else %}
    if not wrong:
        return title + "No test example was classified wrongly."
    rows = [
        f"| {number} | {_cell(_shorten(item['input']))} | {_cell(item['true'])} | "
        f"{_cell(item['predicted'])} | {item['confidence']:.3f} |"
        for number, item in enumerate(wrong, start=1)
    ]
    return (
        title
        + "The test texts the model got wrong with the most confidence.\n\n"
        + "| # | text | true | predicted | confidence |\n|---|---|---|---|---|\n"
        + "\n".join(rows)
    )


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_TEXT_CHARS else text[: MAX_TEXT_CHARS - 1] + "…"
{%- endif %}
