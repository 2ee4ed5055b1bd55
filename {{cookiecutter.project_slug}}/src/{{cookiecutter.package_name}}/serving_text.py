"""The signature of a text model's export, on raw strings.

``serving_default`` takes raw UTF-8 texts [N]; it turns them into word ids with the ops and the
vocabulary training used (data/text_ops.py; the vocabulary travels as an asset) before the
classifier export.py wraps around them. Checked by:

    python -m pytest tests/test_export.py
"""

from collections.abc import Callable, Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from .data import text_ops
from .data.metadata import Metadata

Classify = Callable[[tf.Tensor], dict[str, tf.Tensor]]  # model inputs -> the export's outputs
DEFAULT_INPUT = "texts"  # serving_default's input


def add_signatures(
    archive: keras.export.ExportArchive, classify: Classify, metadata: Metadata, assets_dir: Path
) -> None:
    """Adds serving_default (raw texts) to `archive`, and the vocabulary table it uses.

    Args:
        archive: the export archive, which already tracks the model.
        classify: model inputs [N, ...] -> probabilities, class_id and class_name.
        metadata: the data's metadata.json (the sequence length).
        assets_dir: the run's assets folder, which holds the vocabulary.
    """
    table = text_ops.make_vocabulary_table(assets_dir / text_ops.VOCABULARY_FILE)
    archive.track(table)  # vocab.txt travels as an asset of the export

    def serve_texts(texts: tf.Tensor) -> dict[str, tf.Tensor]:
        return classify(text_ops.tokenize(texts, table, metadata.sequence_length))

    spec = tf.TensorSpec([None], tf.string, DEFAULT_INPUT)
    archive.add_endpoint("serving_default", serve_texts, [spec])


def serving_batches(raw_inputs: Sequence[bytes], metadata: Metadata) -> list[tf.Tensor]:
    """Raw examples (UTF-8 texts) as serving_default takes them: one batch, as texts of any
    length go together."""
    return [tf.constant(list(raw_inputs))]


def signature_requests(
    raw_inputs: Sequence[bytes], metadata: Metadata
) -> list[tuple[str, dict[str, np.ndarray]]]:
    """(signature, inputs) for raw examples: the texts, for serving_default."""
    return [("serving_default", {DEFAULT_INPUT: np.array(list(raw_inputs), dtype=object)})]
