"""A baked project's `train` against the plain Keras `fit` script a user would write by hand,
or against another version of the project (an older bake): template-maintainer benchmark.

Runs, as child processes on the same data, batch size and epochs, side A and the project's
`<package>-train experiment=image_folder_digits` (CNN bakes) or `experiment=csv_spam` (RNN
bakes) with the project's defaults, alternating A B A B after one untimed round of each
(which writes the records and warms the file cache). Side A is a keras-io style script
(CNN: LeNet-5 on an image folder, image_dataset_from_directory, cache, the project's random
shifts of up to 2 pixels as a RandomTranslation layer in the map (--shift), prefetch, fit; RNN:
TextVectorization + Embedding + Bidirectional(LSTM(64)) on a CSV), or with --against-src
the same train command run from another bake's src/ (an A/B of two versions of the loop).
Prints, with min / median / max over the rounds, the whole command's wall time (start-up
included), the time from process start to the end of the first training step (side B's
first call of its compiled loop is split into one step and the rest, the same traced
function), the steady-state training examples/s (epochs 2 on, validation left out), and
their ratios:

    make demo   # or any bake; then, from the template repository:
    .venv/bin/python tools/benchmark_vs_keras.py build/demo/my_tf_project path/to/mnist_png --repeat 3
    .venv/bin/python tools/benchmark_vs_keras.py NEW_BAKE path/to/mnist_png --against-src OLD_BAKE/src
    .venv/bin/python tools/benchmark_vs_keras.py RNN_BAKE path/to/sms_spam.csv --epochs 5
    # 48,000 digits from 8,000 (shifted copies), then with B's preprocessing in every round:
    .venv/bin/python tools/benchmark_vs_keras.py BAKE path/to/mnist_png --make-shifted /tmp/mnist-48k
    .venv/bin/python tools/benchmark_vs_keras.py BAKE /tmp/mnist-48k --count-preprocessing

Key=value arguments go to the project's train command only (both sides with --against-src).
A busy machine stretches both sides alike, since they alternate; the load average is
printed with the figures.
"""

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import layers

EXPERIMENTS = {"cnn": "image_folder_digits", "rnn": "csv_spam"}
IMAGE_SIZE = (32, 32)  # that of the CNN experiment: LeNet-5 on grayscale 32x32
SEQUENCE_LENGTH = 64  # that of the RNN experiment
MAX_TOKENS = 20000
# The epoch line of train.log: "... examples_per_second N" now, "... N examples/s" before #21.
EPOCH_LINE = re.compile(
    r"epoch (\d+)/\d+ - .*(?:examples_per_second ([\d.]+(?:e[+-]?\d+)?)|- ([\d.]+) examples/s)"
)
RESULT_PREFIX = "PLAIN_KERAS_RESULT "
FIRST_STEP_PREFIX = "FIRST_STEP_AT "
# Side B's train command, with its first call of the compiled loop split in two (one step,
# then the rest: the same traced function) so that the end of the first step is seen.
PROJECT_WRAPPER = f"""
import runpy, sys, time
package = sys.argv.pop(1)
trainer = __import__(package + ".trainer", fromlist=["Trainer"]).Trainer
original = trainer.train
def train(self, iterator, num_steps):
    if not getattr(trainer, "first_step_seen", False):
        trainer.first_step_seen = True
        original(self, iterator, 1)
        print("{FIRST_STEP_PREFIX}%r" % time.time(), flush=True)
        num_steps -= 1
    if num_steps:
        original(self, iterator, num_steps)
trainer.train = train
runpy.run_module(package + ".train", run_name="__main__", alter_sys=True)
"""


# === The plain Keras script (A) ===


def plain_keras_cnn(
    data_path: str, batch_size: int, epochs: int, out_dir: str, shift: int = 0
) -> dict:
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
    train_ds = train_ds.cache()
    if shift:  # the project's random crop (data.augment.crop_padding), as keras-io augments
        factors = (shift / IMAGE_SIZE[0], shift / IMAGE_SIZE[1])
        augment = layers.RandomTranslation(*factors, fill_mode="constant")
        train_ds = train_ds.map(
            lambda images, labels: (augment(images, training=True), labels),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    train_ds = train_ds.prefetch(tf.data.AUTOTUNE)
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


def plain_keras_rnn(data_path: str, batch_size: int, epochs: int, out_dir: str) -> dict:
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
        "first_step_at": timer.first_step_at,
    }


class EpochTimer(keras.callbacks.Callback):
    """Times each epoch's training, from its start to the start of its validation."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self.start = 0.0
        self.first_step_at = 0.0  # time.time() when the first training step ended

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.first_step_at = self.first_step_at or time.time()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.start = time.perf_counter()

    def on_test_begin(self, logs: dict | None = None) -> None:
        self.seconds.append(time.perf_counter() - self.start)

    def steady_state(self, examples_per_epoch: int) -> float:
        """Examples/s over every epoch but the first (tracing, cache filling)."""
        later = self.seconds[1:] or self.seconds
        return examples_per_epoch * len(later) / sum(later)


def make_shifted(source: Path, target: Path, copies: int) -> None:
    """Writes each image of an image folder `copies` times into `target`, shifted by a pixel
    or two each time (the first as it is): 8,000 MNIST digits make 48,000 with --copies 6."""
    shifts = [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1), (2, 0), (0, 2)]
    for path in sorted(source.glob("*/*.png")):
        image = tf.io.decode_png(path.read_bytes()).numpy()
        height, width = image.shape[:2]
        padded = np.pad(image, ((2, 2), (2, 2), (0, 0)))
        (target / path.parent.name).mkdir(parents=True, exist_ok=True)
        for index, (down, right) in enumerate(shifts[:copies]):
            shifted = padded[2 - down : 2 - down + height, 2 - right : 2 - right + width]
            png = tf.io.encode_png(shifted).numpy()
            (target / path.parent.name / f"{path.stem}_{index}.png").write_bytes(png)


# === Running and timing both (A and B) ===


def package_of(src: Path) -> str:
    """The one package folder under a bake's src/."""
    (package,) = [path.name for path in src.iterdir() if (path / "train.py").exists()]
    return package


def run_side_a(args: argparse.Namespace, epochs: int, work_dir: Path) -> dict:
    """Side A: the plain script, or the train command of --against-src."""
    if args.against_src:
        return run_project(args, epochs, work_dir / "a", args.against_src)
    return run_plain(args, epochs, work_dir)


def run_plain(args: argparse.Namespace, epochs: int, work_dir: Path) -> dict:
    """Runs the plain script in a child process; returns its wall time, speed, accuracy."""
    out_dir = Path(tempfile.mkdtemp(dir=work_dir))
    command = [sys.executable, __file__, str(args.project), args.data_path, "--plain"]
    command += ["--epochs", str(epochs), "--batch-size", str(args.batch_size)]
    command += ["--work-dir", str(out_dir), "--shift", str(args.shift)]
    started, start = time.time(), time.perf_counter()
    output = run(command, os.environ)
    wall = time.perf_counter() - start
    result = json.loads(prefixed_line(output, RESULT_PREFIX))
    return {"wall": wall, "startup": result.pop("first_step_at") - started, **result}


def prefixed_line(output: str, prefix: str) -> str:
    """The rest of the one line of `output` that starts with `prefix`."""
    (line,) = [line for line in output.splitlines() if line.startswith(prefix)]
    return line.removeprefix(prefix)


def run_project(args: argparse.Namespace, epochs: int, work_dir: Path, src: Path) -> dict:
    """Runs the project's train command in a child process; returns its wall time, its
    steady-state examples/s (train.log's epoch lines, the first left out) and val_accuracy."""
    work_dir.mkdir(exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(dir=work_dir)) / "run"
    package = package_of(src)
    command = [sys.executable, "-c", PROJECT_WRAPPER, package]
    command += [f"experiment={EXPERIMENTS[args.model]}"]
    # --count-preprocessing: new records each time, so B's wall time includes writing them.
    records = f"records-{time.time_ns()}" if args.count_preprocessing else "records"
    command += [f"data.path={args.data_path}", f"data.records_dir={work_dir / records}"]
    command += [f"train.epochs={epochs}", f"train.batch_size={args.batch_size}"]
    command += ["train.min_steps=0"]  # the same epochs as side A
    command += [f"run_dir={run_dir}", f"runs_root={work_dir / 'runs'}", *args.overrides]
    env = {**os.environ, "PYTHONPATH": str(src)}
    started, start = time.time(), time.perf_counter()
    output = run(command, env)
    wall = time.perf_counter() - start
    startup = float(prefixed_line(output, FIRST_STEP_PREFIX)) - started
    speeds = [
        float(match[2] or match[3])
        for match in EPOCH_LINE.finditer((run_dir / "train.log").read_text())
        if int(match[1]) > 1 or epochs == 1
    ]
    result = json.loads((run_dir / "result.json").read_text())
    return {
        "wall": wall,
        "startup": startup,
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


def report(rounds: list[tuple[dict, dict]], loads: list[float], side_a: str) -> None:
    """Prints each side's figures and the ratios, min / median / max over the rounds."""
    plain = [a for a, _ in rounds]
    project = [b for _, b in rounds]
    print(f"\n{len(rounds)} rounds, A B A B; load average (1 min) {spread(loads, 1)}")
    print(f"{'':<28}{'A: ' + side_a:>26}{'B: project train':>26}")
    for name, key, digits in (
        ("whole command, s", "wall", 1),
        ("start to first step end, s", "startup", 2),
        ("steady state, examples/s", "examples_per_second", 0),
        ("val_accuracy (last epoch)", "val_accuracy", 4),
    ):
        a_values = [row[key] for row in plain]
        b_values = [row[key] for row in project]
        print(f"{name:<28}{spread(a_values, digits):>26}{spread(b_values, digits):>26}")
    wall_ratios = [a["wall"] / b["wall"] for a, b in rounds]
    speed_ratios = [b["examples_per_second"] / a["examples_per_second"] for a, b in rounds]
    print("Ratios, min / median / max over the rounds (above 1: B is faster):")
    print(f"  whole command (A wall / B wall)        {spread(wall_ratios)}x")
    print(f"  steady state (B examples/s / A's)      {spread(speed_ratios)}x")
    gaps = [b["startup"] - a["startup"] for a, b in rounds]
    print(f"  start-up (B's first step - A's), s     {spread(gaps)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("project", type=Path, help="a baked project (its src/ is side B)")
    parser.add_argument(
        "data_path", help="CNN: an image folder (a sub-folder per class); RNN: a text,label CSV"
    )
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds of A and B")
    parser.add_argument(
        "--against-src", type=Path, help="side A: another bake's src/ instead of plain Keras"
    )
    parser.add_argument("--work-dir", type=Path, help="default: a temporary folder")
    parser.add_argument("--plain", action="store_true", help="run the plain script once")
    parser.add_argument(
        "--shift",
        type=int,
        default=2,
        help="CNN: the plain script's random shifts in pixels, as the project's crop_padding=2",
    )
    parser.add_argument(
        "--make-shifted",
        type=Path,
        metavar="DIR",
        help="write --copies shifted copies of data_path's PNGs into DIR, and stop",
    )
    parser.add_argument("--copies", type=int, default=6)
    parser.add_argument(
        "--count-preprocessing",
        action="store_true",
        help="B preprocesses the data in every round (else once, in the untimed round)",
    )
    parser.add_argument("overrides", nargs="*", help="key=value overrides for train")
    args = parser.parse_args()
    if args.make_shifted:
        return make_shifted(Path(args.data_path), args.make_shifted, args.copies)
    src = args.project.resolve() / "src"
    args.model = "cnn" if (src / package_of(src) / "data" / "image_ops.py").exists() else "rnn"
    if args.plain:
        if args.model == "cnn":
            options = (args.batch_size, args.epochs, str(args.work_dir), args.shift)
            result = plain_keras_cnn(args.data_path, *options)
        else:
            result = plain_keras_rnn(
                args.data_path, args.batch_size, args.epochs, str(args.work_dir)
            )
        print(RESULT_PREFIX + json.dumps(result))
        return
    side_a = f"train of {args.against_src}" if args.against_src else "plain Keras fit"
    with tempfile.TemporaryDirectory(dir=args.work_dir) as work_dir:
        work_dir = Path(work_dir)
        print("Untimed round: the records, the file cache", flush=True)
        run_side_a(args, 1, work_dir)
        run_project(args, 1, work_dir / "b", src)
        rounds, loads = [], []
        for index in range(args.repeat):
            loads.append(os.getloadavg()[0])
            pair = (
                run_side_a(args, args.epochs, work_dir),
                run_project(args, args.epochs, work_dir / "b", src),
            )
            rounds.append(pair)
            print(
                f"round {index + 1}: A {pair[0]['wall']:.1f} s, B {pair[1]['wall']:.1f} s, "
                f"load {loads[-1]:.1f}",
                flush=True,
            )
            loads.append(os.getloadavg()[0])
    report(rounds, loads, side_a)


if __name__ == "__main__":
    main()
