"""A run's TensorBoard files (`make tensorboard`): train/ the scalars; validation/ the scalars
and confusion matrix of each full validation, and the run's hparams (so no third, empty run)."""

import io
import os
from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase
from pathlib import Path

import numpy as np
import tensorflow as tf
from hydra.core.hydra_config import HydraConfig
from matplotlib.figure import Figure
from omegaconf import DictConfig, OmegaConf
from sklearn.metrics import ConfusionMatrixDisplay
from tabulate import tabulate
from tensorboard.plugins.hparams import api as hparams_api

from .config import BOOKKEEPING, flatten

# What changes nothing learned (as in the runs table) and eval's or export's keys: not hparams.
BOOKKEEPING_HPARAMS = (*BOOKKEEPING, "checkpoint", "export.*", "hydra*")


class TrainingSummaries:  # train/ and validation/, two runs of TensorBoard
    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.train = tf.summary.create_file_writer(str(log_dir / "train"))
        self.validation = tf.summary.create_file_writer(str(log_dir / "validation"))

    def write_hparams(self, cfg: DictConfig) -> None:
        """The keys given on the command line (a sweep's too) come first in the HParams tab, which
        orders by name: again as _<key>. A row per run, named by its path below runs_root."""
        hparams = flat_hparams(OmegaConf.to_container(cfg, resolve=True))
        given = HydraConfig.get().overrides.task if HydraConfig.initialized() else []
        keys = (override.split("=", 1)[0].lstrip("+~") for override in given)
        keys = (key if key in hparams else f"{key}.name" for key in keys)  # model=resnet
        first = {f"_{key}": hparams[key] for key in keys if key in hparams}
        with self.validation.as_default():
            trial = os.path.relpath(cfg.run_dir, cfg.runs_root)
            hparams_api.hparams({**first, **hparams}, trial_id=trial)

    def write_training(self, values: Mapping[str, float], step: int) -> None:
        with self.train.as_default(step=step):
            for name, value in values.items():
                tf.summary.scalar(name, value)

    def write_validation(self, validation: Mapping, step: int) -> None:
        confusion, class_names = validation["confusion_matrix"], list(validation["per_class"])
        picture = figure_image(confusion_figure(confusion, class_names))
        with self.validation.as_default(step=step):
            tf.summary.scalar("loss", validation["loss"])
            tf.summary.scalar("accuracy", validation["accuracy"])
            tf.summary.image("confusion_matrix", picture)
            tf.summary.text("confusion_matrix_table", confusion_table(confusion, class_names))

    def close(self) -> None:
        for writer in (self.train, self.validation):
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
