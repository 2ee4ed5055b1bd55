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

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
{%- if cookiecutter.tracking == "mlflow" %}

from . import summaries
from .mlflow_tracking import MLflowLogger
{%- endif %}

log = logging.getLogger(__name__)

CSV_FILE = "metrics.csv"  # logger=csv, in the run directory


def build_callbacks(
    cfg: DictConfig, run_dir: Path, model: keras.Model
) -> keras.callbacks.CallbackList:
    """The callbacks of a training run: the logger's, then those of cfg.callbacks.

    Args:
{%- if cookiecutter.tracking == "mlflow" %}
        cfg: The training config; reads `logger` and `callbacks` (and all of it as MLflow params).
        run_dir: The run directory, where logger=csv and logger=mlflow keep their files.
{%- else %}
        cfg: The training config; reads `logger` and `callbacks`.
        run_dir: The run directory, where logger=csv keeps its file.
{%- endif %}
        model: The model being trained, set on every callback.

    Returns:
        A CallbackList for the loop to call.
    """
    callbacks = logger_callbacks(cfg, Path(run_dir)) + user_callbacks(cfg.get("callbacks") or [])
    return keras.callbacks.CallbackList(callbacks, model=model)


def logger_callbacks(cfg: DictConfig, run_dir: Path) -> list[keras.callbacks.Callback]:
    """The callbacks of cfg.logger.name (config.Logger): a CSVLogger{{ ", an MLflowLogger," if cookiecutter.tracking == "mlflow" else "" }} or
    none for tensorboard, whose summaries the loop writes itself."""
    logger = cfg.logger
    if logger.name == "csv":
        # append: a resumed run continues the file instead of starting it anew
        return [keras.callbacks.CSVLogger(str(run_dir / CSV_FILE), append=True)]
{%- if cookiecutter.tracking == "mlflow" %}
    if logger.name == "mlflow":
        params = summaries.flat_hparams(OmegaConf.to_container(cfg, resolve=True))
        return [MLflowLogger(run_dir, logger.tracking_uri, logger.experiment_name, params)]
{%- endif %}
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
