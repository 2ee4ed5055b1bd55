"""A run's TensorBoard files (`make tensorboard`): hparams; train/ the scalars;
validation/ the scalars and confusion matrix of each full validation."""

import io
from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase
from pathlib import Path

import numpy as np
import tensorflow as tf
from matplotlib.figure import Figure
from omegaconf import DictConfig, OmegaConf
from sklearn.metrics import ConfusionMatrixDisplay
from tabulate import tabulate
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
