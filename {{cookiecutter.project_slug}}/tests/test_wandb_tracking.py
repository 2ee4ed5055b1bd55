"""logger=wandb offline (no account): one W&B run per run directory, read back from its folder;
called with fake logs (no training), as the loop calls its callbacks."""

import json
import struct
from pathlib import Path

{% if cookiecutter.tracking == "all" -%}
import mlflow
{% endif -%}
import wandb
from helpers import EPOCH_LOGS, drive, tiny_model
from omegaconf import OmegaConf
from wandb.proto import wandb_internal_pb2

from {{ cookiecutter.package_name }}.controller import build_callbacks


def wandb_records(run_dir: Path, kind: str) -> list[dict]:
    """The `kind` records (history: one per log call; summary) of every offline W&B run folder
    in run_dir/wandb/, in order. A .wandb file is LevelDB's log format: 32 KiB blocks of
    chunks (CRC, length, type), each record a protobuf, after a 7-byte header."""
    records = []
    for path in sorted(run_dir.glob("wandb/offline-run-*/run-*.wandb")):
        data, position, pending = path.read_bytes(), 7, b""
        while position + 7 <= len(data):
            if 32768 - position % 32768 < 7:  # a block's zero-filled end
                position += 32768 - position % 32768
                continue
            _, length, chunk_type = struct.unpack("<IHB", data[position : position + 7])
            pending += data[position + 7 : position + 7 + length]
            position += 7 + length
            if chunk_type in (1, 4):  # a whole record, or the last chunk of one
                record = wandb_internal_pb2.Record.FromString(pending)
                items = getattr(record, kind).item if kind == "history" else record.summary.update
                if record.WhichOneof("record_type") == kind:
                    keys = [item.key or "/".join(item.nested_key) for item in items]
                    values = [json.loads(item.value_json) for item in items]
                    records.append(dict(zip(keys, values, strict=True)))
                pending = b""
    return records


def test_wandb_offline_logs_every_epoch_to_one_run_across_a_resume(
    make_config, tmp_path, monkeypatch
):
    monkeypatch.setenv("WANDB_MODE", "offline")  # logger.wandb.mode=null: the environment's
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg, model, run_dir = make_config("logger=wandb"), tiny_model(), tmp_path / "run"
    run_dir.mkdir()
    OmegaConf.save(cfg, run_dir / "config.yaml")
    drive(build_callbacks(cfg, model), range(0, 2))
    run_id = json.loads((run_dir / "wandb.json").read_text())["run_id"]
    drive(build_callbacks(cfg, model), range(2, 3))  # resumed: the same W&B run
    assert json.loads((run_dir / "wandb.json").read_text())["run_id"] == run_id
    wandb.teardown()  # W&B's service writes the run's file after finish(): now, when it stops
    assert {path.name.rsplit("-", 1)[-1] for path in run_dir.glob("wandb/offline-run-*")} == {
        run_id
    }
    history = wandb_records(run_dir, "history")
    assert [entry["_step"] for entry in history] == [1, 2, 3]
    assert [entry["val_accuracy"] for entry in history] == [e["val_accuracy"] for e in EPOCH_LOGS]
    summary = {k: v for update in wandb_records(run_dir, "summary") for k, v in update.items()}
    assert summary["best_val_accuracy"] == 0.8 and summary["epochs"] == 3  # the result
{%- if cookiecutter.tracking == "all" %}


def test_two_loggers_at_once_each_get_every_epoch(make_config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # MLflow's default store: ./mlruns/
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = make_config("logger=[mlflow,wandb]", "logger.wandb.mode=offline")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    OmegaConf.save(cfg, run_dir / "config.yaml")
    drive(build_callbacks(cfg, tiny_model()), range(0, 3))
    wandb.teardown()
    expected = [logs["val_loss"] for logs in EPOCH_LOGS]
    assert [entry["val_loss"] for entry in wandb_records(run_dir, "history")] == expected
    saved = json.loads((run_dir / "mlflow.json").read_text())
    client = mlflow.MlflowClient(saved["tracking_uri"])
    history = client.get_metric_history(saved["run_id"], "val_loss")
    assert [(metric.step, metric.value) for metric in history] == list(enumerate(expected))
{%- endif %}
