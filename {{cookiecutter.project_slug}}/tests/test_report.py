import json
import re

import numpy as np
import pytest
import tensorflow as tf

from {{ cookiecutter.package_name }} import report, summaries

CLASS_NAMES = ["cat", "dog", "fox", "owl"]
# Rows: true class, columns: predicted. "owl" has no examples and is never predicted.
CONFUSION = np.array([[5, 1, 0, 0], [2, 3, 1, 0], [0, 0, 4, 0], [0, 0, 0, 0]])


def examples_of(confusion):
    """Labels and predictions that give `confusion`."""
    pairs = [(true, predicted) for (true, predicted), count in np.ndenumerate(confusion)]
    counts = confusion.ravel()
    labels = np.repeat([true for true, _ in pairs], counts)
    predictions = np.repeat([predicted for _, predicted in pairs], counts)
    return labels, predictions


@pytest.fixture
def metrics():
    labels, predictions = examples_of(CONFUSION)
    return report.classification_metrics(labels, predictions, CLASS_NAMES)


def f1(precision, recall):
    return 2 * precision * recall / (precision + recall)


def test_metrics_equal_hand_computed_values(metrics):
    # cat: 5 of the 7 predicted cats are cats, 5 of the 6 cats are found.
    assert metrics["per_class"]["cat"] == pytest.approx(
        {"precision": 5 / 7, "recall": 5 / 6, "f1": f1(5 / 7, 5 / 6), "support": 6}
    )
    assert metrics["per_class"]["dog"] == pytest.approx(
        {"precision": 3 / 4, "recall": 3 / 6, "f1": 0.6, "support": 6}
    )
    assert metrics["per_class"]["fox"] == pytest.approx(
        {"precision": 4 / 5, "recall": 1.0, "f1": f1(4 / 5, 1.0), "support": 4}
    )
    assert metrics["per_class"]["owl"] == {"precision": 0, "recall": 0, "f1": 0, "support": 0}
    f1_scores = [f1(5 / 7, 5 / 6), 0.6, f1(4 / 5, 1.0), 0.0]
    assert metrics["macro_f1"] == pytest.approx(sum(f1_scores) / 4)  # owl counts as 0
    weighted = (6 * f1_scores[0] + 6 * f1_scores[1] + 4 * f1_scores[2]) / 16
    assert metrics["weighted_f1"] == pytest.approx(weighted)
    assert metrics["accuracy"] == 12 / 16
    assert json.loads(json.dumps(metrics)) == metrics  # plain floats and ints


def test_format_table_lists_every_class(metrics):
    table = report.format_table(metrics)
    first_words = [line.split()[0] for line in table.splitlines() if line.strip()]
    assert first_words[1:5] == CLASS_NAMES
    cat = table.splitlines()[2].split()
    assert cat == ["cat", "0.7143", "0.8333", f"{f1(5 / 7, 5 / 6):.4f}", "6"]
    assert "0.7500" in next(line for line in table.splitlines() if line.startswith("accuracy"))
    lengths = {len(line) for line in table.splitlines() if line.strip()}
    assert lengths == {len(table.splitlines()[0])}  # aligned columns


def test_most_confident_errors_are_wrong_and_surest_first():
    probabilities = np.array(
        [
            [0.9, 0.1],  # right
            [0.6, 0.4],  # wrong, 0.6
            [0.05, 0.95],  # wrong, 0.95
            [0.2, 0.8],  # right
            [0.3, 0.7],  # wrong, 0.7
        ]
    )
    labels = np.array([0, 1, 0, 1, 0])
    inputs = [f"text {index}" for index in range(5)]
    errors = report.most_confident_errors(inputs, labels, probabilities, ["ham", "spam"], k=2)
    assert [error["index"] for error in errors] == [2, 4]  # k=2 keeps the surest two of three
    assert errors[0] == {
        "input": "text 2",
        "true": "ham",
        "predicted": "spam",
        "confidence": 0.95,
        "index": 2,
    }
    everything = report.most_confident_errors(inputs, labels, probabilities, ["ham", "spam"])
    assert [error["confidence"] for error in everything] == [0.95, 0.7, 0.6]
    right = probabilities.argmax(axis=-1)
    assert report.most_confident_errors(inputs, right, probabilities, ["ham", "spam"]) == []


def linked_pictures(markdown):
    return re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)


def decode(path):
    return tf.io.decode_png(path.read_bytes()).numpy()
{%- if cookiecutter.model_type == "cnn" %}


def wrong_images():
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 255
    gray = np.full((28, 28, 1), 128, np.uint8)
    wide = np.zeros((10, 40), np.uint8)  # no channel axis, twice as wide as high
    return [
        {"input": image, "true": "cat", "predicted": "dog", "confidence": confidence}
        for image, confidence in ((red, 0.99), (gray, 0.9), (wide, 0.8))
    ]


def test_write_report(tmp_path, metrics):
    path = report.write_report(tmp_path, metrics, CONFUSION, CLASS_NAMES, wrong_images())
    text = path.read_text()
    assert path == tmp_path / "report.md"
    assert "| accuracy | 0.7500 |" in text
    assert f"| macro F1 | {metrics['macro_f1']:.4f} |" in text
    assert f"| weighted F1 | {metrics['weighted_f1']:.4f} |" in text
    assert "| owl | 0.0000 | 0.0000 | 0.0000 | 0 |" in text  # the per-class table
    assert "| cat | 5 | 1 | 0 | 0 |" in text  # the confusion matrix as a table
    assert "| 1 | cat | dog | 0.990 |" in text  # the caption of wrong example 1
    assert linked_pictures(text) == ["confusion_matrix.png", "wrong_examples.png"]
    confusion = decode(tmp_path / "confusion_matrix.png")
    assert confusion.shape[:2] == summaries.confusion_image(CONFUSION, CLASS_NAMES)[0].shape[:2]
    assert decode(tmp_path / "wrong_examples.png").shape[0] > 0
    # Every wrong example, numbered from 1, whatever its size and channels.
    grid = report.example_grid([item["input"] for item in wrong_images()])
    shown = [axes for axes in grid.axes if axes.images]
    assert [axes.get_title() for axes in shown] == ["1", "2", "3"]
    shapes = [axes.images[0].get_array().shape for axes in shown]
    assert shapes == [(8, 8, 3), (28, 28), (10, 40)]


def test_write_report_without_wrong_examples(tmp_path, metrics):
    report.write_report(tmp_path, metrics, CONFUSION, CLASS_NAMES, wrong_images())
    text = report.write_report(tmp_path, metrics, CONFUSION, CLASS_NAMES, []).read_text()
    assert "No test example was classified wrongly." in text
    assert linked_pictures(text) == ["confusion_matrix.png"]
    assert not (tmp_path / "wrong_examples.png").exists()  # the earlier eval's is gone
{%- else %}


def test_write_report(tmp_path, metrics):
    wrong = [
        {"input": "win | now\nclick", "true": "ham", "predicted": "spam", "confidence": 0.99},
        {"input": "x" * 1000, "true": "spam", "predicted": "ham", "confidence": 0.8},
    ]
    path = report.write_report(tmp_path, metrics, CONFUSION, CLASS_NAMES, wrong)
    text = path.read_text()
    assert path == tmp_path / "report.md"
    assert "| accuracy | 0.7500 |" in text
    assert f"| macro F1 | {metrics['macro_f1']:.4f} |" in text
    assert f"| weighted F1 | {metrics['weighted_f1']:.4f} |" in text
    assert "| owl | 0.0000 | 0.0000 | 0.0000 | 0 |" in text  # the per-class table
    assert "| cat | 5 | 1 | 0 | 0 |" in text  # the confusion matrix as a table
    assert "| 1 | win \\| now click | ham | spam | 0.990 |" in text
    long_row = next(line for line in text.splitlines() if line.startswith("| 2 |"))
    assert len(long_row) < 400 and "…" in long_row
    assert linked_pictures(text) == ["confusion_matrix.png"]
    confusion = decode(tmp_path / "confusion_matrix.png")
    assert confusion.shape[:2] == summaries.confusion_image(CONFUSION, CLASS_NAMES)[0].shape[:2]


def test_write_report_without_wrong_examples(tmp_path, metrics):
    text = report.write_report(tmp_path, metrics, CONFUSION, CLASS_NAMES, []).read_text()
    assert "No test example was classified wrongly." in text


def test_most_confident_errors_decode_bytes():
    errors = report.most_confident_errors(
        np.array([b"caf\xc3\xa9"], object), np.array([0]), np.array([[0.1, 0.9]]), ["a", "b"]
    )
    assert errors[0]["input"] == "café"
{%- endif %}


def test_headline_gains_loss_examples_and_checkpoint(tmp_path, metrics):
    extended = {**metrics, "loss": 0.5, "num_examples": 16, "checkpoint": "checkpoints/ckpt-3"}
    text = report.write_report(tmp_path, extended, CONFUSION, CLASS_NAMES, []).read_text()
    assert "| loss | 0.5000 |" in text
    assert "| test examples | 16 |" in text
    assert "| checkpoint | `checkpoints/ckpt-3` |" in text
