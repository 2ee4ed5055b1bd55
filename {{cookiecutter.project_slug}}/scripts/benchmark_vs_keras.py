"""The project's `train` against the plain Keras `fit` script a user would write by hand.

Runs, as child processes on the same data, batch size and epochs, a keras-io style script
({{ "LeNet-5 on an image folder: image_dataset_from_directory, cache, prefetch, fit" if cookiecutter.model_type == "cnn" else "TextVectorization + Embedding + Bidirectional(LSTM(64)) on a CSV, fit" }}) and
`{{ cookiecutter.package_name }}-train experiment={{ "image_folder_digits" if cookiecutter.model_type == "cnn" else "csv_spam" }}` with the project's defaults (validation
and checkpoints every epoch{{ ", augmentation crop_padding=2" if cookiecutter.model_type == "cnn" else "" }}), alternating A B A B after one untimed round
of each (which writes the project's records and warms the file cache). Prints, with min /
median / max over the rounds, the whole command's wall time (start-up included) and the
steady-state training examples/s (epochs 2 on, validation left out), and the ratios:

{%- if cookiecutter.model_type == "cnn" %}
    python scripts/benchmark_vs_keras.py /path/to/mnist_png_folder --repeat 3
    python scripts/benchmark_vs_keras.py imgs/ --epochs 10 --batch-size 64 train.steps_per_loop=1
{%- else %}
    python scripts/benchmark_vs_keras.py /path/to/sms_spam.csv --repeat 3
    python scripts/benchmark_vs_keras.py sms.csv --epochs 5 --batch-size 64 train.steps_per_loop=1
{%- endif %}

Key=value arguments go to the project's train command only. A busy machine stretches both
sides alike, since they alternate; the load average is printed with the figures. `--src`
measures another checkout's package (e.g. an older bake) with the same command; `--plain`
runs only the plain script, once.
"""

import argparse
{%- if cookiecutter.model_type == "rnn" %}
import csv
{%- endif %}
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import keras
{%- if cookiecutter.model_type == "rnn" %}
import numpy as np
{%- endif %}
import tensorflow as tf
from keras import layers

PACKAGE = "{{ cookiecutter.package_name }}"
SOURCE_DIR = Path(__file__).resolve().parents[1] / "src"
{%- if cookiecutter.model_type == "cnn" %}
EXPERIMENT = "image_folder_digits"
IMAGE_SIZE = (32, 32)  # that of the experiment: LeNet-5 on grayscale 32x32
{%- else %}
EXPERIMENT = "csv_spam"
SEQUENCE_LENGTH = 64  # that of the experiment
MAX_TOKENS = 20000
{%- endif %}
EPOCH_LINE = re.compile(r"epoch (\d+)/\d+ - .* - (\d+) examples/s")
RESULT_PREFIX = "PLAIN_KERAS_RESULT "


# === The plain Keras script (A) ===
{%- if cookiecutter.model_type == "cnn" %}


def plain_keras(data_path: str, batch_size: int, epochs: int, out_dir: str) -> dict:
    """LeNet-5 on an image folder as keras-io writes it; returns val_accuracy and examples/s.

    80% trains, 10% validates (the project's split sizes; another random draw), with a
    checkpoint each epoch as keras-io's `ModelCheckpoint("save_at_{epoch}.keras")` does.
    """
    train_ds, held_out = keras.utils.image_dataset_from_directory(
        data_path,
        validation_split=0.2,
        subset="both",
        seed=1337,
        image_size=IMAGE_SIZE,
        color_mode="grayscale",
        batch_size=batch_size,
    )
    val_ds = held_out.unbatch().take(len(held_out.file_paths) // 2).batch(batch_size)
    train_ds = train_ds.cache().prefetch(tf.data.AUTOTUNE)
    val_ds = val_ds.cache().prefetch(tf.data.AUTOTUNE)

    model = keras.Sequential(
        [
            keras.Input(shape=(*IMAGE_SIZE, 1)),
            layers.Rescaling(1.0 / 255),
            layers.Conv2D(6, 5, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(16, 5, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(120, activation="relu"),
            layers.Dropout(0.3),
            layers.Dense(84, activation="relu"),
            layers.Dropout(0.3),
            layers.Dense(len(held_out.class_names)),
        ]
    )
    examples = sum(int(tf.shape(images)[0]) for images, _ in train_ds)
    return fit_and_time(model, train_ds, val_ds, epochs, out_dir, examples)
{%- else %}


def plain_keras(data_path: str, batch_size: int, epochs: int, out_dir: str) -> dict:
    """A BiLSTM text classifier on a text,label CSV as keras-io writes it; returns
    val_accuracy and examples/s.

    80% trains, 10% validates (the project's split sizes; another random draw), with a
    checkpoint each epoch as keras-io's `ModelCheckpoint("save_at_{epoch}.keras")` does.
    """
    with open(data_path, newline="", encoding="utf-8-sig") as csv_file:
        rows = list(csv.DictReader(csv_file))
    class_names = sorted({row["label"] for row in rows})
    texts = np.array([row["text"] for row in rows])
    labels = np.array([class_names.index(row["label"]) for row in rows])
    order = np.random.default_rng(1337).permutation(len(rows))
    train_end, val_end = int(0.8 * len(rows)), int(0.9 * len(rows))
    train_index, val_index = order[:train_end], order[train_end:val_end]

    vectorize = layers.TextVectorization(
        max_tokens=MAX_TOKENS, output_sequence_length=SEQUENCE_LENGTH
    )
    vectorize.adapt(texts[train_index])

    def dataset(index: np.ndarray, shuffle: bool) -> tf.data.Dataset:
        ds = tf.data.Dataset.from_tensor_slices((texts[index], labels[index]))
        ds = ds.batch(batch_size).map(lambda text, label: (vectorize(text), label))
        ds = ds.cache()
        if shuffle:
            ds = ds.shuffle(len(index) // batch_size + 1)
        return ds.prefetch(tf.data.AUTOTUNE)

    train_ds, val_ds = dataset(train_index, True), dataset(val_index, False)
    model = keras.Sequential(
        [
            keras.Input(shape=(SEQUENCE_LENGTH,), dtype="int64"),
            layers.Embedding(vectorize.vocabulary_size(), 64, mask_zero=True),
            layers.Bidirectional(layers.LSTM(64)),
            layers.Dropout(0.2),
            layers.Dense(len(class_names)),
        ]
    )
    return fit_and_time(model, train_ds, val_ds, epochs, out_dir, len(train_index))
{%- endif %}


def fit_and_time(
    model: keras.Model,
    train_ds: tf.data.Dataset,
    val_ds: tf.data.Dataset,
    epochs: int,
    out_dir: str,
    examples_per_epoch: int,
) -> dict:
    """compile and fit as keras-io does (adam, a checkpoint each epoch as its
    `ModelCheckpoint("save_at_{epoch}.keras")`); returns val_accuracy and examples/s."""
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    timer = EpochTimer()
    checkpoint = keras.callbacks.ModelCheckpoint(os.path.join(out_dir, "save_at_{epoch}.keras"))
    history = model.fit(
        train_ds, epochs=epochs, validation_data=val_ds, callbacks=[timer, checkpoint], verbose=2
    )
    return {
        "val_accuracy": history.history["val_accuracy"][-1],
        "examples_per_second": timer.steady_state(examples_per_epoch),
    }


class EpochTimer(keras.callbacks.Callback):
    """Times each epoch's training, from its start to the start of its validation."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self.start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.start = time.perf_counter()

    def on_test_begin(self, logs: dict | None = None) -> None:
        self.seconds.append(time.perf_counter() - self.start)

    def steady_state(self, examples_per_epoch: int) -> float:
        """Examples/s over every epoch but the first (tracing, cache filling)."""
        later = self.seconds[1:] or self.seconds
        return examples_per_epoch * len(later) / sum(later)


# === Running and timing both (A and B) ===


def run_plain(args: argparse.Namespace, epochs: int, work_dir: Path) -> dict:
    """Runs the plain script in a child process; returns its wall time, speed, accuracy."""
    out_dir = Path(tempfile.mkdtemp(dir=work_dir))
    command = [sys.executable, __file__, "--plain", args.data_path]
    command += ["--epochs", str(epochs), "--batch-size", str(args.batch_size)]
    command += ["--work-dir", str(out_dir)]
    start = time.perf_counter()
    output = run(command, os.environ)
    wall = time.perf_counter() - start
    (line,) = [line for line in output.splitlines() if line.startswith(RESULT_PREFIX)]
    return {"wall": wall, **json.loads(line.removeprefix(RESULT_PREFIX))}


def run_project(args: argparse.Namespace, epochs: int, work_dir: Path) -> dict:
    """Runs the project's train command in a child process; returns its wall time, its
    steady-state examples/s (train.log's epoch lines, the first left out) and val_accuracy."""
    run_dir = Path(tempfile.mkdtemp(dir=work_dir)) / "run"
    command = [sys.executable, "-m", f"{PACKAGE}.train", f"experiment={EXPERIMENT}"]
    command += [f"data.path={args.data_path}", f"data.records_dir={work_dir / 'records'}"]
    command += [f"train.epochs={epochs}", f"train.batch_size={args.batch_size}"]
    command += [f"run_dir={run_dir}", f"runs_root={work_dir / 'runs'}", *args.overrides]
    env = {**os.environ, "PYTHONPATH": str(args.src)}
    start = time.perf_counter()
    run(command, env)
    wall = time.perf_counter() - start
    speeds = [
        float(match[2])
        for match in EPOCH_LINE.finditer((run_dir / "train.log").read_text())
        if int(match[1]) > 1 or epochs == 1
    ]
    result = json.loads((run_dir / "result.json").read_text())
    return {
        "wall": wall,
        "val_accuracy": result["val_accuracy"],
        "examples_per_second": len(speeds) / sum(1 / speed for speed in speeds),
    }


def run(command: list[str], env: dict) -> str:
    """Runs a command quietly; exits with its output when it fails."""
    env = {**env, "TF_CPP_MIN_LOG_LEVEL": "2"}
    process = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if process.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{process.stdout}{process.stderr}")
    return process.stdout


def spread(values: list[float], digits: int = 2) -> str:
    """'min / median / max' of `values`."""
    ordered = sorted(values)
    middle = ordered[len(ordered) // 2]
    return " / ".join(f"{value:.{digits}f}" for value in (ordered[0], middle, ordered[-1]))


def report(rounds: list[tuple[dict, dict]], loads: list[float]) -> None:
    """Prints each side's figures and the ratios, min / median / max over the rounds."""
    plain = [a for a, _ in rounds]
    project = [b for _, b in rounds]
    print(f"\n{len(rounds)} rounds, A B A B; load average (1 min) {spread(loads, 1)}")
    print(f"{'':<28}{'A: plain Keras fit':>26}{'B: project train':>26}")
    for name, key, digits in (
        ("whole command, s", "wall", 1),
        ("steady state, examples/s", "examples_per_second", 0),
        ("val_accuracy (last epoch)", "val_accuracy", 4),
    ):
        a_values = [row[key] for row in plain]
        b_values = [row[key] for row in project]
        print(f"{name:<28}{spread(a_values, digits):>26}{spread(b_values, digits):>26}")
    wall_ratios = [a["wall"] / b["wall"] for a, b in rounds]
    speed_ratios = [b["examples_per_second"] / a["examples_per_second"] for a, b in rounds]
    print("Ratios, min / median / max over the rounds (above 1: the project is faster):")
    print(f"  whole command (A wall / B wall)        {spread(wall_ratios)}x")
    print(f"  steady state (B examples/s / A's)      {spread(speed_ratios)}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_path", help="{{ 'the image folder (one sub-folder per class)' if cookiecutter.model_type == 'cnn' else 'the CSV file (text,label columns)' }}")
    parser.add_argument("--epochs", type=int, default={{ 10 if cookiecutter.model_type == "cnn" else 5 }})
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds of A and B")
    parser.add_argument("--src", type=Path, default=SOURCE_DIR, help="the package's src folder")
    parser.add_argument("--work-dir", type=Path, help="default: a temporary folder")
    parser.add_argument("--plain", action="store_true", help="run the plain script once")
    parser.add_argument("overrides", nargs="*", help="key=value overrides for train")
    args = parser.parse_args()
    if args.plain:
        result = plain_keras(args.data_path, args.batch_size, args.epochs, str(args.work_dir))
        print(RESULT_PREFIX + json.dumps(result))
        return
    with tempfile.TemporaryDirectory(dir=args.work_dir) as work_dir:
        work_dir = Path(work_dir)
        print("Untimed round: the project's records, the file cache", flush=True)
        run_plain(args, 1, work_dir)
        run_project(args, 1, work_dir)
        rounds, loads = [], []
        for index in range(args.repeat):
            loads.append(os.getloadavg()[0])
            pair = (
                run_plain(args, args.epochs, work_dir),
                run_project(args, args.epochs, work_dir),
            )
            rounds.append(pair)
            print(
                f"round {index + 1}: A {pair[0]['wall']:.1f} s, B {pair[1]['wall']:.1f} s, "
                f"load {loads[-1]:.1f}",
                flush=True,
            )
            loads.append(os.getloadavg()[0])
    report(rounds, loads)


if __name__ == "__main__":
    main()
