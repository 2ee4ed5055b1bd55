"""The Keras callbacks that the training loop drives: the logger= group's and your own.

    {{ cookiecutter.package_name }}-train logger=csv      # run_dir/metrics.csv, one row per epoch
{%- if cookiecutter.tracking == "mlflow" %}
    {{ cookiecutter.package_name }}-train logger=mlflow   # MLflow: see mlflow_tracking.py
{%- endif %}
    {{ cookiecutter.package_name }}-train 'callbacks=[{_target_: keras.callbacks.TerminateOnNaN}]'

logger=tensorboard (the default) adds none: the loop writes run_dir/tensorboard/ itself. The
loop calls on_train_begin, on_epoch_begin, on_train_batch_end (at log steps), on_epoch_end
(loss, accuracy, val_loss, val_accuracy, learning_rate) and on_train_end (train()'s result).
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


def build_callbacks(
    cfg: DictConfig, run_dir: Path, model: keras.Model
) -> keras.callbacks.CallbackList:
    """The logger's callback, then each `{_target_: some.Callback, arg: value}` of
    cfg.callbacks, all set to `model`."""
    callbacks = []
    if cfg.logger.name == "csv":  # append: a resumed run continues the file
        callbacks.append(keras.callbacks.CSVLogger(f"{run_dir}/metrics.csv", append=True))
{%- if cookiecutter.tracking == "mlflow" %}
    if cfg.logger.name == "mlflow":
        params = summaries.flat_hparams(OmegaConf.to_container(cfg, resolve=True))
        logger = cfg.logger
        callbacks.append(
            MLflowLogger(Path(run_dir), logger.tracking_uri, logger.experiment_name, params)
        )
{%- endif %}
    for index, spec in enumerate(cfg.callbacks):
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
