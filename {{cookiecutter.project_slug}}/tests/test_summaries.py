"""summaries.py's pictures and hparams (test_train.py reads what a run writes)."""

import numpy as np

from {{ cookiecutter.package_name }} import summaries


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
