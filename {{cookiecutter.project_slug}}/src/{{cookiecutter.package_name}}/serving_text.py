"""The signature of a text model's export: what a served model takes, and how to feed it.

``serving_default`` takes raw UTF-8 texts [N]; it turns them into word ids with the ops and the
vocabulary training used (data/text_ops.py; the vocabulary travels as an asset) before the
classifier export.py wraps around them. Checked by:

    python -m pytest tests/test_eval_export.py
"""

from collections.abc import Callable, Sequence
from pathlib import Path

import tensorflow as tf

from .data import text_ops
from .data.metadata import Metadata

Classify = Callable[[tf.Tensor], dict[str, tf.Tensor]]  # model inputs -> the export's outputs


class Signatures(tf.Module):
    """Raw texts -> text_ops.tokenize -> `classify`, as serving_default."""

    def __init__(self, classify: Classify, metadata: Metadata, assets_dir: Path) -> None:
        """
        Args:
            classify: model inputs [N, ...] -> probabilities, class_id and class_name.
            metadata: the data's metadata.json (the sequence length).
            assets_dir: the export's assets folder, which holds the vocabulary.
        """
        super().__init__(name="signatures")
        self.vocabulary = text_ops.make_vocabulary_table(assets_dir / text_ops.VOCABULARY_FILE)
        sequence_length = metadata.sequence_length

        def serve_texts(texts: tf.Tensor) -> dict[str, tf.Tensor]:
            return classify(text_ops.tokenize(texts, self.vocabulary, sequence_length))

        self.serve = tf.function(
            serve_texts, input_signature=[tf.TensorSpec([None], tf.string, "texts")]
        )

    def signatures(self) -> dict:
        return {"serving_default": self.serve.get_concrete_function()}


def serving_batches(raw_inputs: Sequence[bytes], metadata: Metadata) -> list[tf.Tensor]:
    """Raw test examples (UTF-8 texts) as serving_default takes them: one batch, as texts of
    any length go together."""
    return [tf.constant(list(raw_inputs))]
