"""The callbacks the loop drives, called with fake logs (no training): pytest tests/test_callbacks.py"""

import csv
import json
import sys

import keras
import pytest
from conftest import PACKAGE
from omegaconf import OmegaConf

from {{ cookiecutter.package_name }}.callbacks import (
    build_callbacks,
    log_artifacts,
)

# What the loop passes to on_epoch_end, one dict per epoch.
EPOCH_LOGS = [
    {"loss": 1.5, "accuracy": 0.4, "val_loss": 1.2, "val_accuracy": 0.5, "learning_rate": 1e-3},
    {"loss": 0.9, "accuracy": 0.7, "val_loss": 0.8, "val_accuracy": 0.75, "learning_rate": 5e-4},
    {"loss": 0.6, "accuracy": 0.8, "val_loss": 0.7, "val_accuracy": 0.8, "learning_rate": 1e-4},
]


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


def tiny_model() -> keras.Model:
    inputs = keras.Input((4,), name="features")
    return keras.Model(inputs, keras.layers.Dense(2, name="logits")(inputs), name="tiny")


def drive(callbacks: keras.callbacks.CallbackList, epochs: range) -> None:
    """Calls the callbacks as the loop does, for `epochs` with two logging steps each."""
    callbacks.on_train_begin()
    for epoch in epochs:
        callbacks.on_epoch_begin(epoch)
        for step in (2 * epoch + 1, 2 * epoch + 2):
            callbacks.on_train_batch_end(step, {"loss": 1.0 / step, "accuracy": 0.5})
        callbacks.on_epoch_end(epoch, EPOCH_LOGS[epoch])
    best = max(logs["val_accuracy"] for logs in EPOCH_LOGS[: epochs.stop])
    result = {"epochs": epochs.stop, "steps": 2 * epochs.stop, "best_val_accuracy": best}
    callbacks.on_train_end({**EPOCH_LOGS[epochs.stop - 1], **result, "run_dir": "somewhere"})


def test_tensorboard_adds_no_callback_and_other_workers_get_none(make_config, tmp_path):
    model = tiny_model()
    assert build_callbacks(make_config(), tmp_path, model, chief=True).callbacks == []
    recorder = {"_target_": f"{__name__}.Recorder", "label": "theirs"}
    cfg = make_config("logger=csv", callbacks_override(recorder))
    assert build_callbacks(cfg, tmp_path, model, chief=False).callbacks == []
    assert not (tmp_path / "metrics.csv").exists()


def test_csv_logger_writes_a_row_per_epoch_and_a_resumed_run_appends(make_config, tmp_path):
    cfg, model = make_config("logger=csv"), tiny_model()
    drive(build_callbacks(cfg, tmp_path, model, chief=True), range(0, 2))
    drive(build_callbacks(cfg, tmp_path, model, chief=True), range(2, 3))  # resumed
    with open(tmp_path / "metrics.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [int(row["epoch"]) for row in rows] == [0, 1, 2]  # one header, three rows
    assert [float(row["val_accuracy"]) for row in rows] == [0.5, 0.75, 0.8]
    assert set(rows[0]) == {"epoch", *EPOCH_LOGS[0]}


def test_user_callbacks_are_made_from_their_target_and_get_every_event(make_config, tmp_path):
    recorder = {"_target_": f"{__name__}.Recorder", "label": "mine"}
    history = {"_target_": "keras.callbacks.History"}
    cfg = make_config(callbacks_override(recorder, history))
    callbacks = build_callbacks(cfg, tmp_path, tiny_model(), chief=True)
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
        build_callbacks(make_config(override), tmp_path, tiny_model(), chief=True)


def test_logger_mlflow_without_mlflow_says_how_to_install(make_config, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if it were not installed
    with pytest.raises(RuntimeError, match=r'pip install -e "\.\[mlflow\]"'):
        build_callbacks(make_config("logger=mlflow"), tmp_path, tiny_model(), chief=True)


def test_log_artifacts_does_nothing_for_a_run_without_mlflow(make_config, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    OmegaConf.save(make_config("logger=csv"), run_dir / "config.yaml")
    (run_dir / "metrics.json").write_text("{}")
    log_artifacts(run_dir, [run_dir / "metrics.json"])
    assert sorted(path.name for path in run_dir.iterdir()) == ["config.yaml", "metrics.json"]


@pytest.mark.slow  # MLflow creates its SQLite store: 2 to 8 seconds
def test_mlflow_logs_params_metrics_and_artifacts_to_one_run(make_config, tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.chdir(tmp_path)  # the default store: ./mlruns/
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg, model, run_dir = make_config("logger=mlflow"), tiny_model(), tmp_path / "run"
    run_dir.mkdir()
    OmegaConf.save(cfg, run_dir / "config.yaml")
    drive(build_callbacks(cfg, run_dir, model, chief=True), range(0, 2))
    run_id = json.loads((run_dir / "mlflow.json").read_text())["run_id"]
    drive(build_callbacks(cfg, run_dir, model, chief=True), range(2, 3))  # resumed
    assert json.loads((run_dir / "mlflow.json").read_text())["run_id"] == run_id
    (run_dir / "metrics.json").write_text('{"accuracy": 0.8}')
    (run_dir / "export" / "1" / "variables").mkdir(parents=True)
    (run_dir / "export" / "1" / "variables" / "variables.index").write_bytes(b"index")
    (run_dir / "export" / "1" / "saved_model.pb").write_bytes(b"model")
    log_artifacts(run_dir, [run_dir / "metrics.json", run_dir / "export" / "1"])

    tracking_uri = json.loads((run_dir / "mlflow.json").read_text())["tracking_uri"]
    assert tracking_uri == f"sqlite:///{tmp_path.as_posix()}/mlruns/mlflow.db"
    client = mlflow.MlflowClient(tracking_uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == PACKAGE
    assert run.data.params["train.learning_rate"] == str(cfg.train.learning_rate)
    assert run.data.params["model.name"] == cfg.model.name
    assert "run_dir" not in run.data.params and "logger.name" not in run.data.params
    history = client.get_metric_history(run_id, "val_accuracy")
    assert [(m.step, m.value) for m in history] == [(0, 0.5), (1, 0.75), (2, 0.8)]
    best = client.get_metric_history(run_id, "best_val_accuracy")
    assert [(m.step, m.value) for m in best] == [(2, 0.75), (3, 0.8)]  # at each end of training
    assert [m.step for m in client.get_metric_history(run_id, "loss")] == [0, 1, 2]
    artifacts = {item.path for item in client.list_artifacts(run_id)}
    assert artifacts == {"metrics.json", "export"}
    assert {item.path for item in client.list_artifacts(run_id, "export/1")} == {
        "export/1/saved_model.pb",
        "export/1/variables",
    }
    assert len(client.search_runs([run.info.experiment_id])) == 1
