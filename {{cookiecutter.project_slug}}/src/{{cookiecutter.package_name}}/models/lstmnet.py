"""Embedding + a stack of (bidirectional) LSTM or GRU layers for text classification.

Print its summary:

    python -c "from {{ cookiecutter.package_name }}.models.lstmnet import build_lstm; build_lstm(32, 1000, 2).summary()"
"""

import keras
from keras import layers

RECURRENT_LAYERS = {"lstm": layers.LSTM, "gru": layers.GRU}
POOLING = ("last", "mean")


def build_lstm(
    sequence_length: int,
    vocab_size: int,
    num_classes: int,
    embedding_dim: int = 64,
    units: int = 64,
    cell: str = "lstm",
    bidirectional: bool = True,
    num_layers: int = 1,
    pooling: str = "last",
    dropout_rate: float = 0.2,
    unroll: bool = False,
) -> keras.Model:
    """Builds an embedding followed by `num_layers` recurrent layers and a dense classifier.

    Args:
        sequence_length: word ids per example; id 0 is padding and is masked.
        vocab_size: number of ids, padding and out-of-vocabulary included.
        num_classes: number of output classes.
        embedding_dim: size of each word vector.
        units: units of each recurrent layer (per direction).
        cell: "lstm" or "gru".
        bidirectional: read each sequence both ways.
        num_layers: recurrent layers stacked on each other.
        pooling: what the classifier sees: "last", the final state of the last recurrent
            layer, or "mean", the average of its outputs over the words (padding excluded).
        dropout_rate: dropout before the classifier; 0 turns it off.
        unroll: unroll the recurrent loops (for TFLite conversion; needs the same weights).

    Returns:
        A functional keras.Model from int32 word ids to float32 logits.
    """
    if cell not in RECURRENT_LAYERS:
        raise ValueError(
            f"model.cell={cell!r} is not supported; choose one of "
            f"{', '.join(RECURRENT_LAYERS)}, e.g. model.cell=gru."
        )
    if pooling not in POOLING:
        raise ValueError(
            f"model.pooling={pooling!r} is not supported; choose one of {', '.join(POOLING)}."
        )
    if num_layers < 1:
        raise ValueError(f"model.num_layers={num_layers} must be at least 1.")

    # === Inputs ===
    inputs = keras.Input(shape=(sequence_length,), dtype="int32", name="token_ids")

    # === Encoder ===
    x = layers.Embedding(vocab_size, embedding_dim, mask_zero=True, name="embedding")(inputs)
    for index in range(1, num_layers + 1):
        recurrent = RECURRENT_LAYERS[cell](
            units,
            return_sequences=index < num_layers or pooling == "mean",
            unroll=unroll,
            name=f"{cell}_{index}",
        )
        if bidirectional:
            recurrent = layers.Bidirectional(recurrent, name=f"bidirectional_{index}")
        x = recurrent(x)
    if pooling == "mean":
        x = layers.GlobalAveragePooling1D(name="mean_pool")(x)

    # === Classifier ===
    x = layers.Dropout(dropout_rate, name="dropout")(x)
    # float32 logits even under a mixed-precision policy, for a stable softmax and loss.
    outputs = layers.Dense(num_classes, dtype="float32", name="logits")(x)

    # === Functional Model ===
    return keras.Model(inputs, outputs, name=f"{cell}net")
