"""The callbacks the loop drives, called with fake logs (no training): pytest tests/test_callbacks.py"""

import csv

import pytest
from helpers import EPOCH_LOGS, drive, tiny_model

from {{ cookiecutter.package_name }}.callbacks import build_callbacks


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


def test_user_callbacks_are_made_from_their_target_and_driven(make_config, tmp_path):
    stopping = "{_target_:keras.callbacks.EarlyStopping,patience:3}"
    history = "{_target_:keras.callbacks.History}"
    cfg = make_config(f"callbacks=[{stopping},{history}]")
    callbacks = build_callbacks(cfg, tmp_path, tiny_model())
    drive(callbacks, range(0, 2))
    early_stopping, keras_history = callbacks.callbacks
    assert early_stopping.patience == 3 and early_stopping.model is callbacks.model
    assert keras_history.history["val_loss"] == [1.2, 0.8]


@pytest.mark.parametrize(
    "override, message",
    [
        ("callbacks=[{patience:3}]", r"callbacks\[0\].*made a dict, not a keras"),
        ("callbacks=[{_target_:collections.OrderedDict}]", "made a OrderedDict, not a keras"),
        ("callbacks=[{_target_:keras.callbacks.NoSuchCallback}]", r"callbacks\[0\] could not"),
    ],
    ids=["no-target", "not-a-callback", "unknown-target"],
)
def test_a_bad_callback_entry_says_which_and_how(make_config, tmp_path, override, message):
    with pytest.raises(ValueError, match=message):
        build_callbacks(make_config(override), tmp_path, tiny_model())
