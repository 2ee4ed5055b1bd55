"""report.py (metrics.json, report.md) and summaries.py (pictures; its hparams: test_train.py)."""

import json
import re

import numpy as np
import pytest
import tensorflow as tf

from {{ cookiecutter.package_name }} import report, summaries

CLASS_NAMES = ["cat", "dog", "fox", "owl"]
# Rows: true class, columns: predicted. "owl" has no examples and is never predicted.
CONFUSION = np.array([[5, 1, 0, 0], [2, 3, 1, 0], [0, 0, 4, 0], [0, 0, 0, 0]])


def test_metrics_equal_hand_computed_values_and_the_report_and_its_pictures_show_them(tmp_path):
    metrics = report.classification_metrics(CONFUSION, CLASS_NAMES)
    # cat: 5 of the 7 predicted cats are cats, 5 of the 6 cats are found: F1 2pr/(p+r) = 10/13.
    per_class = metrics["per_class"]
    cat = {"precision": 5 / 7, "recall": 5 / 6, "f1": 10 / 13, "support": 6, "correct": 5}
    dog = {"precision": 3 / 4, "recall": 3 / 6, "f1": 0.6, "support": 6, "correct": 3}
    fox = {"precision": 4 / 5, "recall": 1.0, "f1": 8 / 9, "support": 4, "correct": 4}
    for name, expected in {"cat": cat, "dog": dog, "fox": fox}.items():
        assert per_class[name] == pytest.approx(expected)
    assert per_class["owl"] == {"precision": 0, "recall": 0, "f1": 0, "support": 0, "correct": 0}
    assert metrics["macro_f1"] == pytest.approx((10 / 13 + 0.6 + 8 / 9 + 0) / 4)  # owl: 0
    assert metrics["accuracy"] == 12 / 16
    assert json.loads(json.dumps(metrics)) == metrics  # plain floats and ints
    empty = report.classification_metrics(np.zeros((2, 2), int), ["a", "b"])  # no examples
    assert (empty["accuracy"], empty["macro_f1"], empty["per_class"]["b"]["f1"]) == (0, 0, 0)

    metrics.update(loss=0.5, num_examples=16, checkpoint="ckpt-3", confusion_matrix=CONFUSION)
    text = report.write_report(tmp_path, metrics, CLASS_NAMES).read_text()
    lines = [line.replace(" ", "") for line in text.splitlines()]  # tables are padded
    assert re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text) == ["confusion_matrix.png"]
    assert tf.io.decode_png((tmp_path / "confusion_matrix.png").read_bytes()).shape[0] > 100
    assert f"|0.7500|{metrics['macro_f1']:.4f}|0.5000|16|ckpt-3|" in lines  # the headline
    assert "|owl|0.0000|0.0000|0.0000|0|0|" in lines  # the per-class table
    assert "|cat|5|1|0|0|" in lines  # the confusion matrix as a table

    # The picture and the table name every class (one like a number too), count every cell.
    confusion, names = np.array([[3, 1], [0, 4]]), ["cat", "007"]
    (axes,) = summaries.confusion_figure(confusion, names).axes
    assert [label.get_text() for label in axes.get_xticklabels()] == names
    assert [label.get_text() for label in axes.get_yticklabels()] == names
    assert (axes.get_ylabel(), axes.get_xlabel()) == ("True label", "Predicted label")
    counts = {tuple(text.get_position()): text.get_text() for text in axes.texts}
    assert counts == {(0, 0): "3", (1, 0): "1", (0, 1): "0", (1, 1): "4"}  # (column, row)
    rows = summaries.confusion_table(confusion, names).splitlines()[2:]
    assert [row.replace(" ", "") for row in rows] == ["|cat|3|1|", "|007|0|4|"]
