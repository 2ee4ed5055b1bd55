"""MLflow tracking (logger=mlflow): each run directory gets one MLflow run, with the config as
params, each epoch's metrics, the result, and eval's and export's files as artifacts.

    {{ cookiecutter.package_name }}-train logger=mlflow{{ "             # logger=[mlflow,wandb]: W&B too" if cookiecutter.tracking == "all" }}
    mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db

logger.mlflow.tracking_uri (default $MLFLOW_TRACKING_URI, else ./mlruns/) and
logger.mlflow.experiment_name choose where.
"""

import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras
import mlflow
from mlflow.entities import Metric, Param

from . import jsonio

log = logging.getLogger(__name__)

MLFLOW_FILE = "mlflow.json"  # the MLflow run of a run directory, for resumes, eval and export
MLFLOW_DIR = "mlruns"  # the default MLflow store, in the working directory
MLFLOW_BATCH = 100  # params per request (MLflow's own limit)


class MLflowLogger(keras.callbacks.Callback):
    """Logs a training run to its MLflow run: the params, each epoch's metrics, the result.

    One MLflow run per run directory (named in run_dir/mlflow.json): a resumed training logs
    on into the same MLflow run, and eval and export add their files to it (log_artifacts).
    """

    def __init__(
        self,
        run_dir: str | Path,
        tracking_uri: str | None,
        experiment_name: str | None,
        params: Mapping[str, Any],
    ):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.tracking_uri = tracking_uri
        self.experiment_name = experiment_name
        self.params = params
        self.client = None
        self.run_id = None
        self.epoch_metrics = set()  # names logged by on_epoch_end, with a step per epoch

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.client, self.run_id = open_mlflow_run(
            self.run_dir, self.tracking_uri, self.experiment_name
        )
        self.client.update_run(self.run_id, status="RUNNING")
        # Params cannot change in MLflow: a resumed run logs only those it lacks (train.epochs
        # keeps the value the run started with).
        logged = self.client.get_run(self.run_id).data.params
        missing = {name: value for name, value in self.params.items() if name not in logged}
        log_params(self.client, self.run_id, missing)
        log.info("MLflow run %s (see %s)", self.run_id, self.run_dir / MLFLOW_FILE)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        log_metrics(self.client, self.run_id, logs, step=epoch)
        self.epoch_metrics.update(logs)

    def on_train_end(self, logs: dict | None = None) -> None:
        """Logs the values of the result that the epochs did not (e.g. best_val_accuracy)."""
        logs = logs or {}
        final = {name: value for name, value in logs.items() if name not in self.epoch_metrics}
        log_metrics(self.client, self.run_id, final, step=int(logs.get("epochs", 0)))
        self.client.set_terminated(self.run_id, "FINISHED")


def log_artifacts(run_dir: Path, paths: list[Path]) -> None:
    """Adds files and folders (metrics.json, report.md, an export) to a run's MLflow run.

    Does nothing unless the run was trained with logger=mlflow: it has mlflow.json, which eval
    and export look for too (before importing MLflow). A file or folder inside run_dir keeps
    its relative place (export/1/ stays export/1/).
    """
    run_dir = Path(run_dir)
    if not (run_dir / MLFLOW_FILE).exists():
        return
    client, run_id = open_mlflow_run(run_dir, None, None)  # the MLflow run mlflow.json names
    for path in map(Path, paths):
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist: nothing to log to MLflow.")
        try:
            place = path.resolve().relative_to(run_dir.resolve())
        except ValueError:  # outside the run directory: at the top of the artifacts
            place = Path(path.name)
        if path.is_dir():
            client.log_artifacts(run_id, str(path), artifact_path=place.as_posix())
        else:
            parent = place.parent.as_posix()
            client.log_artifact(run_id, str(path), artifact_path=None if parent == "." else parent)
    log.info("Logged %s to MLflow run %s", ", ".join(str(path) for path in paths), run_id)


def open_mlflow_run(
    run_dir: Path, tracking_uri: str | None, experiment_name: str | None
) -> tuple[Any, str]:
    """(MlflowClient, run id) of the MLflow run of `run_dir`; creates it the first time.

    tracking_uri None means $MLFLOW_TRACKING_URI, else a SQLite store in ./mlruns/ (MLflow 3
    refuses its old plain-file store unless told otherwise). The run id and the absolute
    tracking URI go to run_dir/mlflow.json, so that later commands find the run from anywhere.
    """
    record = Path(run_dir) / MLFLOW_FILE
    if record.exists():
        saved = jsonio.read_json(record)
        return mlflow.MlflowClient(saved["tracking_uri"]), saved["run_id"]
    artifact_location = None
    if tracking_uri is None:
        tracking_uri = os.environ.get("MLFLOW_TRACKING_URI")
    if tracking_uri is None:
        store = Path(MLFLOW_DIR).resolve()
        store.mkdir(parents=True, exist_ok=True)
        tracking_uri = f"sqlite:///{(store / 'mlflow.db').as_posix()}"
        artifact_location = (store / "artifacts").as_uri()
    client = mlflow.MlflowClient(tracking_uri)
    experiment_id = "0"  # MLflow's "Default" experiment
    if experiment_name:
        experiment = client.get_experiment_by_name(experiment_name)
        experiment_id = (
            experiment.experiment_id
            if experiment is not None
            else client.create_experiment(experiment_name, artifact_location=artifact_location)
        )
    run_dir = Path(run_dir).resolve()
    run = client.create_run(
        experiment_id, run_name="/".join(run_dir.parts[-2:]), tags={"run_dir": str(run_dir)}
    )
    run_id = run.info.run_id
    saved = {"tracking_uri": tracking_uri, "experiment_id": experiment_id, "run_id": run_id}
    jsonio.write_json(record, saved)  # whole or not at all, as wandb.json
    return client, run_id


def log_params(client: Any, run_id: str, params: Mapping[str, Any]) -> None:
    items = [Param(name, str(value)) for name, value in params.items()]
    for start in range(0, len(items), MLFLOW_BATCH):
        client.log_batch(run_id, params=items[start : start + MLFLOW_BATCH])


def log_metrics(client: Any, run_id: str, values: Mapping[str, Any], step: int) -> None:
    """Logs the numbers among `values` (names, paths and digests are left out)."""
    timestamp = int(time.time() * 1000)
    metrics = [
        Metric(name, float(value), timestamp, step)
        for name, value in values.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    ]
    if metrics:
        client.log_batch(run_id, metrics=metrics)
