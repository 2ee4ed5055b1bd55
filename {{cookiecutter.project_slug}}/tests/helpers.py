"""What the test files share: import them with `from helpers import ...`."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
{% if cookiecutter.cluster -%}
from collections.abc import Callable
{% endif -%}
from pathlib import Path

import keras
import numpy as np
{%- if cookiecutter.cluster %}
import pytest
{%- endif %}
import tensorflow as tf
from hydra import compose, initialize_config_module
from omegaconf import DictConfig

from {{ cookiecutter.package_name }} import checkpoints, runs
from {{ cookiecutter.package_name }} import model as model_lib
from {{ cookiecutter.package_name }}.config import register_configs
from {{ cookiecutter.package_name }}.data import data_loader, input_ops

PACKAGE = "{{ cookiecutter.package_name }}"


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILLs `process` and, when it leads a session of its own (start_new_session=True),
    every process it started: a test that fails leaves no training worker behind."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        # An ended leader's group lives on while its children do.
        if process.poll() is not None or os.getpgid(process.pid) == process.pid:
            os.killpg(process.pid, signal.SIGKILL)
    process.kill()  # nothing when it has ended
    process.wait(timeout=60)


def run_bounded(command: list[str], timeout: float, **options) -> subprocess.CompletedProcess:
    """subprocess.run with stdout and stderr captured as text, in a session of its own: when
    it times out (or the test is interrupted) the process and all its children are killed."""
    options.update(stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process = subprocess.Popen(command, start_new_session=True, **options)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except BaseException:
        kill_group(process)
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
{%- if cookiecutter.cluster %}


def wait_for_first_checkpoint(
    process: subprocess.Popen,
    run_dir: Path,
    timeout: float = 240,
    output: Callable[[], str] = lambda: "",
) -> None:
    """Returns as soon as run_dir's first checkpoint is complete; fails the test when
    `process` ends first or nothing comes within `timeout` seconds (then kills it)."""
    index = Path(run_dir) / "checkpoints" / "checkpoint"
    deadline = time.monotonic() + timeout
    while not index.exists():
        if process.poll() is not None:
            pytest.fail(
                f"the process ended (rc {process.returncode}) before its first checkpoint\n"
                + output()[-5000:]
            )
        if time.monotonic() > deadline:
            kill_group(process)
            pytest.fail("no checkpoint within the time limit")
        time.sleep(0.01)
{%- endif %}


def kill_and_resume(run_module, run_dir, overrides, before=(), after=(), moment=None):
    """Trains into run_dir (with `before` too), SIGKILLs it when `moment(checkpoints folder)`
    holds (by default: its first checkpoint is complete), trains there again (with `after`);
    returns that run, which must finish, from the checkpoint there was at the kill."""
    moment = moment or (lambda checkpoints_dir: (checkpoints_dir / "checkpoint").exists())
    command = [sys.executable, "-m", f"{PACKAGE}.train", *overrides, f"run_dir={run_dir}"]
    options = {"cwd": run_dir.parent, "env": run_module.env}
    process = subprocess.Popen([*command, *before], start_new_session=True, **options)
    try:  # in a session of its own, which kill_group ends whole
        deadline = time.monotonic() + 240
        while not moment(run_dir / "checkpoints"):
            assert process.poll() is None, "the run ended before the moment came"
            assert time.monotonic() < deadline, "the moment did not come in 4 minutes"
            time.sleep(0.002)
    finally:
        kill_group(process)
    resumes = (run_dir / "checkpoints" / "checkpoint").exists()
    resumed = run_bounded([*command, *after], 300, **options)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert ("Resuming from" in resumed.stderr) == resumes
    return resumed


def final_weights(run_dir) -> list:
    """The weights of the run's latest checkpoint."""
    model = model_lib.build_model(runs.load_config(run_dir).model, runs.load_metadata(run_dir))
    checkpoints.restore_model(model, run_dir)
    return model.get_weights()


def smoke_config(tmp_path: Path, *overrides: str) -> DictConfig:
    """The project's config with experiment=smoke, its run and records in tmp_path."""
    register_configs()
    paths = [f"run_dir={tmp_path / 'run'}", f"data.records_dir={tmp_path / 'records'}"]
    with initialize_config_module(config_module=f"{PACKAGE}.configs", version_base="1.3"):
        return compose(config_name="config", overrides=["experiment=smoke", *paths, *overrides])


# What the loop passes to on_epoch_end, one dict per epoch.
EPOCH_LOGS = [
    {"loss": 1.5, "accuracy": 0.4, "val_loss": 1.2, "val_accuracy": 0.5, "learning_rate": 1e-3},
    {"loss": 0.9, "accuracy": 0.7, "val_loss": 0.8, "val_accuracy": 0.75, "learning_rate": 5e-4},
    {"loss": 0.6, "accuracy": 0.8, "val_loss": 0.7, "val_accuracy": 0.8, "learning_rate": 1e-4},
]


def tiny_model() -> keras.Model:
    inputs = keras.Input((4,), name="features")
    return keras.Model(inputs, keras.layers.Dense(2, name="logits")(inputs), name="tiny")


def drive(callbacks: keras.callbacks.CallbackList, epochs: range) -> None:
    """Calls the callbacks as the loop does, for `epochs` with two logging steps each."""
    callbacks.on_train_begin()
    for epoch in epochs:
        callbacks.on_epoch_begin(epoch)
        for step in (2 * epoch + 1, 2 * epoch + 2):
            callbacks.on_train_batch_end(step, {"loss": 1.0 / step, "accuracy": 0.5})
        callbacks.on_epoch_end(epoch, EPOCH_LOGS[epoch])
    best = max(logs["val_accuracy"] for logs in EPOCH_LOGS[: epochs.stop])
    result = {"epochs": epochs.stop, "steps": 2 * epochs.stop, "best_val_accuracy": best}
    callbacks.on_train_end({**EPOCH_LOGS[epochs.stop - 1], **result, "run_dir": "somewhere"})


def keras_outputs_on_the_test_split(cfg: DictConfig) -> tuple[list, np.ndarray, np.ndarray]:
    """(raw test inputs, labels, the Keras model's probabilities) of the run `cfg` trained,
    with its latest weights: what every export of it must reproduce."""
    metadata = runs.load_metadata(cfg.run_dir)
    records_dir, _ = runs.run_records(cfg, metadata)
    raw_inputs, labels = data_loader.read_raw_examples(records_dir, "test", metadata, -1)
    model = model_lib.build_model(cfg.model, metadata)
    checkpoints.restore_model(model, cfg.run_dir)
    example_fn = input_ops.make_example_fn(metadata, runs.assets_dir(cfg.run_dir))
    model_inputs = tf.stack([example_fn(tf.constant(raw)) for raw in raw_inputs])
    expected = tf.nn.softmax(model(model_inputs, training=False)).numpy()
    return raw_inputs, np.array(labels), expected
{%- if cookiecutter.model_type == "rnn" %}


def small_transformer(**options) -> keras.Model:
    """A small Transformer encoder, every builder option given (`options` override them)."""
    from {{ cookiecutter.package_name }}.models import transformernet

    defaults = {"embedding_dim": 16, "num_heads": 2, "feed_forward_dim": 32, "num_blocks": 2}
    defaults.update(dropout_rate=0.0, embeddings=None, freeze_embeddings=False)
    return transformernet.build_transformer(**{**defaults, **options})
{%- endif %}


def logged_scalars(run_dir: str | Path, writer: str, tag: str) -> dict[int, float]:
    """step -> value of a scalar a run wrote to TensorBoard (writer: train or validation)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(Path(run_dir, "tensorboard", writer)), {"tensors": 0})
    events.Reload()
    return {e.step: float(tf.make_ndarray(e.tensor_proto)) for e in events.Tensors(tag)}


def assert_learned(values: dict, min_accuracy: float, max_loss_ratio: float = 0.8) -> None:
    """Fails unless a run (what train() returns) learned: val_accuracy >= `min_accuracy` (well
    above chance) and a final training loss below `max_loss_ratio` x the first logged one."""
    losses = logged_scalars(values["run_dir"], "train", "loss")
    first = losses[min(losses)]
    accuracy = values["val_accuracy"]
    assert accuracy >= min_accuracy, f"val_accuracy {accuracy:.4f} < {min_accuracy}: no learning"
    assert values["loss"] < max_loss_ratio * first, (
        f"final training loss {values['loss']:.4f} is not below {max_loss_ratio} x the first "
        f"logged one ({first:.4f}): no learning"
    )


def peak_memory_of_preprocess(env: dict, *overrides: str) -> int:
    """Peak resident memory (bytes) of preprocess with `overrides`, in a process of its own."""
    command = [sys.executable, "-m", f"{PACKAGE}.data.preprocess_data", *overrides]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, process.stderr.read().decode()[-3000:]
    return usage.ru_maxrss * 1024


def fit(model, inputs, labels, learning_rate: float, epochs: int, batch_size: int) -> dict:
    """Trains `model` as it stands with Keras' fit (compiling sees its trainable weights),
    Adam and cross-entropy on its logits; returns the history (loss, accuracy per epoch)."""
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(keras.optimizers.Adam(learning_rate), loss, metrics=["accuracy"])
    return model.fit(inputs, labels, batch_size=batch_size, epochs=epochs, verbose=0).history


def assert_export_serves_evals_accuracy(run_dir: Path) -> dict:
    """The run's export/1, served the raw inputs of the whole test split, scores the accuracy
    that eval wrote to metrics.json; returns those metrics."""
    from {{ cookiecutter.package_name }}.export import serving

    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    metadata = runs.load_metadata(run_dir)
    records_dir, _ = runs.run_records(runs.load_config(run_dir), metadata)
    raw_inputs, labels = data_loader.read_raw_examples(records_dir, "test", metadata, -1)
    serve = tf.saved_model.load(str(run_dir / "export" / "1")).signatures["serving_default"]
    inputs = serving.signature_inputs(raw_inputs, metadata)["serving_default"]
    class_ids = serve(**{key: tf.constant(value) for key, value in inputs.items()})["class_id"]
    assert metrics["num_examples"] == len(labels)
    assert np.isclose(metrics["accuracy"], np.mean(class_ids.numpy() == np.array(labels)))
    return metrics


# The project's other nets, each small enough for a test on the smoke data, as
# `model=<name>` and its overrides; "{files}" is a folder for the files a net reads.
OTHER_NETS = {
{%- if cookiecutter.model_type == "cnn" %}
    "resnet": ["model=resnet", "model.depth=8", "model.width=4"],
    # A backbone's weights from a local file (written by net_files: nothing downloads), fine-
    # tuned in two phases: the first epoch on the frozen backbone, then the whole backbone.
    "pretrained": [
        "model=pretrained",
        "data.image_size=[32,32]",
        "model.weights={files}/backbone.weights.h5",
        "model.freeze_epochs=1",
        "model.fine_tune_learning_rate=0.0003",
    ],
{%- else %}
    "transformer": [
        "model=transformer",
        "model.embedding_dim=16",
        "model.feed_forward_dim=32",
        "model.num_blocks=1",
    ],
    # Word vectors from a GloVe-format file (written by net_files) for part of the words.
    "lstm-embeddings": [
        "model=lstm",
        "model.embedding_dim=4",
        "model.units=8",
        "model.embeddings={files}/vectors.txt",
    ],
{%- endif %}
}


def net_overrides(name: str, files: Path) -> list[str]:
    """OTHER_NETS[name] with the files it reads written into `files`."""
    files.mkdir(parents=True, exist_ok=True)
{%- if cookiecutter.model_type == "cnn" %}
    if name == "pretrained" and not (files / "backbone.weights.h5").exists():
        import keras

        keras.utils.set_random_seed(0)
        backbone = keras.applications.MobileNetV3Small(
            input_shape=(32, 32, 3), include_top=False, weights=None
        )
        backbone.save_weights(files / "backbone.weights.h5")
{%- else %}
    if name == "lstm-embeddings":
        # Words of the smoke data (apple, banana, w0 ... w9) and one it lacks.
        words = ["apple", "banana", *(f"w{index}" for index in range(10)), "unseen"]
        lines = [f"{word} {i / 10} 0.5 -0.25 {1 - i / 10}" for i, word in enumerate(words)]
        (files / "vectors.txt").write_text("\n".join(lines) + "\n")
{%- endif %}
    return [override.replace("{files}", str(files)) for override in OTHER_NETS[name]]
