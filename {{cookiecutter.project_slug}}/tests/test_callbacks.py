"""The callbacks the loop drives, called with fake logs (no training): pytest tests/test_callbacks.py"""

import csv

import keras
import pytest
from helpers import EPOCH_LOGS, drive, tiny_model

from {{ cookiecutter.package_name }}.callbacks import build_callbacks


class Recorder(keras.callbacks.Callback):
    """A user's callback: records every call it gets."""

    def __init__(self, label: str):
        super().__init__()
        self.label = label
        self.calls = []

    def on_train_begin(self, logs=None):
        self.calls.append(("train_begin",))

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(("epoch_begin", epoch))

    def on_train_batch_end(self, batch, logs=None):
        self.calls.append(("batch_end", batch, logs["loss"]))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("epoch_end", epoch, logs["val_accuracy"]))

    def on_train_end(self, logs=None):
        self.calls.append(("train_end", logs["epochs"]))


def callbacks_override(*specs: dict) -> str:
    """The command-line form of cfg.callbacks, e.g. callbacks=[{_target_:a.B,label:x}]."""
    entries = [",".join(f"{key}:{value}" for key, value in spec.items()) for spec in specs]
    return "callbacks=[" + ",".join("{" + entry + "}" for entry in entries) + "]"


def test_tensorboard_adds_no_callback(make_config, tmp_path):
    assert build_callbacks(make_config(), tmp_path, tiny_model()).callbacks == []


def test_csv_logger_writes_a_row_per_epoch_and_a_resumed_run_appends(make_config, tmp_path):
    cfg, model = make_config("logger=csv"), tiny_model()
    drive(build_callbacks(cfg, tmp_path, model), range(0, 2))
    drive(build_callbacks(cfg, tmp_path, model), range(2, 3))  # resumed
    with open(tmp_path / "metrics.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [int(row["epoch"]) for row in rows] == [0, 1, 2]  # one header, three rows
    assert [float(row["val_accuracy"]) for row in rows] == [0.5, 0.75, 0.8]
    assert set(rows[0]) == {"epoch", *EPOCH_LOGS[0]}


def test_user_callbacks_are_made_from_their_target_and_get_every_event(make_config, tmp_path):
    recorder = {"_target_": f"{__name__}.Recorder", "label": "mine"}
    history = {"_target_": "keras.callbacks.History"}
    cfg = make_config(callbacks_override(recorder, history))
    callbacks = build_callbacks(cfg, tmp_path, tiny_model())
    drive(callbacks, range(0, 2))
    mine, keras_history = callbacks.callbacks
    assert mine.label == "mine" and mine.model is callbacks.model
    assert mine.calls == [
        ("train_begin",),
        ("epoch_begin", 0),
        ("batch_end", 1, 1.0),
        ("batch_end", 2, 0.5),
        ("epoch_end", 0, 0.5),
        ("epoch_begin", 1),
        ("batch_end", 3, 1 / 3),
        ("batch_end", 4, 0.25),
        ("epoch_end", 1, 0.75),
        ("train_end", 2),
    ]
    assert keras_history.history["val_loss"] == [1.2, 0.8]


@pytest.mark.parametrize(
    "override, message",
    [
        ("callbacks=[{patience:3}]", r"callbacks\[0\].*has no _target_"),
        ("callbacks=[{_target_:collections.OrderedDict}]", "not a keras.callbacks.Callback"),
        ("callbacks=[{_target_:keras.callbacks.NoSuchCallback}]", r"callbacks\[0\] could not"),
    ],
    ids=["no-target", "not-a-callback", "unknown-target"],
)
def test_a_bad_callback_entry_says_which_and_how(make_config, tmp_path, override, message):
    with pytest.raises(ValueError, match=message):
        build_callbacks(make_config(override), tmp_path, tiny_model())
