"""report.md, what a person reads after eval: headline numbers, confusion matrix, per-class
scores{{ ", the surest mistakes" if cookiecutter.model_type == "rnn" }}. classification_metrics scores a confusion matrix (and validation)."""

{% if cookiecutter.model_type == "rnn" -%}
import textwrap
{% endif -%}
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import precision_recall_fscore_support
from tabulate import tabulate

from . import summaries

HEADLINE = ("accuracy", "macro_f1", "loss", "num_examples", "checkpoint")


def classification_metrics(confusion: np.ndarray, class_names: Sequence) -> dict:
    """accuracy, macro_f1 and per_class {name: precision, recall, f1, support, correct} of a
    confusion matrix (rows: true class); a class without examples scores 0."""
    confusion = np.asarray(confusion)
    support, correct = confusion.sum(axis=1), np.diag(confusion)
    scores = np.zeros((3, len(class_names)))  # no examples at all, which sklearn refuses
    if support.any():
        true, predicted = np.indices(confusion.shape).reshape(2, -1)  # each cell, by its count
        labels, weights = range(len(class_names)), confusion.ravel()
        scores = precision_recall_fscore_support(
            true, predicted, labels=labels, sample_weight=weights, zero_division=0
        )[:3]
    per_class = {}
    for index, name in enumerate(class_names):
        precision, recall, f1 = (float(values[index]) for values in scores)
        per_class[name] = dict(precision=precision, recall=recall, f1=f1)
        per_class[name].update(support=int(support[index]), correct=int(correct[index]))
    return {
        "accuracy": int(correct.sum()) / max(int(support.sum()), 1),
        "macro_f1": float(scores[2].mean()),
        "per_class": per_class,
    }
{%- if cookiecutter.model_type == "rnn" %}


def most_confident_errors(
    labels: np.ndarray, probabilities: np.ndarray, class_names: Sequence[str], k: int = 16
) -> list[dict]:
    """The `k` wrong predictions the model was surest of, surest first: index, true and predicted
    class, confidence (the predicted class' probability)."""
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
{%- else %}


def write_report(directory: Path, metrics: dict, class_names: Sequence[str]) -> Path:
{%- endif %}
    """Writes report.md and confusion_matrix.png into `directory`; returns the report's path."""
    directory, confusion = Path(directory), np.asarray(metrics["confusion_matrix"])
    figure = summaries.confusion_figure(confusion, class_names)
    (directory / "confusion_matrix.png").write_bytes(summaries.figure_png(figure))
    headline = [{key: metrics[key] for key in HEADLINE if key in metrics}]
    per_class = [{"class": name, **scores} for name, scores in metrics["per_class"].items()]
{%- if cookiecutter.model_type == "rnn" %}
    wrong = [{**example, "confidence": f"{example['confidence']:.3f}"} for example in wrong]
    for example in wrong:  # one table cell: on one line, cut, its bars escaped
        text = textwrap.shorten(example["text"], 300, placeholder="…")
        example["text"] = text.replace("|", "\\|")
    wrong_table = tabulate(wrong, "keys", tablefmt="github", disable_numparse=True)
{%- endif %}
    sections = [
        "# Test report\n\n" + tabulate(headline, "keys", tablefmt="github", floatfmt=".4f"),
        "## Confusion matrix\n\nRows: the true class; columns: the predicted class.\n\n"
        "![confusion matrix](confusion_matrix.png)\n\n"
        + summaries.confusion_table(confusion, class_names),
        "## Per class\n\n"
        + tabulate(per_class, "keys", tablefmt="github", floatfmt=".4f", disable_numparse=[0]),
{%- if cookiecutter.model_type == "rnn" %}
        "## Most confidently wrong\n\nindex: the example's place in the test split.\n\n"
        + (wrong_table or "No test example was classified wrongly."),
{%- endif %}
    ]
    (directory / "report.md").write_text("\n\n".join(sections) + "\n", encoding="utf-8")
    return directory / "report.md"
