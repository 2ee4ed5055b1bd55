"""The data's TextVectorization, an embedding and a stack of (bidirectional) LSTM or GRU layers
for text classification.

    python -c "from keras.layers import TextVectorization; from {{ cookiecutter.package_name }}.models.lstmnet import build_lstm; build_lstm(vectorizer=TextVectorization(vocabulary=['good', 'bad'], output_sequence_length=32), num_classes=2, embedding_dim=64, units=64, cell='lstm', bidirectional=True, num_layers=1, pooling='last', dropout_rate=0.2, embeddings=None, freeze_embeddings=False).summary()"
"""

from typing import Literal

import keras
from keras import layers, ops

from .embeddings import set_word_vectors

RECURRENT_LAYERS = {"lstm": layers.LSTM, "gru": layers.GRU}  # by model.cell
INITIAL_WEIGHTS = ("embeddings",)  # model.embeddings: a restored checkpoint replaces them


@keras.saving.register_keras_serializable(package=__package__)  # model.keras reloads it
class TrimPadding(layers.Layer):
    """Word ids [N, L] -> [N, the batch's longest text]: no recurrent step over padding alone."""

    def call(self, token_ids):
        return token_ids[:, : ops.max(ops.count_nonzero(token_ids, axis=1))]


def build_lstm(
    *,
    vectorizer: layers.TextVectorization,
    num_classes: int,
    embedding_dim: int,
    units: int,
    cell: Literal["lstm", "gru"],
    bidirectional: bool,
    num_layers: int,
    pooling: Literal["last", "mean"],
    dropout_rate: float,
    embeddings: str | None,
    freeze_embeddings: bool,
) -> keras.Model:
    """Raw texts [N] -> word ids (`vectorizer`; 0 is padding, masked here) -> embedding ->
    `num_layers` recurrent layers -> dense classifier -> float32 logits."""
    if num_layers < 1 or cell not in RECURRENT_LAYERS or pooling not in ("last", "mean"):
        raise ValueError(
            f"model.num_layers={num_layers} must be at least 1, model.cell={cell!r} lstm or "
            f"gru, and model.pooling={pooling!r} last or mean."
        )

    # === Inputs ===
    inputs = keras.Input(shape=(), dtype="string", name="texts")
    token_ids = TrimPadding(name="trim_padding")(vectorizer(inputs))

    # === Encoder ===
    vocab_size = vectorizer.vocabulary_size()
    embedding = layers.Embedding(vocab_size, embedding_dim, mask_zero=True, name="embedding")
    x = embedding(token_ids)
    for index in range(1, num_layers + 1):  # each reads the whole output sequence of the last
        recurrent = RECURRENT_LAYERS[cell](
            units, return_sequences=index < num_layers or pooling == "mean", name=f"{cell}_{index}"
        )
        if bidirectional:
            recurrent = layers.Bidirectional(recurrent, name=f"bidirectional_{index}")
        x = recurrent(x)
    if pooling == "mean":  # else the last layer's final state
        x = layers.GlobalAveragePooling1D(name="mean_pool")(x)

    # === Classifier ===
    x = layers.Dropout(dropout_rate, name="dropout")(x)
    # float32 logits even under a mixed-precision policy, for a stable softmax and loss.
    outputs = layers.Dense(num_classes, dtype="float32", name="logits")(x)

    # === Functional Model ===
    model = keras.Model(inputs, outputs, name=f"{cell}net")
    set_word_vectors(embedding, vectorizer.get_vocabulary(), embeddings, freeze_embeddings)
    return model
