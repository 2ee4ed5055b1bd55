"""report.md, what a person reads after eval: headline numbers, confusion matrix, per-class
scores. classification_metrics scores a confusion matrix (and validation)."""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import precision_recall_fscore_support
from tabulate import tabulate

from . import summaries

HEADLINE = ("accuracy", "macro_f1", "loss", "num_examples", "checkpoint")


def classification_metrics(confusion: np.ndarray, class_names: Sequence) -> dict:
    """accuracy, macro_f1, per_class {name: precision, recall, f1, support, correct}; rows: true."""
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
    accuracy = int(correct.sum()) / max(int(support.sum()), 1)
    return {"accuracy": accuracy, "macro_f1": float(scores[2].mean()), "per_class": per_class}


def write_report(directory: Path, metrics: dict, class_names: Sequence[str]) -> Path:
    """Writes report.md and confusion_matrix.png into `directory`; returns the report's path."""
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
    ]
    (directory / "report.md").write_text("\n\n".join(sections) + "\n", encoding="utf-8")
    return directory / "report.md"
