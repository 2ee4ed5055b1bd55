"""What training writes for TensorBoard (`make tensorboard`): hparams; train/ the scalars{{ "" if cookiecutter.model_type == "cnn" else "
(and the Embedding Projector's files)" }}; validation/ the scalars and confusion matrix of each full
validation. report.md shares the pictures.
"""

import io
from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase
from pathlib import Path

{% if cookiecutter.model_type == "rnn" %}import keras
{% endif %}import numpy as np
import tensorflow as tf
from matplotlib.figure import Figure
from omegaconf import DictConfig, OmegaConf
from sklearn.metrics import ConfusionMatrixDisplay
from tabulate import tabulate{% if cookiecutter.model_type == "rnn" %}
from tensorboard.plugins import projector{% endif %}
from tensorboard.plugins.hparams import api as hparams_api

from .config import BOOKKEEPING, flatten

# What changes nothing learned (as in the runs table) and eval's or export's keys: not hparams.
BOOKKEEPING_HPARAMS = (*BOOKKEEPING, "checkpoint", "export.*", "hydra*")


class TrainingSummaries:
    """A run's TensorBoard files: hparams in log_dir, train/ and validation/ as two runs below."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.train = tf.summary.create_file_writer(str(log_dir / "train"))
        self.validation = tf.summary.create_file_writer(str(log_dir / "validation"))
        self.hparams = tf.summary.create_file_writer(str(log_dir))

    def write_hparams(self, cfg: DictConfig) -> None:
        config = OmegaConf.to_container(cfg, resolve=True)
        with self.hparams.as_default():
            hparams_api.hparams(flat_hparams(config), trial_id=Path(cfg.run_dir).name)

    def write_training(self, values: Mapping[str, float], step: int) -> None:
        with self.train.as_default(step=step):
            for name, value in values.items():
                tf.summary.scalar(name, value)

    def write_validation(self, validation: Mapping, class_names: Sequence[str], step: int) -> None:
        confusion = validation["confusion_matrix"]
        picture = figure_image(confusion_figure(confusion, class_names))
        with self.validation.as_default(step=step):
            tf.summary.scalar("loss", validation["loss"])
            tf.summary.scalar("accuracy", validation["accuracy"])
            tf.summary.image("confusion_matrix", picture)
            tf.summary.text("confusion_matrix_table", confusion_table(confusion, class_names))
{%- if cookiecutter.model_type == "rnn" %}

    def write_embedding(self, model: keras.Model) -> None:
        """The learned embedding for the PROJECTOR tab, row i named by token id i's word."""
        log_dir = self.log_dir / "train"
        words = model.get_layer("vectorizer").get_vocabulary()  # "" (padding), [UNK], ...
        tsv = "".join((word or "[PAD]").replace("\t", " ") + "\n" for word in words)
        (log_dir / "metadata.tsv").write_text(tsv, encoding="utf-8")
        weights = keras.ops.convert_to_numpy(model.get_layer("embedding").embeddings)
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
