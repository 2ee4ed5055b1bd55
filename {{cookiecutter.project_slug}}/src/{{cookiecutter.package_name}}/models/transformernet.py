"""A small Transformer encoder for text classification (Vaswani et al., 2017, encoder only):
a learned vector per word and per position, `num_blocks` encoder blocks, and a classifier on
the mean of the last block's outputs over the words. Padding (id 0) is masked everywhere."""

import keras
from keras import layers

from .embeddings import set_word_vectors

INITIAL_WEIGHTS = ("embeddings",)  # model.embeddings: a restored checkpoint replaces them


def build_transformer(
    *,
    vectorizer: layers.TextVectorization,
    num_classes: int,
    embedding_dim: int,
    num_heads: int,
    feed_forward_dim: int,
    num_blocks: int,
    dropout_rate: float,
    embeddings: str | None,
    freeze_embeddings: bool,
) -> keras.Model:
    """Raw texts [N] -> word ids (`vectorizer`) -> word + position embeddings -> encoder
    blocks -> dense classifier -> float32 logits."""
    if num_blocks < 1 or num_heads < 1 or embedding_dim % num_heads:
        raise ValueError(
            f"model.num_blocks={num_blocks} must be at least 1, and model.embedding_dim="
            f"{embedding_dim} must divide by model.num_heads={num_heads}."
        )

    # === Inputs ===
    inputs = keras.Input(shape=(), dtype="string", name="texts")
    token_ids = vectorizer(inputs)
    # For every block and the pooling: Keras' implicit mask ends in the first block's Add.
    padding = keras.ops.not_equal(token_ids, 0)

    # === Embeddings ===
    vocab_size, length = vectorizer.vocabulary_size(), token_ids.shape[1]
    embedding = layers.Embedding(vocab_size, embedding_dim, mask_zero=True, name="embedding")
    # arange first: Keras adds a vector to a batch with BiasAdd, which TFLite lacks for integers.
    positions = keras.ops.arange(length) + keras.ops.zeros_like(token_ids)
    position_embedding = layers.Embedding(length, embedding_dim, name="position_embedding")
    x = layers.Add(name="add_positions")([embedding(token_ids), position_embedding(positions)])
    x = layers.Dropout(dropout_rate, name="embedding_dropout")(x)

    # === Encoder ===
    for index in range(1, num_blocks + 1):
        x = encoder_block(x, padding, num_heads, feed_forward_dim, dropout_rate, f"block{index}")

    # === Classifier ===
    x = layers.GlobalAveragePooling1D(name="mean_pool")(x, mask=padding)  # over the words
    x = layers.Dropout(dropout_rate, name="dropout")(x)
    # float32 logits even under a mixed-precision policy, for a stable softmax and loss.
    outputs = layers.Dense(num_classes, dtype="float32", name="logits")(x)

    # === Functional Model ===
    model = keras.Model(inputs, outputs, name="transformer")
    set_word_vectors(embedding, vectorizer.get_vocabulary(), embeddings, freeze_embeddings)
    return model


def encoder_block(
    x: keras.KerasTensor,
    padding: keras.KerasTensor,
    num_heads: int,
    feed_forward_dim: int,
    dropout_rate: float,
    name: str,
) -> keras.KerasTensor:
    """Self-attention (to the words that are not `padding`), then a two-layer feed-forward net;
    each adds to its input, then normalises (post-norm). The mask is explicit: MultiHeadAttention
    clears the implicit one, which the residual Add reads, so a next block would see padding."""
    dim = x.shape[-1]
    attention = layers.MultiHeadAttention(
        num_heads, dim // num_heads, dropout=dropout_rate, name=f"{name}_attention"
    )(x, x, attention_mask=keras.ops.expand_dims(padding, 1))
    attention = layers.Dropout(dropout_rate, name=f"{name}_attention_dropout")(attention)
    x = layers.Add(name=f"{name}_attention_add")([x, attention])
    x = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_attention_norm")(x)
    hidden = layers.Dense(feed_forward_dim, activation="relu", name=f"{name}_hidden")(x)
    hidden = layers.Dense(dim, name=f"{name}_output")(hidden)
    hidden = layers.Dropout(dropout_rate, name=f"{name}_output_dropout")(hidden)
    x = layers.Add(name=f"{name}_output_add")([x, hidden])
    return layers.LayerNormalization(epsilon=1e-6, name=f"{name}_output_norm")(x)
