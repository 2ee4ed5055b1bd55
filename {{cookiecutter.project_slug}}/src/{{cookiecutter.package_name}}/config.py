"""The types of the config, registered with Hydra's ConfigStore: a misspelt key, a wrong type or
a choice not allowed fails when the config is composed. The values and their comments are the
YAML files under configs/; `{{ cookiecutter.package_name }}-train --cfg job` prints them all.
"""

import contextlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from fnmatch import fnmatchcase
{%- if cookiecutter.tflite %}
from importlib import resources
{%- endif %}
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

RULES = (  # what each value may be, by key patterns (the first row that matches)
    ("*learning_rate *clip_norm", "> 0 and finite", lambda x: 0 < x < math.inf),
    ("*_rate *fraction *label_smoothing", "in [0, 1)", lambda x: 0 <= x < 1),
    ("*checkpoint_every_steps", "0 (off) or a multiple of steps_per_loop", lambda x: x >= 0),
    ("seed *examples *cpus *padding *freeze_epochs *decay *brightness", ">= 0", lambda x: x >= 0),
    ("*min_steps *overfit_batches", "0 (off) or more", lambda x: x >= 0),
    ("*limit", "in (0, 1]", lambda x: 0 < x <= 1),
    ("*profile_steps", "[first, last] step, 1 <= first <= last", lambda x: 1 <= x[0] <= x[-1]),
{%- if cookiecutter.model_type == "cnn" %}
    ("*image_size", "[height, width], each at least 1", lambda x: len(x) == 2 and min(x) >= 1),
    ("*channels", "1 (gray), 3 (colour) or null (as the data is)", lambda x: x in (1, 3)),
{%- endif %}
    ("*path", "a file or folder that exists", lambda x: "://" in x or Path(x).exists()),
    ("*_dir runs_root", "a folder (made if missing), not a file", lambda x: not Path(x).is_file()),
    ("*", "at least 1", lambda x: type(x) is not int or x >= 1),  # every other size or count
)
# Where a run is, how often it logs or saves, how it is fed and spread over devices: none of it
# changes what is learned, so the runs table shows none of it.
BOOKKEEPING = (
    *("run_dir", "runs_root", "*_dir", "*path", "data.cache", "train.resume"),
    *("train.keep_checkpoints", "train.*_every_steps", "distribute.*", "logger.*", "callbacks"),
    "model._target_",  # model.name says which net
)


class Choice(str, Enum):
    """A value out of a fixed set that compares, prints and saves as its string."""

    __str__ = str.__str__
    __format__ = str.__format__


def choice(name: str, *values: str) -> type[Choice]:
    return Choice(name, [(value, value) for value in values], module=__name__, qualname=name)


Optimizer = choice("Optimizer", "adam", "adamw", "sgd")
LrSchedule = choice("LrSchedule", "constant", "cosine")
Monitor = choice("Monitor", "val_accuracy", "val_loss")
Cache = choice("Cache", "memory", "none")
{%- if cookiecutter.cluster %}
Strategy = choice("Strategy", "auto", "one_device", "mirrored", "multi_worker")
Communication = choice("Communication", "auto", "ring", "nccl")
{%- else %}
Strategy = choice("Strategy", "auto", "one_device", "mirrored")
{%- endif %}
{%- if cookiecutter.tflite %}
Quantization = choice("Quantization", "none", "dynamic", "float16", "int8")  # of the .tflite
{%- endif %}
Checkpoint = choice("Checkpoint", "latest", "best")  # eval's and export's: best by train.monitor
{%- if cookiecutter.tracking in ("wandb", "all") %}
WandbMode = choice("WandbMode", "online", "offline", "disabled")  # wandb.init's mode
{%- endif %}

{% if cookiecutter.model_type == "cnn" %}
@dataclass
class AugmentConfig:  # random training-time image changes (input_ops.augment_images)
    crop_padding: int = MISSING
    flip: bool = MISSING
    brightness: float = MISSING

{% endif %}
@dataclass
class DataConfig:
    name: str = MISSING
    path: str | None = MISSING
    test_path: str | None = MISSING
    allow_overlap: bool = MISSING
{%- if cookiecutter.model_type == "rnn" %}
    text_column: str = MISSING
    label_column: str = MISSING
{%- endif %}
    download_dir: str | None = MISSING
{%- if cookiecutter.tfds %}
    tfds_name: str | None = MISSING
    tfds_data_dir: str | None = MISSING
{%- endif %}
    records_dir: str = MISSING
    num_examples: int = MISSING
    validation_fraction: float = MISSING
    test_fraction: float = MISSING
    limit: float = MISSING
    skip_invalid: bool = MISSING
{%- if cookiecutter.model_type == "cnn" %}
    image_size: list[int] = MISSING
    channels: int | None = MISSING
    augment: AugmentConfig = field(default_factory=AugmentConfig)
{%- else %}
    sequence_length: int = MISSING
    max_vocab_size: int = MISSING
    min_word_count: int = MISSING
{%- endif %}
    cache: Cache = MISSING
    shuffle_buffer: int = MISSING


@dataclass
class TrainConfig:
    epochs: int = MISSING
    batch_size: int = MISSING
    steps_per_epoch: int | None = MISSING
    min_steps: int = MISSING
    overfit_batches: int = MISSING
    optimizer: Optimizer = MISSING
    learning_rate: float = MISSING
    lr_schedule: LrSchedule = MISSING
    weight_decay: float = MISSING
    clip_norm: float | None = MISSING
    label_smoothing: float = MISSING
    deterministic: bool = MISSING
    mixed_precision: Any = MISSING
    jit_compile: Any = MISSING
    keep_checkpoints: int = MISSING
    checkpoint_every_steps: int = MISSING
    monitor: Monitor = MISSING
    resume: str | None = MISSING
    init_from: str | None = MISSING
    log_every_steps: int = MISSING
    steps_per_loop: int = MISSING
    profile_steps: list[int] | None = MISSING
    eval_and_export: bool = MISSING


@dataclass
class DistributeConfig:
    name: Strategy = MISSING
    logical_cpus: int = MISSING
{%- if cookiecutter.cluster %}
    communication: Communication = MISSING
    worker_timeout_s: int = MISSING
{%- endif %}


{%- if cookiecutter.tflite %}


@dataclass
class ExportConfig:
    tflite: bool = MISSING
    tflite_tolerance: float = MISSING
    tflite_quantization: Quantization = MISSING
    quantized_tolerance: float = MISSING
    calibration_examples: int = MISSING
{%- endif %}
{%- if cookiecutter.tracking in ("mlflow", "all") %}


@dataclass
class MLflowConfig:  # configs/logger/mlflow.yaml
    _target_: str = MISSING
    tracking_uri: str | None = MISSING
    experiment_name: str | None = MISSING
{%- endif %}
{%- if cookiecutter.tracking in ("wandb", "all") %}


@dataclass
class WandbConfig:  # configs/logger/wandb.yaml
    _target_: str = MISSING
    project: str = MISSING
    entity: str | None = MISSING
    mode: WandbMode | None = MISSING
{%- endif %}
{%- if cookiecutter.tracking != "tensorboard" %}


@dataclass
class LoggerConfig:  # the loggers chosen (logger=[mlflow,wandb]: both), each a Keras callback
{%- if cookiecutter.tracking in ("mlflow", "all") %}
    mlflow: MLflowConfig | None = None
{%- endif %}
{%- if cookiecutter.tracking in ("wandb", "all") %}
    wandb: WandbConfig | None = None
{%- endif %}
{%- endif %}


@dataclass
class Config:  # of a training run
    seed: int = MISSING
    run_dir: str | None = MISSING
    runs_root: str = MISSING
    data: DataConfig = field(default_factory=DataConfig)
    # name, _target_ (the net's builder) and its keyword arguments (model.check_options)
    model: dict[str, Any] = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)
    distribute: DistributeConfig = field(default_factory=DistributeConfig)
{%- if cookiecutter.tracking != "tensorboard" %}
    logger: LoggerConfig = field(default_factory=LoggerConfig)
{%- endif %}
    callbacks: list[Any] = MISSING


@dataclass
class RunCommandConfig:  # eval's and export's: a run and which checkpoint of it
    run_dir: str = MISSING
    runs_root: str = MISSING
    checkpoint: Checkpoint = MISSING
    local: dict[str, Any] = field(default_factory=dict)  # configs/local/: its runs_root


@dataclass
class TestDataConfig:  # eval's other test data; the rest of the data config is the run's
    test_path: str | None = MISSING


@dataclass
class EvalConfig(RunCommandConfig):
    data: TestDataConfig = field(default_factory=TestDataConfig)
{%- if cookiecutter.tflite %}


@dataclass
class ExportCommandConfig(RunCommandConfig):
    export: ExportConfig = field(default_factory=ExportConfig)


def export_defaults() -> DictConfig:
    """configs/export.yaml's export options, typed: `export.export(run_dir)`'s defaults."""
    with resources.as_file(resources.files(__package__) / "configs" / "export.yaml") as path:
        return OmegaConf.merge(OmegaConf.structured(ExportConfig), OmegaConf.load(path).export)
{%- endif %}


def check_url(key: str, url: str) -> None:
    """Refuses a URL (gs://...) whose scheme TensorFlow has no file system for, naming the fix."""
    import tensorflow as tf  # here only: the runs table reads configs without TensorFlow

    scheme = url.split("://")[0]
    if scheme == "gs" and scheme not in tf.io.gfile.get_registered_schemes():
        with contextlib.suppress(ImportError):  # the gcs extra registers gs:// when imported
            import tensorflow_io_gcs_filesystem  # noqa: F401
    if scheme not in tf.io.gfile.get_registered_schemes():
        fix = " Install the gcs extra: pip install -e '.[gcs]' (Python 3.12 or older)."
        message = f"{key}={url}: this TensorFlow has no file system for {scheme}:// paths."
        raise ValueError(message + (fix if scheme == "gs" else ""))


def check_config(cfg: DictConfig) -> None:
    """Refuses, naming the key, values out of RULES, outputs in the data, bad loop settings."""
    values = flatten(OmegaConf.to_container(cfg, resolve=True))
    for key, value in values.items():
        _, allowed, rule = next(r for r in RULES if any(fnmatchcase(key, p) for p in r[0].split()))
        try:
            refused = value not in (None, MISSING) and not rule(value)  # null: off or automatic
        except TypeError:  # e.g. text for a number: model.* options have no schema types
            refused = True
        if refused:
            raise ValueError(f"{key}={value} must be {allowed}.")
        if isinstance(value, str) and "://" in value:
            check_url(key, value)
    for key in ("run_dir", "runs_root", "data.records_dir", "data.download_dir"):  # written to
        for data_key in ("data.path", "data.test_path"):
            folder, data = values[key], values[data_key]
            if folder and data and Path(folder).resolve().is_relative_to(Path(data).resolve()):
                raise ValueError(
                    f"{key}={folder} is inside {data_key}={data}: the next preprocess would "
                    "read what is written there as data. Choose a folder outside it."
                )
    every = cfg.train.steps_per_loop
    for key in ("log_every_steps", "checkpoint_every_steps"):
        value = cfg.train[key]  # > 0 (RULES) where not a multiple: fewer steps per call fit
        if value % every:
            raise ValueError(
                f"train.{key}={value} must be 0 (off) or a multiple of "
                f"train.steps_per_loop={every} (work is done between calls of {every} steps). "
                f"Set train.{key}={every} or train.steps_per_loop={math.gcd(value, every)}."
            )
    if cfg.train.jit_compile is True and cfg.train.deterministic:
        raise ValueError(
            "train.jit_compile=true cannot run with train.deterministic=true: XLA has no "
            "deterministic kernel for some gradients (e.g. MaxPool). Set "
            "train.deterministic=false to compile with XLA."
        )


def check_batch_size(batch_size: int, replicas: int, counts: Mapping) -> None:
    """Refuses a global batch larger than the training split (Metadata.counts)."""
    examples = counts["train"]["total"]
    if batch_size * replicas > examples:
        raise ValueError(
            f"train.batch_size={batch_size} on {replicas} replica(s) is more than the {examples} "
            f"training examples. Set train.batch_size={max(1, examples // replicas)} or less."
        )


def flatten(tree: Mapping, prefix: str = "") -> dict[str, Any]:
    """{"train": {"epochs": 3}} -> {"train.epochs": 3}; an empty mapping and a list are leaves."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


# The schemas that the YAML files under configs/ extend, registered when this module is imported.
store = ConfigStore.instance()
store.store(name="base_config", node=Config)
store.store(name="base_eval", node=EvalConfig)
store.store(name="base_export", node={{ "ExportCommandConfig" if cookiecutter.tflite else "RunCommandConfig" }})
store.store(group="data", name="base_data", node=DataConfig)
store.store(group="train", name="base_train", node=TrainConfig)
store.store(group="distribute", name="base_distribute", node=DistributeConfig)
