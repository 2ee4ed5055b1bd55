"""The signature of a text model's export, checked by ``python -m pytest tests/test_export.py``.

``serving_default`` takes raw UTF-8 texts [N] and hands them to export.py's classifier as they
are: the model's own TextVectorization makes the word ids (its vocabulary is in the graph).
"""

from collections.abc import Callable, Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from .data.metadata import Metadata

Classify = Callable[[tf.Tensor], dict[str, tf.Tensor]]  # model inputs -> the export's outputs
DEFAULT_INPUT = "texts"  # serving_default's input


def add_signatures(
    archive: keras.export.ExportArchive, classify: Classify, metadata: Metadata, assets_dir: Path
) -> None:
    """Adds serving_default (raw texts) to `archive`, which tracks the model."""
    spec = tf.TensorSpec([None], tf.string, DEFAULT_INPUT)
    archive.add_endpoint("serving_default", classify, [spec])


def serving_batches(raw_inputs: Sequence[bytes], metadata: Metadata) -> list[tf.Tensor]:
    """Raw texts as serving_default takes them: one batch, as texts of any length go together."""
    return [tf.constant(list(raw_inputs))]


def signature_requests(raw_inputs: Sequence[bytes], metadata: Metadata) -> list[tuple[str, dict]]:
    """(signature, inputs) for raw texts: the texts, for serving_default."""
    return [("serving_default", {DEFAULT_INPUT: np.array(list(raw_inputs), dtype=object)})]
