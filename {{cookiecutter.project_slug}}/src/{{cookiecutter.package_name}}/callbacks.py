"""The Keras callbacks that the training loop drives: a tracker (the logger= group) and your own.

    {{ cookiecutter.package_name }}-train logger=csv      # run_dir/metrics.csv, one row per epoch
{%- if cookiecutter.tracking == "mlflow" %}
    {{ cookiecutter.package_name }}-train logger=mlflow   # MLflow: see mlflow_tracking.py
{%- endif %}
    {{ cookiecutter.package_name }}-train 'callbacks=[{_target_: keras.callbacks.TerminateOnNaN}]'

logger=tensorboard (the default) adds no callback: the loop writes run_dir/tensorboard/ itself.
The loop calls on_train_begin, on_epoch_begin, on_train_batch_end (at the logging steps, with
the training scalars), on_epoch_end (loss, accuracy, val_loss, val_accuracy, learning_rate) and
on_train_end (the result of train()).
"""

from pathlib import Path

import keras
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig{% if cookiecutter.tracking == "mlflow" %}, OmegaConf{% endif %}
{%- if cookiecutter.tracking == "mlflow" %}

from . import summaries
from .mlflow_tracking import MLflowLogger
{%- endif %}

CSV_FILE = "metrics.csv"  # logger=csv, in the run directory


def build_callbacks(
    cfg: DictConfig, run_dir: Path, model: keras.Model
) -> keras.callbacks.CallbackList:
    """The callbacks of a training run: the logger's (none for tensorboard, whose summaries
    the loop writes itself), then each `{_target_: some.module.Callback, arg: value}` of
    cfg.callbacks, all set to `model`.
{%- if cookiecutter.tracking == "mlflow" %}

    logger=csv and logger=mlflow keep their files in `run_dir`; MLflow's params are
    summaries.flat_hparams(cfg).
{%- else %}

    logger=csv keeps its file in `run_dir`.
{%- endif %}
    """
    callbacks = []
    if cfg.logger.name == "csv":  # append: a resumed run continues the file
        callbacks.append(keras.callbacks.CSVLogger(str(Path(run_dir) / CSV_FILE), append=True))
{%- if cookiecutter.tracking == "mlflow" %}
    if cfg.logger.name == "mlflow":
        params = summaries.flat_hparams(OmegaConf.to_container(cfg, resolve=True))
        logger = cfg.logger
        callbacks.append(
            MLflowLogger(Path(run_dir), logger.tracking_uri, logger.experiment_name, params)
        )
{%- endif %}
    for index, spec in enumerate(cfg.get("callbacks") or []):
        try:
            callback = instantiate(spec, _convert_="all")
        except InstantiationException as error:
            raise ValueError(f"callbacks[{index}] could not be made: {error}") from error
        if not isinstance(callback, keras.callbacks.Callback):
            raise ValueError(
                f"callbacks[{index}] = {spec} made a {type(callback).__name__}, not a "
                "keras.callbacks.Callback; e.g. callbacks=[{_target_: keras.callbacks.TerminateOnNaN}]."
            )
        callbacks.append(callback)
    return keras.callbacks.CallbackList(callbacks, model=model)
