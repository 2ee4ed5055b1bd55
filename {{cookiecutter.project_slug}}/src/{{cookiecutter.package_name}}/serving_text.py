"""What a text model's export takes: its signature, its .tflite input, and how to feed them.

``serving_default`` takes raw UTF-8 texts [N]; it turns them into word ids with the ops and the
vocabulary training used (data/text_ops.py; the vocabulary travels as an asset) before the
classifier export.py wraps around them. The ``.tflite`` takes those word ids, int32
[N, sequence_length] (TFLite has no string ops): predict_text.token_ids makes them from the
export's assets/vocab.txt without TensorFlow. Checked by:

    python -m pytest tests/test_eval_export.py
"""

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from .data import text_ops
from .data.metadata import Metadata
from .predict_text import token_ids

Classify = Callable[[tf.Tensor], dict[str, tf.Tensor]]  # model inputs -> the export's outputs
Endpoint = tuple[Callable, list[tf.TensorSpec]]  # a function and its input signature
DEFAULT_INPUT = "texts"  # serving_default's input
# What export/<version>/README.md tells a client of the .tflite's input.
TFLITE_INPUT_NOTE = (
    "Give it word ids, made from texts with `predict_text.token_ids` (plain Python) and "
    "assets/vocab.txt: lower-case, punctuation to spaces, numbers of 3+ digits to `000`, split "
    "on spaces, each word's line number in vocab.txt (1 when absent), padded with 0 or cut to "
    "the sequence length."
)


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


def tflite_input(metadata: Metadata) -> tuple[Callable[[tf.Tensor], tf.Tensor], tf.TensorSpec]:
    """What the .tflite takes, word ids [N, sequence_length], and what makes the model's
    inputs of them inside it: nothing, they are the model's inputs."""
    spec = tf.TensorSpec([None, metadata.sequence_length], tf.int32, "token_ids")
    return (lambda token_ids: token_ids), spec


def tflite_inputs(raw_inputs: Sequence[bytes], metadata: Metadata, assets_dir: Path) -> np.ndarray:
    """Raw examples (UTF-8 texts) as a client gives them to the .tflite: predict_text.token_ids,
    int32 [N, sequence_length]."""
    vocabulary = (assets_dir / text_ops.VOCABULARY_FILE).read_text(encoding="utf-8").splitlines()
    texts = [raw.decode("utf-8") for raw in raw_inputs]
    return np.array(token_ids(texts, vocabulary, metadata.sequence_length), np.int32)


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
