"""report.py (metrics.json, report.md) and summaries.py (TensorBoard's pictures, hparams)."""

import json
import re

import numpy as np
import pytest
import tensorflow as tf

from {{ cookiecutter.package_name }} import report, summaries

CLASS_NAMES = ["cat", "dog", "fox", "owl"]
# Rows: true class, columns: predicted. "owl" has no examples and is never predicted.
CONFUSION = np.array([[5, 1, 0, 0], [2, 3, 1, 0], [0, 0, 4, 0], [0, 0, 0, 0]])


def test_metrics_equal_hand_computed_values():
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
{%- if cookiecutter.model_type == "rnn" %}


def test_most_confident_errors_are_wrong_and_surest_first():
    probabilities = np.array([[0.9, 0.1], [0.6, 0.4], [0.05, 0.95], [0.2, 0.8], [0.3, 0.7]])
    labels = np.array([0, 1, 0, 1, 0])  # right, wrong 0.6, wrong 0.95, right, wrong 0.7
    errors = report.most_confident_errors(labels, probabilities, ["ham", "spam"], k=2)
    assert errors == [  # k=2 keeps the surest two of three
        {"index": 2, "true": "ham", "predicted": "spam", "confidence": 0.95},
        {"index": 4, "true": "ham", "predicted": "spam", "confidence": 0.7},
    ]
    everything = report.most_confident_errors(labels, probabilities, ["ham", "spam"])
    assert [error["index"] for error in everything] == [2, 4, 1]
    right = probabilities.argmax(axis=-1)
    assert report.most_confident_errors(right, probabilities, ["ham", "spam"]) == []


WRONG = [
    {"index": 7, "true": "ham", "predicted": "spam", "confidence": 0.99, "text": "a | b\nc"},
    {"index": 3, "true": "spam", "predicted": "ham", "confidence": 0.8, "text": "buy " * 200},
]
CAPTION = "|7|ham|spam|0.990|a\\|bc|"  # one table cell, the bar escaped


@pytest.mark.parametrize("wrong", [WRONG, []], ids=["wrong", "none-wrong"])
def test_write_report(tmp_path, wrong):
    metrics = report.classification_metrics(CONFUSION, CLASS_NAMES)
    metrics.update(loss=0.5, num_examples=16, checkpoint="ckpt-3", confusion_matrix=CONFUSION)
    text = report.write_report(tmp_path, metrics, CLASS_NAMES, wrong).read_text()
{%- else %}


def test_write_report(tmp_path):
    metrics = report.classification_metrics(CONFUSION, CLASS_NAMES)
    metrics.update(loss=0.5, num_examples=16, checkpoint="ckpt-3", confusion_matrix=CONFUSION)
    text = report.write_report(tmp_path, metrics, CLASS_NAMES).read_text()
{%- endif %}
    lines = [line.replace(" ", "") for line in text.splitlines()]  # tables are padded
    assert re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text) == ["confusion_matrix.png"]
    assert tf.io.decode_png((tmp_path / "confusion_matrix.png").read_bytes()).shape[0] > 100
    assert f"|0.7500|{metrics['macro_f1']:.4f}|0.5000|16|ckpt-3|" in lines  # the headline
    assert "|owl|0.0000|0.0000|0.0000|0|0|" in lines  # the per-class table
    assert "|cat|5|1|0|0|" in lines  # the confusion matrix as a table
{%- if cookiecutter.model_type == "rnn" %}
    assert (CAPTION in lines) == bool(wrong)
    assert ("Notestexamplewasclassifiedwrongly." in lines) == (not wrong)
    if wrong:
        long_text = next(line for line in text.splitlines() if "buy" in line).split("|")[-2]
        assert long_text.strip().endswith("buy buy…") and len(long_text.strip()) <= 300
{%- endif %}


def test_confusion_picture_and_table_name_the_classes_and_count_every_cell():
    confusion, names = np.array([[3, 1], [0, 4]]), ["cat", "007"]
    (axes,) = summaries.confusion_figure(confusion, names).axes
    assert [label.get_text() for label in axes.get_xticklabels()] == names
    assert [label.get_text() for label in axes.get_yticklabels()] == names
    assert (axes.get_ylabel(), axes.get_xlabel()) == ("True label", "Predicted label")
    counts = {tuple(text.get_position()): text.get_text() for text in axes.texts}
    assert counts == {(0, 0): "3", (1, 0): "1", (0, 1): "0", (1, 1): "4"}  # (column, row)
    rows = summaries.confusion_table(confusion, names).splitlines()[2:]
    assert [row.replace(" ", "") for row in rows] == ["|cat|3|1|", "|007|0|4|"]


def test_flat_hparams_leave_out_bookkeeping_and_nulls():
    data = {"name": "digits", "records_dir": "data/records", "image_size": [32, 32]}
    train_cfg = {"clip_norm": None, "learning_rate": 0.001, "log_every_steps": 10}
    config = {"seed": 1, "run_dir": "runs/x", "data": data, "train": train_cfg}
    assert summaries.flat_hparams(config) == {
        "seed": 1,
        "data.name": "digits",
        "data.image_size": "[32, 32]",  # a list, as a string
        "train.learning_rate": 0.001,
    }
