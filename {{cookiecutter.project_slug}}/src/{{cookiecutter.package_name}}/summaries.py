"""What train.py writes for TensorBoard. See it with:

    tensorboard --logdir runs/{{ "lenet5-digits" if cookiecutter.model_type == "cnn" else "lstm-digit_sentences" }}/tensorboard

run_dir/tensorboard/ holds the hparams of the run; train/ the training scalars, histograms,
{{ "the grid of training inputs" if cookiecutter.model_type == "cnn" else "the Embedding Projector files" }}, the config and the step graph; validation/ the validation scalars and
the confusion matrix (a picture with class names and counts, and a table) of every full
validation.
"""

import io
from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING

import keras
import numpy as np
import tensorflow as tf{% if cookiecutter.model_type == "rnn" %}
from tensorboard.plugins import projector{% endif %}
from tensorboard.plugins.hparams import api as hparams_api
from tensorboard.plugins.hparams import plugin_data_pb2

from .config import flatten{% if cookiecutter.model_type == "rnn" %}
from .data import input_ops{% endif %}

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# The hyper-parameters that decide a result, in the order runs are compared by (fnmatch
# patterns on the flattened names). They lead the HPARAMS tab; the other keys follow.
LEADING_HPARAMS = (
    "model.name",
    "data.name",
    "train.learning_rate",
    "train.batch_size",
    "train.epochs",
    "train.optimizer",
    "train.lr_schedule",
    "train.weight_decay",
    "model.dropout_rate",
    "model.*",
)
# Bookkeeping: where a run is, how often it logs or saves, how it is fed and spread over
# devices. None of it changes what is learned, so the HPARAMS tab leaves it out.
BOOKKEEPING_HPARAMS = (
    "run_dir",
    "runs_root",
    "checkpoint",
    "*_dir",
    "*path",
    "data.cache",
    "data.num_shards",
    "data.shard_policy",
    "train.resume",
    "train.keep_checkpoints",
    "train.*_every_steps",
    "train.validation_steps",
    "distribute.*",
    "export.*",
    "logger*",  # the tracker and the user's callbacks: a group, or a list of _target_s
    "callbacks*",
    "hparams_search*",
    "hydra*",
)
{%- if cookiecutter.model_type == "cnn" %}
INPUT_GRID_SIZE = 32  # training inputs shown in TensorBoard
{%- endif %}


class TrainingSummaries:
    """The TensorBoard files of a training run, under log_dir: the hparams in it, train/ and
    validation/ in their own folders (one writer each, so that TensorBoard shows them as two
    runs on one chart)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.train = tf.summary.create_file_writer(str(log_dir / "train"))
        self.validation = tf.summary.create_file_writer(str(log_dir / "validation"))
        self.hparams = tf.summary.create_file_writer(str(log_dir))

    def write_config(self, yaml_text: str, step: int) -> None:
        with self.train.as_default():
            write_config(yaml_text, step)

    def write_hparams_and_trace(self, config: Mapping, run_name: str) -> None:
        """At the start of a new run: its hparams; and traces the graph of its first call."""
        with self.hparams.as_default():
            write_hparams(flat_hparams(config), run_name)
        tf.summary.trace_on(graph=True)

    def write_graph(self) -> None:
        """The graph of the run's first training call, traced since write_hparams_and_trace."""
        with self.train.as_default():
            tf.summary.trace_export(name="train_step", step=1)

    def write_training(self, values: Mapping[str, float], learning_rate: float, step: int) -> None:
        with self.train.as_default(step=step):
            for name, value in values.items():
                tf.summary.scalar(name, value)
            tf.summary.scalar("learning_rate", learning_rate)

    def write_histograms(
        self, variables: Sequence[keras.Variable], gradients: Sequence[tf.Tensor], step: int
    ) -> None:
        with self.train.as_default():
            write_histograms(variables, gradients, step)

    def write_subset_validation(self, subset: Mapping, step: int) -> None:
        with self.validation.as_default(step=step):
            tf.summary.scalar("subset_loss", subset["loss"])
            tf.summary.scalar("subset_accuracy", subset["accuracy"])

    def write_validation(self, validation: Mapping, class_names: Sequence[str], step: int) -> None:
        """The scalars and the confusion matrix of a full validation."""
        with self.validation.as_default(step=step):
            tf.summary.scalar("loss", validation["loss"])
            tf.summary.scalar("accuracy", validation["accuracy"])
            write_confusion(validation["confusion_matrix"], class_names, step)
{%- if cookiecutter.model_type == "cnn" %}

    def write_inputs(self, images: tf.Tensor, step: int) -> None:
        """A grid of training inputs, as the model sees them (resized, augmented)."""
        with self.train.as_default():
            tf.summary.image("training_inputs", image_grid(images), step=step)
{%- else %}

    def write_embedding(self, model: keras.Model, records_dir: str) -> None:
        """The model's learned embedding with its words, for the Embedding Projector."""
        write_embedding_projector(
            self.log_dir / "train",
            model.get_layer("embedding"),
            tf.io.gfile.join(records_dir, input_ops.VOCABULARY_FILE),  # or gs://
        )
{%- endif %}

    def close(self) -> None:
        for writer in (self.train, self.validation, self.hparams):
            writer.close()


def write_config(yaml_text: str, step: int) -> None:
    """The resolved config as text (an indented block keeps its layout in TensorBoard)."""
    block = "\n".join("    " + line for line in yaml_text.splitlines())
    tf.summary.text("config", block, step=step)


def flat_hparams(config: Mapping) -> dict[str, bool | int | float | str]:
    """The hyper-parameters of a run for the hparams plugin: {"model.name": "lenet5", ...}.

    Nested keys are joined with dots; lists become strings and null values are left out. The
    keys matching LEADING_HPARAMS come first, in that order; the rest follow in config order,
    less those matching BOOKKEEPING_HPARAMS.
    """
    flat = {
        name: value if isinstance(value, bool | int | float | str) else str(value)
        for name, value in flatten(config).items()
        if value is not None
        and not any(fnmatchcase(name, pattern) for pattern in BOOKKEEPING_HPARAMS)
    }
    ordered = {}
    for pattern in LEADING_HPARAMS:
        ordered.update({name: value for name, value in flat.items() if fnmatchcase(name, pattern)})
    return ordered | flat


def is_leading_hparam(name: str) -> bool:
    """Whether `name` is one of the hyper-parameters that decide a result (LEADING_HPARAMS)."""
    return any(fnmatchcase(name, pattern) for pattern in LEADING_HPARAMS)


def write_hparams(hparams: Mapping[str, bool | int | float | str], run_name: str) -> None:
    """The run's hyperparameters, shown by the HPARAMS tab next to its validation metrics.

    TensorBoard lists hyper-parameters by their `differs` flag, then by name, and ticks the
    first five; `differs` is set on the leading ones (LEADING_HPARAMS) so that they, not
    `data.augment.*`, head its table and parallel-coordinates view.
    """
    summary = hparams_api.hparams_config_pb(
        hparams=[hparams_api.HParam(name) for name in hparams],
        metrics=[
            hparams_api.Metric("accuracy", group="validation", display_name="val_accuracy"),
            hparams_api.Metric("loss", group="validation", display_name="val_loss"),
        ],
    )
    plugin_data = summary.value[0].metadata.plugin_data
    content = plugin_data_pb2.HParamsPluginData.FromString(plugin_data.content)
    for info in content.experiment.hparam_infos:
        info.differs = is_leading_hparam(info.name)
    plugin_data.content = content.SerializeToString()
    tf.summary.experimental.write_raw_pb(summary.SerializeToString(), step=0)
    hparams_api.hparams(dict(hparams), trial_id=run_name)


def write_histograms(
    variables: Sequence[keras.Variable], gradients: Sequence[tf.Tensor] | None, step: int
) -> None:
    """Histograms of every weight and, when given, of its gradient."""
    for index, variable in enumerate(variables):
        tf.summary.histogram(f"weights/{variable.path}", variable, step=step)
        if gradients is not None:
            tf.summary.histogram(f"gradients/{variable.path}", gradients[index], step=step)


def confusion_figure(confusion: np.ndarray, class_names: Sequence[str]) -> "Figure":
    """The confusion matrix as scikit-learn's ConfusionMatrixDisplay draws it: true classes
    down the left, predicted ones along the bottom, each cell with its count."""
    from matplotlib.figure import Figure  # only where a picture is drawn
    from sklearn.metrics import ConfusionMatrixDisplay

    size = min(3 + 0.4 * len(class_names), 20)  # inches, at 100 pixels each
    figure = Figure(figsize=(size, size), layout="constrained")
    display = ConfusionMatrixDisplay(confusion.astype(int), display_labels=list(class_names))
    display.plot(ax=figure.subplots(), cmap="Blues", colorbar=False, xticks_rotation="vertical")
    return figure


def figure_png(figure: "Figure") -> bytes:
    """A matplotlib figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def confusion_image(confusion: np.ndarray, class_names: Sequence[str]) -> tf.Tensor:
    """confusion_figure as TensorBoard takes a picture: uint8 [1, height, width, 3]."""
    png = figure_png(confusion_figure(confusion, class_names))
    return tf.io.decode_png(png, channels=3)[tf.newaxis]


def confusion_table(confusion: np.ndarray, class_names: Sequence[str]) -> str:
    """The confusion matrix as a Markdown table (rows: true class, columns: predicted)."""
    header = "| true \\ predicted | " + " | ".join(class_names) + " |"
    rule = "|---" * (len(class_names) + 1) + "|"
    rows = [
        f"| {name} | " + " | ".join(str(int(count)) for count in row) + " |"
        for name, row in zip(class_names, confusion, strict=True)
    ]
    return "\n".join([header, rule, *rows])


def write_confusion(confusion: np.ndarray, class_names: Sequence[str], step: int) -> None:
    """The confusion matrix as a labelled picture and as a Markdown table."""
    tf.summary.image("confusion_matrix", confusion_image(confusion, class_names), step=step)
    tf.summary.text("confusion_matrix_table", confusion_table(confusion, class_names), step=step)

{%- if cookiecutter.model_type == "cnn" %}


def image_grid(images: tf.Tensor, columns: int = 8) -> tf.Tensor:
    """Tiles a batch of normalised images into one picture, each stretched to [0, 1].

    Returns:
        float32 [1, rows * height, columns * width, channels].
    """
    images = tf.convert_to_tensor(images, tf.float32)
    low = tf.reduce_min(images, axis=[1, 2, 3], keepdims=True)
    high = tf.reduce_max(images, axis=[1, 2, 3], keepdims=True)
    images = (images - low) / tf.maximum(high - low, 1e-6)
    count, height, width, channels = images.shape
    rows = -(-count // columns)
    padding = tf.zeros([rows * columns - count, height, width, channels])
    images = tf.concat([images, padding], axis=0)
    images = tf.reshape(images, [rows, columns, height, width, channels])
    images = tf.transpose(images, [0, 2, 1, 3, 4])
    return tf.reshape(images, [1, rows * height, columns * width, channels])

{%- else %}


def write_embedding_projector(
    log_dir: str | Path, embedding: keras.layers.Embedding, vocabulary_path: str | Path
) -> None:
    """Writes the learned embedding for TensorBoard's Embedding Projector (PROJECTOR tab).

    metadata.tsv names each row with its word (line i of the vocabulary is token id i).
    """
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    weights = np.asarray(keras.ops.convert_to_numpy(embedding.embeddings))
    with tf.io.gfile.GFile(str(vocabulary_path)) as vocabulary_file:
        words = vocabulary_file.read().splitlines()
    if len(words) != weights.shape[0]:
        raise ValueError(
            f"The embedding has {weights.shape[0]} rows but {vocabulary_path} has "
            f"{len(words)} words; the run's assets do not belong to its model."
        )
    (log_dir / "metadata.tsv").write_text(
        "".join(word.replace("\t", " ") + "\n" for word in words), encoding="utf-8"
    )
    checkpoint = tf.train.Checkpoint(embedding=tf.Variable(weights))
    checkpoint.write(str(log_dir / "embedding.ckpt"))
    config = projector.ProjectorConfig()
    entry = config.embeddings.add()
    entry.tensor_name = "embedding/.ATTRIBUTES/VARIABLE_VALUE"
    entry.metadata_path = "metadata.tsv"
    projector.visualize_embeddings(str(log_dir), config)
{%- endif %}
