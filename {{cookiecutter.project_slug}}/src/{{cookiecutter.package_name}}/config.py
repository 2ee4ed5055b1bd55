"""Typed configuration schema, registered with Hydra's ConfigStore.

The YAML files under ``configs/`` fill these dataclasses, so a misspelt key or a value of the
wrong type fails when the config is composed, before any work starts. See the resolved
config of a run with:

    {{ cookiecutter.package_name }}-train --cfg job
"""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

{% if cookiecutter.model_type == "cnn" %}
@dataclass
class AugmentConfig:
    """Random training-time image changes (input_ops.augment_images); all off by default."""

    crop_padding: int = 0
    flip: bool = False
    brightness: float = 0.0

{% endif %}
@dataclass
class DataConfig:
    """Where the examples come from, how they are split, and how they are fed."""

    name: str = MISSING
    path: str | None = None
    test_path: str | None = None
{%- if cookiecutter.model_type == "rnn" %}
    text_column: str = "text"
    label_column: str = "label"
{%- endif %}
    download_dir: str | None = None
    records_dir: str = "data/records"
    num_examples: int = 0
    num_shards: int = 2
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    skip_invalid: bool = False
{%- if cookiecutter.model_type == "cnn" %}
    image_size: list[int] = field(default_factory=lambda: [32, 32])
    channels: int | None = None
    # Images whose shorter side is longer are stored shrunk to it (pixels); "auto": twice
    # image_size's longer side; null: store every image as it is.
    max_stored_size: Any = "auto"
    augment: AugmentConfig = field(default_factory=AugmentConfig)
{%- else %}
    sequence_length: int = 32
    max_vocab_size: int = 20000
    min_word_count: int = 1
{%- endif %}
    cache: str = "memory"
    shuffle_buffer: int = 10000
    shard_policy: str = "auto"

{% if cookiecutter.model_type == "cnn" %}
@dataclass
class ModelConfig:
    """LeNet-5; see models/lenet5net.py for what each value does."""

    name: str = "lenet5"
    activation: str = "relu"
    dropout_rate: float = 0.3
{%- else %}
@dataclass
class ModelConfig:
    """Embedding + recurrent stack; see models/lstmnet.py for what each value does."""

    name: str = "lstm"
    embedding_dim: int = 64
    units: int = 64
    cell: str = "lstm"
    bidirectional: bool = True
    num_layers: int = 1
    pooling: str = "last"
    dropout_rate: float = 0.2
{%- endif %}


@dataclass
class TrainConfig:
    """The training loop: optimisation, checkpoints and logging."""

    epochs: int = 10
    batch_size: int = 64
    max_steps_per_epoch: int | None = None
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    lr_schedule: str = "constant"
    warmup_steps: int = 0
    lr_decay_steps: int = 1000
    lr_decay_rate: float = 0.5
    weight_decay: float = 0.0
    clip_norm: float | None = None
    l1: float = 0.0
    l2: float = 0.0
    deterministic: bool = True
    mixed_precision: Any = "auto"
    jit_compile: Any = "auto"
    keep_checkpoints: int = 3
    checkpoint_every_steps: int = 0
    validate_every_steps: int = 0
    validation_steps: int = 10
    monitor: str = "val_accuracy"
    patience: int = 0
    min_delta: float = 0.0
    resume: str | None = None
    init_from: str | None = None
    init_partial: bool = False
    log_every_steps: int = 10
    histogram_every_steps: int = 0
    steps_per_loop: int = 10


@dataclass
class DistributeConfig:
    """Which tf.distribute strategy runs the loop; see distribute.py."""

    name: str = "auto"
    devices: list[str] | None = None
    logical_cpus: int = 0
    communication: str = "auto"
    worker_timeout_s: int = 300
    tpu: str | None = None


@dataclass
class ExportConfig:
    """What export writes and how strictly it checks the result."""

    version: int | None = None
    check_examples: int = 64
    tolerance: float = 1e-5
    tflite: bool = False
    tflite_tolerance: float = 1e-3
    keras: bool = False


@dataclass
class LoggerConfig:
    """Where a run is tracked besides TensorBoard: tensorboard, csv or mlflow (callbacks.py)."""

    name: str = "tensorboard"
    tracking_uri: str | None = None
    experiment_name: str | None = None


@dataclass
class Config:
    """The whole config of one training run."""

    seed: int = 42
    run_dir: str | None = None  # null: a new dated folder under runs_root/<model>-<data>/
    runs_root: str = "runs"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    distribute: DistributeConfig = field(default_factory=DistributeConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    callbacks: list[Any] = field(default_factory=list)


@dataclass
class TestDataConfig:
    """Other test data for eval: the rest of the data config comes from the run."""

    test_path: str | None = None


@dataclass
class EvalConfig:
    """What eval reads: a run (a path, or `latest`) and one of its checkpoints."""

    run_dir: str = "latest"
    runs_root: str = "runs"
    checkpoint: str = "latest"
    batch_size: int | None = None
    data: TestDataConfig = field(default_factory=TestDataConfig)


@dataclass
class ExportCommandConfig:
    """What export reads (a run and one of its checkpoints) and writes."""

    run_dir: str = "latest"
    runs_root: str = "runs"
    checkpoint: str = "latest"
    export: ExportConfig = field(default_factory=ExportConfig)


def check_known_keys(cfg: Any, schema: type = Config) -> None:
    """Refuses keys the schema does not have (Hydra adds them with `+key=value`), which
    nothing would read."""
    known = set(leaf_keys(OmegaConf.to_container(OmegaConf.structured(schema))))
    unknown = [
        key
        for key in leaf_keys(OmegaConf.to_container(cfg))
        if not any(key == name or key.startswith(name + ".") for name in known)
    ]
    if unknown:
        raise ValueError(
            f"{', '.join(unknown)}: not a config key, so nothing would read it. Check the "
            "spelling; `--cfg job` prints every key."
        )


def leaf_keys(node: Any, prefix: str = "") -> list[str]:
    """The dotted keys of every value of a nested dict."""
    if not isinstance(node, dict) or not node:
        return [prefix[:-1]]
    return [key for name, value in node.items() for key in leaf_keys(value, f"{prefix}{name}.")]


def register_configs() -> None:
    """Registers the schemas that the YAML files under configs/ extend."""
    store = ConfigStore.instance()
    store.store(name="base_config", node=Config)
    store.store(name="base_eval", node=EvalConfig)
    store.store(name="base_export", node=ExportCommandConfig)
    store.store(group="data", name="base_data", node=DataConfig)
    store.store(group="model", name="base_model", node=ModelConfig)
    store.store(group="train", name="base_train", node=TrainConfig)
    store.store(group="distribute", name="base_distribute", node=DistributeConfig)
    store.store(group="logger", name="base_logger", node=LoggerConfig)
