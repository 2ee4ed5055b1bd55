"""A text export's signature, checked by ``python -m pytest tests/test_export.py``:
serving_default takes raw UTF-8 texts [N] and hands them to the model as they are: its own
TextVectorization makes the word ids (its vocabulary is in the graph)."""

from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from .data.metadata import Metadata


def add_signatures(
    archive: keras.export.ExportArchive, classify: Callable, metadata: Metadata
) -> None:
    """Adds serving_default (raw texts); `classify`: model inputs -> the export's outputs."""
    archive.add_endpoint("serving_default", classify, [tf.TensorSpec([None], tf.string, "texts")])


def signature_inputs(raw_inputs: Sequence[bytes], metadata: Metadata) -> dict[str, dict]:
    """{signature: its inputs} for raw texts: the texts, for serving_default."""
    return {"serving_default": {"texts": np.array(raw_inputs, dtype=object)}}
