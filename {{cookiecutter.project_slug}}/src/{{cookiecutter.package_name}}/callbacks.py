"""The Keras callbacks that the training loop drives: a tracker (the logger= group) and your own.

    {{ cookiecutter.package_name }}-train logger=csv      # run_dir/metrics.csv, one row per epoch
    {{ cookiecutter.package_name }}-train logger=mlflow   # after pip install -e ".[mlflow]"; then:
    mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db
    {{ cookiecutter.package_name }}-train 'callbacks=[{_target_: keras.callbacks.TerminateOnNaN}]'

logger=tensorboard (the default) adds no callback: the loop writes run_dir/tensorboard/ itself.
The loop calls on_train_begin, on_epoch_begin, on_train_batch_end (at the logging steps, with
the training scalars), on_epoch_end (loss, accuracy, val_loss, val_accuracy, learning_rate) and
on_train_end (the result of train()). Under multi-worker training only the chief calls them.
"""

import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from . import summaries
from .runs import CONFIG_FILE

log = logging.getLogger(__name__)

CSV_FILE = "metrics.csv"  # logger=csv, in the run directory
MLFLOW_FILE = "mlflow.json"  # the MLflow run of a run directory, for resumes, eval and export
MLFLOW_DIR = "mlruns"  # the default MLflow store, in the working directory
MLFLOW_BATCH = 100  # params per request (MLflow's own limit)


def build_callbacks(
    cfg: DictConfig, run_dir: Path, model: keras.Model, chief: bool
) -> keras.callbacks.CallbackList:
    """The callbacks of a training run: the logger's, then those of cfg.callbacks.

    Args:
        cfg: The training config; reads `logger` and `callbacks` (and all of it as MLflow params).
        run_dir: The run directory, where logger=csv and logger=mlflow keep their files.
        model: The model being trained, set on every callback.
        chief: False on the other workers of a multi-worker run: they get no callbacks.

    Returns:
        A CallbackList for the loop to call.
    """
    if not chief:
        return keras.callbacks.CallbackList([], model=model)
    callbacks = logger_callbacks(cfg, Path(run_dir)) + user_callbacks(cfg.get("callbacks") or [])
    return keras.callbacks.CallbackList(callbacks, model=model)


def logger_callbacks(cfg: DictConfig, run_dir: Path) -> list[keras.callbacks.Callback]:
    """The callbacks of cfg.logger.name (config.Logger): a CSVLogger, an MLflowLogger, or
    none for tensorboard, whose summaries the loop writes itself."""
    logger = cfg.logger
    if logger.name == "csv":
        # append: a resumed run continues the file instead of starting it anew
        return [keras.callbacks.CSVLogger(str(run_dir / CSV_FILE), append=True)]
    if logger.name == "mlflow":
        params = summaries.flat_hparams(OmegaConf.to_container(cfg, resolve=True))
        return [MLflowLogger(run_dir, logger.tracking_uri, logger.experiment_name, params)]
    return []


def user_callbacks(specs: Sequence[Any]) -> list[keras.callbacks.Callback]:
    """Instantiates each `{_target_: some.module.Callback, arg: value}` of cfg.callbacks."""
    callbacks = []
    for index, spec in enumerate(specs):
        example = "e.g. callbacks=[{_target_: keras.callbacks.TerminateOnNaN}]"
        is_mapping = OmegaConf.is_dict(spec) or isinstance(spec, Mapping)
        if not is_mapping or "_target_" not in spec:
            raise ValueError(f"callbacks[{index}] = {spec} has no _target_; {example}.")
        try:
            callback = instantiate(spec, _convert_="all")
        except InstantiationException as error:
            raise ValueError(f"callbacks[{index}] could not be made: {error}") from error
        if not isinstance(callback, keras.callbacks.Callback):
            raise ValueError(
                f"callbacks[{index}]: {spec['_target_']} made a {type(callback).__name__}, "
                f"not a keras.callbacks.Callback; {example}."
            )
        callbacks.append(callback)
    return callbacks


# === MLflow ===


class MLflowLogger(keras.callbacks.Callback):
    """Logs a training run to its MLflow run: the params, each epoch's metrics, the result.

    One MLflow run per run directory (named in run_dir/mlflow.json): a resumed training logs
    on into the same MLflow run, and eval and export add their files to it (log_artifacts).
    """

    def __init__(
        self,
        run_dir: Path,
        tracking_uri: str | None,
        experiment_name: str | None,
        params: Mapping[str, Any],
    ):
        super().__init__()
        import_mlflow()  # without MLflow, fail before training starts
        self.run_dir = run_dir
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

    Does nothing unless the run was trained with logger=mlflow (its config.yaml says so).
    A file or folder inside run_dir keeps its relative place (export/1/ stays export/1/).
    """
    run_dir = Path(run_dir)
    config_path = run_dir / CONFIG_FILE
    logger = OmegaConf.load(config_path).get("logger") if config_path.exists() else None
    if logger is None or logger.get("name") != "mlflow":
        return
    client, run_id = open_mlflow_run(
        run_dir, logger.get("tracking_uri"), logger.get("experiment_name")
    )
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


def import_mlflow() -> Any:
    """The mlflow module, or a RuntimeError that says how to install it."""
    try:
        import mlflow
    except ImportError as error:
        raise RuntimeError(
            'logger=mlflow needs MLflow, an optional extra: pip install -e ".[mlflow]" '
            "(or train with logger=tensorboard or logger=csv)."
        ) from error
    return mlflow


def open_mlflow_run(
    run_dir: Path, tracking_uri: str | None, experiment_name: str | None
) -> tuple[Any, str]:
    """(MlflowClient, run id) of the MLflow run of `run_dir`; creates it the first time.

    tracking_uri None means $MLFLOW_TRACKING_URI, else a SQLite store in ./mlruns/ (MLflow 3
    refuses its old plain-file store unless told otherwise). The run id and the absolute
    tracking URI go to run_dir/mlflow.json, so that later commands find the run from anywhere.
    """
    mlflow = import_mlflow()
    record = Path(run_dir) / MLFLOW_FILE
    if record.exists():
        saved = json.loads(record.read_text())
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
    record.write_text(json.dumps(saved, indent=2) + "\n")
    return client, run_id


def log_params(client: Any, run_id: str, params: Mapping[str, Any]) -> None:
    from mlflow.entities import Param

    items = [Param(name, str(value)) for name, value in params.items()]
    for start in range(0, len(items), MLFLOW_BATCH):
        client.log_batch(run_id, params=items[start : start + MLFLOW_BATCH])


def log_metrics(client: Any, run_id: str, values: Mapping[str, Any], step: int) -> None:
    """Logs the numbers among `values` (names, paths and digests are left out)."""
    from mlflow.entities import Metric

    timestamp = int(time.time() * 1000)
    metrics = [
        Metric(name, float(value), timestamp, step)
        for name, value in values.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    ]
    if metrics:
        client.log_batch(run_id, metrics=metrics)
