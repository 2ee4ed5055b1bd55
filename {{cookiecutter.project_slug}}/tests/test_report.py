import json
import re

import numpy as np
import pytest
import tensorflow as tf

from {{ cookiecutter.package_name }} import report

CLASS_NAMES = ["cat", "dog", "fox", "owl"]
# Rows: true class, columns: predicted. "owl" has no examples and is never predicted.
CONFUSION = np.array([[5, 1, 0, 0], [2, 3, 1, 0], [0, 0, 4, 0], [0, 0, 0, 0]])


@pytest.fixture
def metrics():
    scores = report.classification_metrics(CONFUSION, CLASS_NAMES)
    extra = {"loss": 0.5, "num_examples": 16, "checkpoint": "checkpoints/ckpt-3"}
    return {**scores, **extra, "confusion_matrix": CONFUSION.tolist()}


def f1(precision, recall):
    return 2 * precision * recall / (precision + recall)


def test_metrics_equal_hand_computed_values(metrics):
    # cat: 5 of the 7 predicted cats are cats, 5 of the 6 cats are found.
    per_class = metrics["per_class"]
    cat = {"precision": 5 / 7, "recall": 5 / 6, "f1": f1(5 / 7, 5 / 6), "support": 6, "correct": 5}
    dog = {"precision": 3 / 4, "recall": 3 / 6, "f1": 0.6, "support": 6, "correct": 3}
    fox = {"precision": 4 / 5, "recall": 1.0, "f1": f1(4 / 5, 1.0), "support": 4, "correct": 4}
    for name, expected in {"cat": cat, "dog": dog, "fox": fox}.items():
        assert per_class[name] == pytest.approx(expected)
    assert per_class["owl"] == {"precision": 0, "recall": 0, "f1": 0, "support": 0, "correct": 0}
    f1_scores = [f1(5 / 7, 5 / 6), 0.6, f1(4 / 5, 1.0), 0.0]
    assert metrics["macro_f1"] == pytest.approx(sum(f1_scores) / 4)  # owl counts as 0
    weighted = (6 * f1_scores[0] + 6 * f1_scores[1] + 4 * f1_scores[2]) / 16
    assert metrics["weighted_f1"] == pytest.approx(weighted)
    assert metrics["accuracy"] == 12 / 16
    assert json.loads(json.dumps(metrics)) == metrics  # plain floats and ints


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


def read_report(directory, metrics, wrong):
    """report.md's lines, spaces left out (tables are padded), and the pictures it links."""
    text = report.write_report(directory, metrics, CLASS_NAMES, wrong).read_text()
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    for picture in pictures:  # each one is there and is a picture
        assert tf.io.decode_png((directory / picture).read_bytes()).shape[0] > 100
    return [line.replace(" ", "") for line in text.splitlines()], pictures


def test_write_report(tmp_path, metrics):
{%- if cookiecutter.model_type == "cnn" %}
    grey = np.full((28, 28, 1), 128, np.uint8)
    wrong = [
        {"input": grey, "true": "cat", "predicted": "dog", "confidence": 0.99},
        {"input": grey, "true": "dog", "predicted": "cat", "confidence": 0.8},
    ]
    lines, pictures = read_report(tmp_path, metrics, wrong)
    assert pictures == ["confusion_matrix.png", "wrong_examples.png"]
    assert "|1|cat|dog|0.990|" in lines  # the caption of wrong example 1
{%- else %}
    wrong = [
        {"input": "win | now\nclick", "true": "ham", "predicted": "spam", "confidence": 0.99},
        {"input": "x" * 1000, "true": "spam", "predicted": "ham", "confidence": 0.8},
    ]
    lines, pictures = read_report(tmp_path, metrics, wrong)
    assert pictures == ["confusion_matrix.png"]
    assert "|1|win\\|nowclick|ham|spam|0.990|" in lines
    long_row = next(line for line in lines if line.startswith("|2|"))
    assert "x" * 299 + "…" in long_row and "x" * 300 not in long_row
{%- endif %}
    f1_scores = f"{metrics['macro_f1']:.4f}|{metrics['weighted_f1']:.4f}"
    assert f"|0.7500|{f1_scores}|0.5000|16|checkpoints/ckpt-3|" in lines  # the headline
    assert "|owl|0.0000|0.0000|0.0000|0|0|" in lines  # the per-class table
    assert "|cat|5|1|0|0|" in lines  # the confusion matrix as a table


def test_write_report_without_wrong_examples(tmp_path, metrics):
{%- if cookiecutter.model_type == "cnn" %}
    (tmp_path / "wrong_examples.png").write_bytes(b"an earlier eval's")
{%- endif %}
    lines, pictures = read_report(tmp_path, metrics, [])
    assert "Notestexamplewasclassifiedwrongly." in lines
    assert pictures == ["confusion_matrix.png"]
{%- if cookiecutter.model_type == "cnn" %}
    assert not (tmp_path / "wrong_examples.png").exists()  # the earlier eval's picture is gone
{%- endif %}
