"""report.md, what a person reads after eval (beside metrics.json): the headline numbers, the
confusion matrix, the per-class scores and the test examples the model got wrong with the most
confidence. classification_metrics scores a confusion matrix, for eval and for validation."""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import precision_recall_fscore_support
from tabulate import tabulate

from . import summaries

HEADLINE = ("accuracy", "macro_f1", "weighted_f1", "loss", "num_examples", "checkpoint")


def classification_metrics(confusion: np.ndarray, class_names: Sequence) -> dict:
    """accuracy, macro_f1, weighted_f1 and per_class {name: precision, recall, f1, support,
    correct} of a confusion matrix (rows: true class); a class without examples scores 0."""
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
    f1_scores, total = scores[2], max(int(support.sum()), 1)
    return {
        "accuracy": int(correct.sum()) / total,
        "macro_f1": float(f1_scores.mean()),
        "weighted_f1": float(f1_scores @ support) / total,
        "per_class": per_class,
    }


def most_confident_errors(
    labels: np.ndarray, probabilities: np.ndarray, class_names: Sequence[str], k: int = 16
) -> list[dict]:
    """The `k` wrong predictions the model was surest of, surest first: the example's index,
    its true and predicted class and the confidence (the predicted class' probability)."""
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
    """Writes report.md and its pictures into `directory`; returns its path. `wrong`: those of
    most_confident_errors, each with its "input" ({{ "a uint8 image" if cookiecutter.model_type == "cnn" else "a str" }})."""
    directory, confusion = Path(directory), np.asarray(metrics["confusion_matrix"])
    figure = summaries.confusion_figure(confusion, class_names)
    (directory / "confusion_matrix.png").write_bytes(summaries.figure_png(figure))
    headline = [{key: metrics[key] for key in HEADLINE if key in metrics}]
    per_class = [{"class": name, **scores} for name, scores in metrics["per_class"].items()]
    sections = [
        "# Test report\n\n" + tabulate(headline, "keys", tablefmt="github", floatfmt=".4f"),
        "## Confusion matrix\n\nRows: the true class; columns: the predicted class.\n\n"
        "![confusion matrix](confusion_matrix.png)\n\n"
        + summaries.confusion_table(confusion, class_names),
        "## Per class\n\n"
        + tabulate(per_class, "keys", tablefmt="github", floatfmt=".4f", disable_numparse=[0]),
        "## Most confidently wrong\n\n" + wrong_examples(directory, wrong),
    ]
    (directory / "report.md").write_text("\n\n".join(sections) + "\n", encoding="utf-8")
    return directory / "report.md"


def wrong_examples(directory: Path, wrong: list[dict]) -> str:
    """The section of the wrong examples: {{ "a grid of the images, numbered as in its table" if cookiecutter.model_type == "cnn" else "a table of the texts, each on one line and cut" }}."""
{%- if cookiecutter.model_type == "cnn" %}
    (directory / "wrong_examples.png").unlink(missing_ok=True)  # an earlier eval's picture
{%- endif %}
    if not wrong:
        return "No test example was classified wrongly."
    rows = [
        [number, example["true"], example["predicted"], f"{example['confidence']:.3f}"]
        for number, example in enumerate(wrong, start=1)
    ]
{%- if cookiecutter.model_type == "cnn" %}
    figure = summaries.image_grid([example["input"] for example in wrong])
    (directory / "wrong_examples.png").write_bytes(summaries.figure_png(figure))
    intro = "![the most confidently wrong test images, numbered as below](wrong_examples.png)"
    headers = ["#", "true", "predicted", "confidence"]
{%- else %}
    for row, example in zip(rows, wrong, strict=True):  # one table cell of at most 300 characters
        text = " ".join(example["input"].split()).replace("|", "\\|")
        row.insert(1, text if len(text) <= 300 else text[:299] + "…")
    intro = "The test texts the model got wrong with the most confidence."
    headers = ["#", "text", "true", "predicted", "confidence"]
{%- endif %}
    return f"{intro}\n\n" + tabulate(rows, headers, tablefmt="github", disable_numparse=True)
