"""Every option, checked by its effect: one config value changed against an otherwise
identical run, and the property that option promises asserted.

    python -m pytest tests/test_options.py            # -m "not slow": the checks that build only

Runs are tiny (experiment=smoke: 2 epochs of 5 steps) and deterministic: the same seed gives
the same initial weights and data order, so the one changed value is all that differs. Each
distinct run is trained once per module and shared by the rows that compare with it.
"""

import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import logged_scalars, smoke_config
from omegaconf import DictConfig

from {{ cookiecutter.package_name }} import checkpoints, runs
from {{ cookiecutter.package_name }} import export as export_lib
from {{ cookiecutter.package_name }} import model as model_lib
from {{ cookiecutter.package_name }} import optimizer as optimizer_lib
from {{ cookiecutter.package_name }}.data import preprocess_data
from {{ cookiecutter.package_name }}.train import train

pytestmark = pytest.mark.slow  # every test here trains

# The run every row changes one value of (on top of experiment=smoke): a constant learning
# rate, AdamW without decay (Adam), a checkpoint after every step (10 saves, 3 kept) and a
# validation of train.validation_steps batches at the end of each epoch.
BASE = (
    "train.epochs=2",
    "train.lr_schedule=constant",
    "train.optimizer=adamw",
    "train.weight_decay=0",
    "train.checkpoint_every_steps=1",
    "train.validate_every_steps=5",
)


@dataclass
class Run:
    cfg: DictConfig
    result: dict

    @property
    def run_dir(self) -> Path:
        return Path(self.cfg.run_dir)

    def model(self) -> keras.Model:
        """The run's model with the weights of its latest checkpoint."""
        model = model_lib.build_model(self.cfg.model, runs.load_metadata(self.run_dir))
        checkpoints.restore_model(model, self.run_dir)
        return model


@pytest.fixture(scope="module")
def module_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("options")


@pytest.fixture(scope="module")
def train_run(module_dir) -> Callable[..., Run]:
    """train_run(*overrides): BASE plus overrides, trained once per module (one records dir)."""
    done: dict[tuple[str, ...], Run] = {}

    def run(*overrides: str) -> Run:
        if overrides not in done:
            run_dir = module_dir / f"run-{len(done)}"
            cfg = smoke_config(module_dir, *BASE, *overrides, f"run_dir={run_dir}")
            done[overrides] = Run(cfg, train(cfg))
        return done[overrides]

    return run


# === Checks: (baseline run, changed run, train_run) -> asserts the option's effect ===


def kernel_norm(run: Run, l1: float, l2: float) -> float:
    return float(model_lib.weight_penalty(run.model(), l1, l2))


def weights(run: Run) -> np.ndarray:
    return np.concatenate([weight.ravel() for weight in run.model().get_weights()])


def l1_shrinks_the_kernels(baseline: Run, changed: Run, train_run: Callable) -> None:
    assert kernel_norm(changed, 1.0, 0.0) < 0.98 * kernel_norm(baseline, 1.0, 0.0)


def l2_shrinks_the_kernels(baseline: Run, changed: Run, train_run: Callable) -> None:
    assert kernel_norm(changed, 0.0, 1.0) < 0.98 * kernel_norm(baseline, 0.0, 1.0)


def optimizer_slots_per_weight(run: Run) -> float:
    """Optimizer state variables in the checkpoint per trainable weight (Adam 2, SGD 1)."""
    names = tf.train.list_variables(str(run.result["checkpoint"]))
    slots = [name for name, shape in names if name.startswith("optimizer/_variables/") and shape]
    return len(slots) / len(run.model().trainable_weights)


def the_optimizer_is_sgd(baseline: Run, changed: Run, train_run: Callable) -> None:
    assert optimizer_slots_per_weight(baseline) == 2  # AdamW: m and v
    assert optimizer_slots_per_weight(changed) == 1  # SGD: the momentum


def clip_norm_bounds_every_update(baseline: Run, changed: Run, train_run: Callable) -> None:
    """SGD with momentum 0.9 moves the weights at step k by at most learning_rate * clip_norm
    * (1 + 0.9 + ... + 0.9^(k-1)) when every gradient is clipped to clip_norm."""
    initial = weights(train_run("train.optimizer=sgd", "train.learning_rate=0"))
    steps = changed.result["steps"]
    bound = changed.cfg.train.learning_rate * changed.cfg.train.clip_norm
    bound *= sum((1 - 0.9**step) / (1 - 0.9) for step in range(1, steps + 1))
    assert np.linalg.norm(weights(changed) - initial) <= bound * (1 + 1e-4)
    assert np.linalg.norm(weights(baseline) - initial) > 10 * bound  # the clip binds


def the_lowest_val_loss_is_best(baseline: Run, changed: Run, train_run: Callable) -> None:
    losses = logged_scalars(changed.run_dir, "validation", "loss")
    assert len(set(losses.values())) == len(losses) == 2  # two epochs: a choice to make
    best = json.loads((changed.run_dir / "checkpoints" / "best" / "best.json").read_text())
    lowest_step = min(losses, key=losses.get)
    assert best["metric"] == "val_loss" and best["step"] == lowest_step
    assert best["value"] == pytest.approx(losses[lowest_step], rel=1e-6)


def saved_steps(run: Run) -> list[int]:
    index_files = (run.run_dir / "checkpoints").glob("ckpt-*.index")
    return sorted(int(path.name.split(".")[0].removeprefix("ckpt-")) for path in index_files)


def two_checkpoints_are_kept(baseline: Run, changed: Run, train_run: Callable) -> None:
    # A save after each of the 10 steps: more saves than either run keeps.
    assert saved_steps(baseline) == [8, 9, 10]
    assert saved_steps(changed) == [9, 10]


def subset_examples(run: Run) -> list[int]:
    log = (run.run_dir / "train.log").read_text()
    return [int(count) for count in re.findall(r"validation subset of (\d+) examples", log)]


def validation_takes_one_batch(baseline: Run, changed: Run, train_run: Callable) -> None:
    split = runs.load_metadata(changed.run_dir).counts["validation"]["total"]
    batch_size = changed.cfg.train.batch_size
    assert batch_size < split  # the split has more than one batch: a real subset
    assert subset_examples(baseline) == [split] * 2
    assert subset_examples(changed) == [batch_size] * 2
    # At step 5 the subset was validated, and, as the epoch ended, the whole split.
    for run, whole_split in ((baseline, True), (changed, False)):
        subset = logged_scalars(run.run_dir, "validation", "subset_loss")[5]
        whole = logged_scalars(run.run_dir, "validation", "loss")[5]
        assert (subset == pytest.approx(whole, rel=1e-6)) is whole_split


# === Training options: (the one change, the run it changes, its check) ===
# Checked elsewhere: train.learning_rate, lr_schedule, warmup_steps, lr_decay_* (test_model.py),
# patience, min_delta, checkpoint_every_steps, mixed_precision, jit_compile (test_train.py),
# histogram_every_steps (test_summaries.py), resume (test_runs.py, test_checkpoints.py), init_from
{%- if cookiecutter.cluster %}
# (test_checkpoints.py). distribute.devices, communication and `auto` resolving to mirrored:
# test_distribute.py and test_multi_worker.py, in processes of their own, because TensorFlow's
# logical devices can be set only once per process.
{%- else %}
# (test_checkpoints.py). distribute.devices and `auto` resolving to mirrored: test_distribute.py,
# in processes of their own, because TensorFlow's logical devices can be set only once per
# process.
{%- endif %}
TRAINING_OPTIONS = [
    pytest.param("train.l1=0.1", (), l1_shrinks_the_kernels, id="l1"),
    pytest.param("train.l2=1.0", (), l2_shrinks_the_kernels, id="l2"),
    pytest.param("train.weight_decay=10", (), l2_shrinks_the_kernels, id="weight_decay"),
    pytest.param("train.optimizer=sgd", (), the_optimizer_is_sgd, id="optimizer"),
    pytest.param(
        "train.clip_norm=0.001",
        ("train.optimizer=sgd",),  # Adam's steps do not grow with the gradient's norm
        clip_norm_bounds_every_update,
        id="clip_norm",
    ),
    pytest.param("train.monitor=val_loss", (), the_lowest_val_loss_is_best, id="monitor"),
    pytest.param("train.keep_checkpoints=2", (), two_checkpoints_are_kept, id="keep_checkpoints"),
    pytest.param(
        "train.validation_steps=1", (), validation_takes_one_batch, id="validation_steps"
    ),
]


@pytest.mark.full  # about 10 tiny runs, one or two for each row
@pytest.mark.parametrize("change, base, check", TRAINING_OPTIONS)
def test_a_training_option_does_what_it_says(train_run, change, base, check):
    check(train_run(*base), train_run(*base, change), train_run)


# === Data options: the model input that the preprocessed data asks for ===
{%- if cookiecutter.model_type == "cnn" %}
DATA_OPTIONS = [
    pytest.param("data.channels=3", (16, 16, 3), id="channels"),
    pytest.param("data.image_size=[20,20]", (20, 20, 1), id="image_size"),
]
{%- else %}
DATA_OPTIONS = [
    pytest.param("data.sequence_length=5", (5,), id="sequence_length"),
]
{%- endif %}


@pytest.mark.parametrize("change, input_shape", DATA_OPTIONS)
def test_a_data_option_changes_the_model_input(module_dir, change, input_shape):
    def model_input_shape(*overrides: str) -> tuple[int, ...]:
        cfg = smoke_config(module_dir, *overrides)
        _, metadata = preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
        return tuple(model_lib.build_model(cfg.model, metadata).input_shape[1:])

    assert model_input_shape() != input_shape
    assert model_input_shape(change) == input_shape


# === Model options: the layers of the model the config builds ===
{%- if cookiecutter.model_type == "cnn" %}
HIDDEN_LAYERS = ("conv1", "conv2", "fc1", "fc2")
MODEL_OPTIONS = [
    pytest.param(
        "model.activation=tanh",
        lambda model: {model.get_layer(name).activation.__name__ for name in HIDDEN_LAYERS},
        {"tanh"},
        id="activation",
    ),
    pytest.param(
        "model.dropout_rate=0.5",
        lambda model: {model.get_layer(name).rate for name in ("dropout1", "dropout2")},
        {0.5},
        id="dropout_rate",
    ),
]
{%- else %}
MODEL_OPTIONS = [
    pytest.param(
        "model.embedding_dim=8",
        lambda model: model.get_layer("embedding").output_dim,
        8,
        id="embedding_dim",
    ),
    pytest.param(
        "model.dropout_rate=0.5",
        lambda model: model.get_layer("dropout").rate,
        0.5,
        id="dropout_rate",
    ),
    pytest.param(
        "model.units=16",
        lambda model: model.get_layer("bidirectional_1").forward_layer.units,
        16,
        id="units",
    ),
    pytest.param(
        "model.cell=gru",
        lambda model: type(model.get_layer("bidirectional_1").forward_layer).__name__,
        "GRU",
        id="cell",
    ),
    pytest.param(
        "model.num_layers=2",
        lambda model: sum(isinstance(layer, keras.layers.Bidirectional) for layer in model.layers),
        2,
        id="num_layers",
    ),
    pytest.param(
        "model.bidirectional=false",
        lambda model: any(isinstance(layer, keras.layers.Bidirectional) for layer in model.layers),
        False,
        id="bidirectional",
    ),
    pytest.param(
        "model.pooling=mean",
        lambda model: any(layer.name == "mean_pool" for layer in model.layers),
        True,
        id="pooling",
    ),
]
{%- endif %}


@pytest.mark.parametrize("change, probe, expected", MODEL_OPTIONS)
def test_a_model_option_changes_its_layers(module_dir, change, probe, expected):
    cfg = smoke_config(module_dir)
    _, metadata = preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
    baseline = model_lib.build_model(cfg.model, metadata)
    changed = model_lib.build_model(smoke_config(module_dir, change).model, metadata)
    assert probe(changed) == expected and probe(baseline) != expected


# === Optimizer options: the optimizer the config builds ===
OPTIMIZERS = [
    pytest.param(("train.optimizer=adam",), keras.optimizers.Adam, {}, id="adam"),
    pytest.param(
        ("train.optimizer=adamw", "train.weight_decay=0.2"),
        keras.optimizers.AdamW,
        {"weight_decay": 0.2},
        id="adamw-weight_decay",
    ),
    pytest.param(("train.optimizer=sgd",), keras.optimizers.SGD, {"momentum": 0.9}, id="sgd"),
]


@pytest.mark.parametrize("overrides, optimizer_type, attributes", OPTIMIZERS)
def test_the_optimizer_is_the_one_the_config_names(
    tmp_path, overrides, optimizer_type, attributes
):
    train_cfg = smoke_config(tmp_path, *overrides).train
    optimizer = optimizer_lib.build_optimizer(
        train_cfg.optimizer, train_cfg.learning_rate, train_cfg.weight_decay
    )
    assert type(optimizer) is optimizer_type  # AdamW is an Adam: isinstance would not tell
    for name, value in attributes.items():
        assert getattr(optimizer, name) == pytest.approx(value), name


# === Export options (of a copy of the shared run) ===

FEW = {"accuracy_examples": 16}  # scoring the whole test split is not what these check


@pytest.fixture
def run_dir(shared_run, tmp_path) -> Path:
    """A copy of conftest's shared run, exported once (export/1), for one test to export."""
    shutil.copytree(shared_run.run_dir, tmp_path / "run")
    return tmp_path / "run"


@pytest.mark.slow
def test_export_version_pins_the_folder_and_is_never_overwritten(run_dir):
    assert export_lib.export(run_dir, version=7, **FEW) == run_dir / "export" / "7"
    with pytest.raises(FileExistsError, match="choose another export.version"):
        export_lib.export(run_dir, version=7, **FEW)
    assert export_lib.export(run_dir, **FEW) == run_dir / "export" / "8"  # the next free version


@pytest.mark.slow
def test_export_checks_as_many_examples_as_check_examples(run_dir, monkeypatch):
    checked = []

    def counting_check(export_path, raw_inputs, *args):
        checked.append(len(raw_inputs))
        return check_export(export_path, raw_inputs, *args)

    check_export = export_lib.check_export
    monkeypatch.setattr(export_lib, "check_export", counting_check)
    export_lib.export(run_dir, check_examples=3, **FEW)
    assert checked == [3]


@pytest.fixture
def perturbed_reference(monkeypatch):
    """The Keras model's probabilities, which every export check compares with, off by 1e-4
    (the classes stay the same): a check with a tolerance below that must fail."""
    keras_probabilities = export_lib.keras_probabilities
    monkeypatch.setattr(
        export_lib, "keras_probabilities", lambda *args: keras_probabilities(*args) + 1e-4
    )


@pytest.mark.slow
def test_export_tolerance_is_the_largest_allowed_difference(run_dir, perturbed_reference):
    before = sorted(path.name for path in (run_dir / "export").glob("*"))
    with pytest.raises(ValueError, match="The reloaded export.* differs from the Keras model"):
        export_lib.export(run_dir, tolerance=1e-5, **FEW)
    assert sorted(path.name for path in (run_dir / "export").glob("*")) == before  # none kept
    export_lib.export(run_dir, tolerance=1e-3, **FEW)
