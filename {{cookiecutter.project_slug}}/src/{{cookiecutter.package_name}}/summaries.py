"""What train.py writes for TensorBoard (`make tensorboard`): hparams; train/ the scalars,
histograms, {{ "a grid of training inputs" if cookiecutter.model_type == "cnn" else "the Embedding Projector files" }}, config and step graph; validation/ the scalars and
confusion matrix of each full validation. report.md shares the pictures.
"""

import io
from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase
from pathlib import Path

{% if cookiecutter.model_type == "rnn" %}import keras
{% endif %}import numpy as np
import tensorflow as tf
from matplotlib.figure import Figure
from sklearn.metrics import ConfusionMatrixDisplay
from tabulate import tabulate{% if cookiecutter.model_type == "rnn" %}
from tensorboard.plugins import projector{% endif %}
from tensorboard.plugins.hparams import api as hparams_api

from .config import flatten{% if cookiecutter.model_type == "rnn" %}
from .data import input_ops{% endif %}

# Where a run is, how often it logs or saves, how it is fed and spread over devices: none of it
# changes what is learned, so the HPARAMS tab leaves it out.
BOOKKEEPING_HPARAMS = (
    *("run_dir", "runs_root", "checkpoint", "*_dir", "*path", "data.cache", "data.num_shards"),
    *("train.resume", "train.keep_checkpoints", "train.*_every_steps"),
    *("distribute.*", "export.*", "logger*", "callbacks*", "hydra*"),
)
{%- if cookiecutter.model_type == "cnn" %}
INPUT_GRID_SIZE = 32  # training inputs shown in TensorBoard
{%- endif %}


class TrainingSummaries:
    """A run's TensorBoard files: hparams in log_dir, train/ and validation/ as two runs below."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.train = tf.summary.create_file_writer(str(log_dir / "train"))
        self.validation = tf.summary.create_file_writer(str(log_dir / "validation"))
        self.hparams = tf.summary.create_file_writer(str(log_dir))

    def write_config(self, yaml_text: str, step: int) -> None:
        with self.train.as_default(step=step):  # indented: TensorBoard keeps the layout
            tf.summary.text("config", "\n".join("    " + line for line in yaml_text.splitlines()))

    def write_hparams_and_trace(self, config: Mapping, run_name: str) -> None:
        """At the start of a new run: its hparams, and the trace of its first call begins."""
        with self.hparams.as_default():
            hparams_api.hparams(flat_hparams(config), trial_id=run_name)
        tf.summary.trace_on(graph=True)

    def write_graph(self) -> None:
        with self.train.as_default():
            tf.summary.trace_export(name="train_step", step=1)

    def write_training(self, values: Mapping[str, float], learning_rate: float, step: int) -> None:
        with self.train.as_default(step=step):
            for name, value in {**values, "learning_rate": learning_rate}.items():
                tf.summary.scalar(name, value)

    def write_histograms(self, variables: Sequence, step: int) -> None:
        with self.train.as_default(step=step):
            for variable in variables:
                tf.summary.histogram(f"weights/{variable.path}", variable)

    def write_validation(self, validation: Mapping, class_names: Sequence[str], step: int) -> None:
        confusion = validation["confusion_matrix"]
        picture = figure_image(confusion_figure(confusion, class_names))
        with self.validation.as_default(step=step):
            tf.summary.scalar("loss", validation["loss"])
            tf.summary.scalar("accuracy", validation["accuracy"])
            tf.summary.image("confusion_matrix", picture)
            tf.summary.text("confusion_matrix_table", confusion_table(confusion, class_names))
{%- if cookiecutter.model_type == "cnn" %}

    def write_inputs(self, images: tf.Tensor, step: int) -> None:
        with self.train.as_default(step=step):
            tf.summary.image("training_inputs", figure_image(image_grid(images)))
{%- else %}

    def write_embedding(self, model: keras.Model, records_dir: str) -> None:
        """The learned embedding for the PROJECTOR tab, each row named by its word (line i of
        the vocabulary is token id i)."""
        log_dir = self.log_dir / "train"
        weights = keras.ops.convert_to_numpy(model.get_layer("embedding").embeddings)
        vocabulary = tf.io.gfile.join(records_dir, input_ops.VOCABULARY_FILE)  # or gs://
        with tf.io.gfile.GFile(vocabulary) as file:
            words = [word.replace("\t", " ") + "\n" for word in file.read().splitlines()]
        (log_dir / "metadata.tsv").write_text("".join(words), encoding="utf-8")
        tf.train.Checkpoint(embedding=tf.Variable(weights)).write(str(log_dir / "embedding.ckpt"))
        config = projector.ProjectorConfig()
        tensor_name = "embedding/.ATTRIBUTES/VARIABLE_VALUE"
        config.embeddings.add(tensor_name=tensor_name, metadata_path="metadata.tsv")
        projector.visualize_embeddings(str(log_dir), config)
{%- endif %}

    def close(self) -> None:
        for writer in (self.train, self.validation, self.hparams):
            writer.close()


def flat_hparams(config: Mapping) -> dict[str, bool | int | float | str]:
    """A run's config by dotted name, less nulls and BOOKKEEPING_HPARAMS; lists as strings."""
    return {
        name: value if isinstance(value, bool | int | float | str) else str(value)
        for name, value in flatten(config).items()
        if value is not None
        and not any(fnmatchcase(name, pattern) for pattern in BOOKKEEPING_HPARAMS)
    }


def confusion_figure(confusion: np.ndarray, class_names: Sequence[str]) -> Figure:
    """scikit-learn's picture: true classes down the left, predicted ones along the bottom."""
    size = min(3 + 0.4 * len(class_names), 20)  # inches, at 100 pixels each
    figure = Figure(figsize=(size, size), layout="constrained")
    display = ConfusionMatrixDisplay(np.asarray(confusion, int), display_labels=list(class_names))
    display.plot(ax=figure.subplots(), cmap="Blues", colorbar=False, xticks_rotation="vertical")
    return figure


def figure_png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def figure_image(figure: Figure) -> tf.Tensor:  # as tf.summary.image takes it
    return tf.io.decode_png(figure_png(figure), channels=3)[tf.newaxis]


def confusion_table(confusion: np.ndarray, class_names: Sequence[str]) -> str:
    """A Markdown table (rows: true class, columns: predicted)."""
    rows = [[name, *map(int, row)] for name, row in zip(class_names, confusion, strict=True)]
    headers = ["true \\ predicted", *class_names]
    return tabulate(rows, headers, tablefmt="github", disable_numparse=[0])
{%- if cookiecutter.model_type == "cnn" %}


def image_grid(images: Sequence[np.ndarray], columns: int = 8) -> Figure:
    """Images of any size, dtype and range, each stretched to [0, 1], numbered from 1 and tiled
    `columns` to a row in one plot (32 plots would take a second)."""
    images = [np.atleast_3d(np.asarray(image, np.float32)) for image in images]
    height, width = (max(image.shape[axis] for image in images) + 2 for axis in (0, 1))
    columns = min(columns, len(images))
    rows = -(-len(images) // columns)
    mosaic = np.ones((rows * height, columns * width, 3), np.float32)  # white gaps of 2 pixels
    figure = Figure(figsize=(1.2 * columns, 1.2 * rows * height / width), layout="constrained")
    axes = figure.subplots()
    for index, image in enumerate(images):
        top, left = index // columns * height, index % columns * width
        image = (image - image.min()) / max(float(np.ptp(image)), 1e-6)
        mosaic[top : top + image.shape[0], left : left + image.shape[1]] = image[..., :3]
        axes.text(left, top, str(index + 1), va="top", fontsize=8, backgroundcolor="white")
    axes.imshow(mosaic, interpolation="nearest")
    axes.set_axis_off()
    return figure
{%- endif %}
