"""report.md, what a person reads after eval (beside metrics.json in the run directory), and the
scores of a confusion matrix. report.md holds the headline numbers, the labelled confusion matrix
(confusion_matrix.png and a table), the per-class scores and the test examples the model got
wrong with the most confidence{% if cookiecutter.model_type == "cnn" %} (wrong_examples.png){% endif %}.
"""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import classification_report
from tabulate import tabulate

from . import summaries

REPORT_FILE, CONFUSION_FILE = "report.md", "confusion_matrix.png"
{%- if cookiecutter.model_type == "cnn" %}
WRONG_EXAMPLES_FILE = "wrong_examples.png"
{%- else %}
MAX_TEXT_CHARS = 300  # longer texts are cut in report.md's table
{%- endif %}
HEADLINE = ("accuracy", "macro_f1", "weighted_f1", "loss", "num_examples", "checkpoint")


def classification_metrics(confusion: np.ndarray, class_names: Sequence[str]) -> dict:
    """{"accuracy", "macro_f1", "weighted_f1", "per_class": {name: {"precision", "recall", "f1",
    "support", "correct"}}} of a confusion matrix (rows: true class), in types JSON can write;
    a class without examples scores 0."""
    confusion = np.asarray(confusion)
    true, predicted = np.indices(confusion.shape).reshape(2, -1)  # each cell, weighed by count
    labels, weights = range(len(class_names)), confusion.ravel()
    scores = classification_report(
        true, predicted, labels=labels, sample_weight=weights, output_dict=True, zero_division=0
    )
    per_class = {}
    for index, name in enumerate(class_names):
        row, counts = scores[str(index)], confusion[index]
        per_class[name] = dict(
            precision=row["precision"], recall=row["recall"], f1=row["f1-score"]
        )
        per_class[name].update(support=int(counts.sum()), correct=int(counts[index]))
    return {
        "accuracy": scores["accuracy"],
        "macro_f1": scores["macro avg"]["f1-score"],
        "weighted_f1": scores["weighted avg"]["f1-score"],
        "per_class": per_class,
    }


def most_confident_errors(
    labels: np.ndarray, probabilities: np.ndarray, class_names: Sequence[str], k: int = 16
) -> list[dict]:
    """The `k` wrongly classified examples the model was surest of, surest first:
    [{"index", "true", "predicted", "confidence"}], where index is the example's number and
    confidence the probability of the predicted class."""
    predictions, confidences = probabilities.argmax(axis=-1), probabilities.max(axis=-1)
    wrong = np.flatnonzero(predictions != labels)
    surest = wrong[np.argsort(-confidences[wrong], kind="stable")][:k]
    return [
        {
            "index": int(index),
            "true": class_names[labels[index]],
            "predicted": class_names[predictions[index]],
            "confidence": float(confidences[index]),
        }
        for index in surest
    ]


def write_report(
    directory: Path, metrics: dict, class_names: Sequence[str], wrong: list[dict]
) -> Path:
    """Writes report.md and its pictures into `directory` (a run directory); returns its path.
    `metrics`: eval's (the HEADLINE values it has, "per_class", "confusion_matrix"); `wrong`:
    most_confident_errors', each with its "input" ({{ "a uint8 image" if cookiecutter.model_type == "cnn" else "a str" }})."""
    directory, confusion = Path(directory), np.asarray(metrics["confusion_matrix"])
    figure = summaries.confusion_figure(confusion, class_names)
    (directory / CONFUSION_FILE).write_bytes(summaries.figure_png(figure))
    headline = [{key: metrics[key] for key in HEADLINE if key in metrics}]
    sections = [
        "# Test report\n\n" + tabulate(headline, "keys", tablefmt="github", floatfmt=".4f"),
        "## Confusion matrix\n\nRows: the true class; columns: the predicted class.\n\n"
        f"![confusion matrix]({CONFUSION_FILE})\n\n"
        + summaries.confusion_table(confusion, class_names),
        "## Per class\n\n" + per_class_table(metrics["per_class"]),
        "## Most confidently wrong\n\n" + wrong_examples(directory, wrong),
    ]
    (directory / REPORT_FILE).write_text("\n\n".join(sections) + "\n", encoding="utf-8")
    return directory / REPORT_FILE


def per_class_table(per_class: dict) -> str:
    """The per-class scores as a Markdown table."""
    rows = [{"class": name, **scores} for name, scores in per_class.items()]
    return tabulate(rows, "keys", tablefmt="github", floatfmt=".4f", disable_numparse=[0])


def wrong_examples(directory: Path, wrong: list[dict]) -> str:
{%- if cookiecutter.model_type == "cnn" %}
    """The wrong examples' section: a grid of the images, numbered, and their table."""
    (directory / WRONG_EXAMPLES_FILE).unlink(missing_ok=True)  # an earlier eval's picture
    if not wrong:
        return "No test example was classified wrongly."
    figure = summaries.image_grid([example["input"] for example in wrong])
    (directory / WRONG_EXAMPLES_FILE).write_bytes(summaries.figure_png(figure))
    rows = [
        [number, example["true"], example["predicted"], f"{example['confidence']:.3f}"]
        for number, example in enumerate(wrong, start=1)
    ]
    headers = ["#", "true", "predicted", "confidence"]
    return (
        "The test images the model got wrong with the most confidence, numbered as below.\n\n"
        f"![most confidently wrong test images]({WRONG_EXAMPLES_FILE})\n\n"
        + tabulate(rows, headers, tablefmt="github", disable_numparse=True)
    )
{%- else %}
    """The wrong examples' section: a table of the texts, each on one line, cut to
    MAX_TEXT_CHARS."""
    if not wrong:
        return "No test example was classified wrongly."
    rows = []
    for number, example in enumerate(wrong, start=1):
        text = " ".join(example["input"].split()).replace("|", "\\|")  # one table cell
        text = text if len(text) <= MAX_TEXT_CHARS else text[: MAX_TEXT_CHARS - 1] + "…"
        confidence = f"{example['confidence']:.3f}"
        rows.append([number, text, example["true"], example["predicted"], confidence])
    headers = ["#", "text", "true", "predicted", "confidence"]
    return "The test texts the model got wrong with the most confidence.\n\n" + tabulate(
        rows, headers, tablefmt="github", disable_numparse=True
    )
{%- endif %}
