"""What a text model's export takes: its signature, and how to feed them.

``serving_default`` takes raw UTF-8 texts [N]; it turns them into word ids with the ops and the
vocabulary training used (data/text_ops.py; the vocabulary travels as an asset) before the
classifier export.py wraps around them. Checked by:

    python -m pytest tests/test_eval_export.py
"""

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from .data import text_ops
from .data.metadata import Metadata

Classify = Callable[[tf.Tensor], dict[str, tf.Tensor]]  # model inputs -> the export's outputs
Endpoint = tuple[Callable, list[tf.TensorSpec]]  # a function and its input signature
DEFAULT_INPUT = "texts"  # serving_default's input


def vocabulary(assets_dir: Path) -> tf.lookup.StaticHashTable:
    """The word -> id table of the run's assets/vocab.txt, which travels with the export."""
    return text_ops.make_vocabulary_table(assets_dir / text_ops.VOCABULARY_FILE)


def endpoints(
    classify: Classify, metadata: Metadata, assets_dir: Path
) -> tuple[dict[str, Endpoint], list]:
    """The export's signature, name -> (function of raw texts, input signature), and the
    resources it uses besides the model's: the vocabulary table.

    Args:
        classify: model inputs [N, ...] -> probabilities, class_id and class_name.
        metadata: the data's metadata.json (the sequence length).
        assets_dir: the run's assets folder, which holds the vocabulary.
    """
    table = vocabulary(assets_dir)
    sequence_length = metadata.sequence_length

    def serve_texts(texts: tf.Tensor) -> dict[str, tf.Tensor]:
        return classify(text_ops.tokenize(texts, table, sequence_length))

    return {"serving_default": (serve_texts, [tf.TensorSpec([None], tf.string, DEFAULT_INPUT)])}, [
        table
    ]


def serving_batches(raw_inputs: Sequence[bytes], metadata: Metadata) -> list[tf.Tensor]:
    """Raw test examples (UTF-8 texts) as serving_default takes them: one batch, as texts of
    any length go together."""
    return [tf.constant(list(raw_inputs))]


def signature_requests(
    raw_inputs: Sequence[bytes], metadata: Metadata
) -> list[tuple[str, dict[str, np.ndarray]]]:
    """(signature, inputs) for raw examples: the texts, for serving_default."""
    return [("serving_default", {DEFAULT_INPUT: np.array(list(raw_inputs), dtype=object)})]


def rest_bodies(raw_inputs: Sequence[bytes], metadata: Metadata) -> dict[str, dict]:
    """The TensorFlow Serving REST body (POST .../models/NAME:predict) of the first raw
    examples, for serving_default."""
    texts = [raw.decode("utf-8") for raw in raw_inputs[:2]]
    return {"serving_default": {"signature_name": "serving_default", "instances": texts}}
