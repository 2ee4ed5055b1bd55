"""logger=mlflow: one MLflow run per run directory, called with fake logs (no training)."""

import json

import mlflow
import pytest
from helpers import PACKAGE, drive, tiny_model
from omegaconf import OmegaConf

from {{ cookiecutter.package_name }}.controller import build_callbacks
from {{ cookiecutter.package_name }}.mlflow_tracking import log_artifacts


def test_log_artifacts_does_nothing_for_a_run_without_mlflow(make_config, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    OmegaConf.save(make_config("logger=tensorboard"), run_dir / "config.yaml")
    (run_dir / "metrics.json").write_text("{}")
    log_artifacts(run_dir, [run_dir / "metrics.json"])
    assert sorted(path.name for path in run_dir.iterdir()) == ["config.yaml", "metrics.json"]


@pytest.mark.slow  # MLflow creates its SQLite store: 2 to 8 seconds
def test_mlflow_logs_params_metrics_and_artifacts_to_one_run(make_config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default store: ./mlruns/
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg, model, run_dir = make_config("logger=mlflow"), tiny_model(), tmp_path / "run"
    run_dir.mkdir()
    OmegaConf.save(cfg, run_dir / "config.yaml")
    drive(build_callbacks(cfg, model), range(0, 2))
    run_id = json.loads((run_dir / "mlflow.json").read_text())["run_id"]
    drive(build_callbacks(cfg, model), range(2, 3))  # resumed
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
    assert not [name for name in run.data.params if name.startswith(("run_dir", "logger."))]
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
