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
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from {{ cookiecutter.package_name }} import checkpoints, runs
from {{ cookiecutter.package_name }} import model as model_lib
from {{ cookiecutter.package_name }}.data import data_loader, input_ops
from {{ cookiecutter.package_name }}.export import serving
{%- if cookiecutter.model_type == "rnn" %}
from {{ cookiecutter.package_name }}.models import lstmnet, transformernet
{%- endif %}

PACKAGE = "{{ cookiecutter.package_name }}"


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILLs `process` and, when it leads a session of its own, every process it started."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        # An ended leader's group lives on while its children do.
        if process.poll() is not None or os.getpgid(process.pid) == process.pid:
            os.killpg(process.pid, signal.SIGKILL)
    process.kill()  # nothing when it has ended
    process.wait(timeout=60)


def run_bounded(command: list[str], timeout: float, **options) -> subprocess.CompletedProcess:
    """subprocess.run, output captured as text, killed with its children on a timeout."""
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
    """Trains into run_dir (+ `before`), SIGKILLs it when `moment(checkpoints folder)` holds
    (default: a checkpoint is complete), trains on (+ `after`): returns that finished run."""
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


# One short epoch on the default data split into 181 validation and 181 test examples: in
# per-replica batches of 30 the last global batch of 1, 2 or 3 replicas holds 1 example.
UNEVEN_RUN = ["train.batch_size=30", "train.epochs=1", "train.steps_per_epoch=5"]
UNEVEN_RUN += ["train.log_every_steps=1", "train.steps_per_loop=1", "train.min_steps=0"]
{%- if cookiecutter.model_type == "cnn" %}
UNEVEN_RUN += ["data=digits", "data.validation_fraction=0.1005", "data.test_fraction=0.1005"]
{%- else %}
UNEVEN_RUN += ["data=digit_sentences", "data.num_examples=1805"]
{%- endif %}


def check_uneven_run(run_dir: Path, output: str, replicas: int) -> None:
    """The UNEVEN_RUN finished, validation counted every example once and the loss went down."""
    counts = json.loads((run_dir / "assets" / "metadata.json").read_text())["counts"]
    size, global_batch_size = counts["validation"]["total"], 30 * replicas
    assert 0 < size % global_batch_size < max(replicas, 2)  # the case this test is about
    assert counts["test"]["total"] % global_batch_size
    assert f"({size} validation examples)" in output
    assert json.loads((run_dir / "result.json").read_text())["steps"] == 5
    losses = list(logged_scalars(run_dir, "train", "loss").values())
    assert len(losses) == 5 and losses[-1] < losses[0], losses


def final_weights(run_dir) -> list:
    """The weights of the run's latest checkpoint."""
    model = model_lib.build_model(runs.load_config(run_dir).model, runs.load_metadata(run_dir))
    checkpoints.restore_model(model, run_dir)
    return model.get_weights()


def smoke_config(tmp_path: Path, *overrides: str) -> DictConfig:
    """The project's config with experiment=smoke, its run and records in tmp_path."""
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


def keras_outputs(cfg: DictConfig, split: str = "test") -> tuple[list, np.ndarray, np.ndarray]:
    """(raw inputs, labels, the probabilities of the run's latest weights) of a split."""
    metadata = runs.load_metadata(cfg.run_dir)
    records_dir, _ = runs.run_records(cfg, metadata)
    raw_inputs, labels = data_loader.read_raw_examples(records_dir, split, metadata, -1)
    model = model_lib.build_model(cfg.model, metadata)
    checkpoints.restore_model(model, cfg.run_dir)
    example_fn = input_ops.make_example_fn(metadata)
    model_inputs = tf.stack([example_fn(tf.constant(raw)) for raw in raw_inputs])
    expected = tf.nn.softmax(model(model_inputs, training=False)).numpy()
    return raw_inputs, np.array(labels), expected
{%- if cookiecutter.model_type == "rnn" %}


def vectorizer(length: int, vocab_size: int = 20) -> keras.layers.TextVectorization:
    """Words w2, w3, ... as ids 2, 3, ... (0: padding, 1: any other word)."""
    words = [f"w{index}" for index in range(2, vocab_size)]
    return keras.layers.TextVectorization(
        vocabulary=words, output_sequence_length=length, name="vectorizer"
    )


def as_texts(ids: np.ndarray) -> np.ndarray:
    """The texts whose word ids (by `vectorizer`) are the rows of `ids`."""
    words = [" ".join("oov" if i == 1 else f"w{i}" for i in row if i) for row in ids]
    return np.array(words, dtype=object)


def small_lstm(**options) -> keras.Model:
    """A small LSTM net over vectorizer(6), every builder option given (`options` override)."""
    defaults = {"embedding_dim": 8, "units": 16, "cell": "lstm", "bidirectional": True}
    defaults.update(num_layers=1, pooling="last", dropout_rate=0.5, vectorizer=vectorizer(6))
    defaults.update(embeddings=None, freeze_embeddings=False)
    return lstmnet.build_lstm(**{**defaults, **options})


def small_transformer(**options) -> keras.Model:
    """A small Transformer encoder, every builder option given (`options` override them)."""
    defaults = {"embedding_dim": 16, "num_heads": 2, "feed_forward_dim": 32, "num_blocks": 2}
    defaults.update(dropout_rate=0.0, embeddings=None, freeze_embeddings=False)
    return transformernet.build_transformer(**{**defaults, **options})
{%- endif %}


def read_events(run_dir: str | Path, writer: str = ""):
    """What a run wrote to TensorBoard (writer: train, validation or "": the hparams), all read."""
    events = EventAccumulator(str(Path(run_dir, "tensorboard", writer)), {"tensors": 0})
    return events.Reload()


def logged_scalars(run_dir: str | Path, writer: str, tag: str) -> dict[int, float]:
    """step -> value of a scalar a run wrote to TensorBoard (writer: train or validation)."""
    events = read_events(run_dir, writer).Tensors(tag)
    return {event.step: float(tf.make_ndarray(event.tensor_proto)) for event in events}


def assert_learned(values: dict, min_accuracy: float, max_loss_ratio: float = 0.8) -> None:
    """Fails unless the run train() returned has val_accuracy >= `min_accuracy` and a final
    training loss below `max_loss_ratio` x the first logged one."""
    losses = logged_scalars(values["run_dir"], "train", "loss")
    first, last, accuracy = losses[min(losses)], values["loss"], values["val_accuracy"]
    assert accuracy >= min_accuracy, f"val_accuracy {accuracy:.4f} < {min_accuracy}: no learning"
    assert last < max_loss_ratio * first, f"training loss {first:.4f} -> {last:.4f}: no learning"


def peak_memory_of_preprocess(env: dict, data: str, path: Path) -> int:
    """Peak resident memory (bytes) of preprocessing data=`data` at `path`, in a new process."""
    overrides = [f"data={data}", f"data.path={path}", f"data.records_dir={path}_records"]
    command = [sys.executable, "-m", f"{PACKAGE}.data.preprocess_data", *overrides]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, process.stderr.read().decode()[-3000:]
    return usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)  # bytes on macOS


def fit(model, inputs, labels, learning_rate: float, epochs: int, batch_size: int) -> dict:
    """Keras' fit of `model` as it stands, Adam and cross-entropy on its logits: its history."""
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(keras.optimizers.Adam(learning_rate), loss, metrics=["accuracy"])
    return model.fit(inputs, labels, batch_size=batch_size, epochs=epochs, verbose=0).history


def assert_export_serves_evals_accuracy(run_dir: Path) -> dict:
    """export/1, served the whole test split, scores eval's accuracy; returns eval's metrics."""
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
    # A backbone's weights from a local file (net_overrides writes it: nothing downloads),
    # fine-tuned in two phases: the first epoch on the frozen backbone, then the whole backbone.
    "pretrained": [
        *("model=pretrained", "data.image_size=[32,32]", "model.freeze_epochs=1"),
        *("model.weights={files}/backbone.weights.h5", "model.fine_tune_learning_rate=0.0003"),
    ],
{%- else %}
    "transformer": [
        *("model=transformer", "model.embedding_dim=16"),
        *("model.feed_forward_dim=32", "model.num_blocks=1"),
    ],
    # Word vectors from a GloVe-format file (written by net_overrides) for part of the words.
    "lstm-embeddings": [
        *("model=lstm", "model.embedding_dim=4", "model.units=8"),
        "model.embeddings={files}/vectors.txt",
    ],
{%- endif %}
}


def net_overrides(name: str, files: Path) -> list[str]:
    """OTHER_NETS[name] with the files it reads written into `files`."""
    files.mkdir(parents=True, exist_ok=True)
{%- if cookiecutter.model_type == "cnn" %}
    if name == "pretrained" and not (files / "backbone.weights.h5").exists():
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


def total(metadata) -> int:
    return sum(count["total"] for count in metadata.counts.values())
{%- if cookiecutter.model_type == "cnn" %}


def write_image(path: Path, value: int) -> None:
    image = np.full((20, 24, 1), value, np.uint8)
    image[0, 0] = 255 - value
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tf.io.encode_png(image).numpy())


def make_folder(root: Path, classes=("cat", "dog"), per_class=6, first=0) -> Path:
    """An image folder: `per_class` grey PNGs in each class sub-folder, from number `first`."""
    for label, name in enumerate(classes):
        for index in range(first, first + per_class):
            write_image(root / name / f"{index:03d}.png", 40 + 60 * label + index)
    return root
{%- else %}


HAM = ["see you at lunch", "call me when you land", "thanks, that works", "ok see you soon"]
SPAM = ["WIN a free prize now", "claim your free cash", "free entry, text WIN", "cash prize!"]


def write_text_folder(root: Path, classes=("ham", "spam"), per_class=6) -> Path:
    """A text folder of `per_class` files in each class sub-folder."""
    for label, texts in zip(classes, (HAM, SPAM), strict=False):
        (root / label).mkdir(parents=True)
        for index in range(per_class):
            (root / label / f"{index}.txt").write_text(texts[index % 4], encoding="utf-8")
    return root
{%- endif %}
