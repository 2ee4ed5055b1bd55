"""A small Transformer encoder for text classification (Vaswani et al., 2017, encoder only).

The data's TextVectorization turns raw texts into word ids; each gets a learned word vector
plus one for its position; `num_blocks` encoder blocks (self-attention and a feed-forward
layer, each with a residual connection and layer normalisation) follow, and the classifier
sees the mean of the last block's outputs over the words. Padding (id 0) is masked
everywhere. Print its summary:

    python -c "from keras.layers import TextVectorization; from {{ cookiecutter.package_name }}.models.transformernet import build_transformer; build_transformer(vectorizer=TextVectorization(vocabulary=['good', 'bad'], output_sequence_length=32), num_classes=2, embedding_dim=64, num_heads=2, feed_forward_dim=128, num_blocks=2, dropout_rate=0.1, embeddings=None, freeze_embeddings=False).summary()"
"""

import keras
from keras import layers

from .embeddings import set_word_vectors

INITIAL_WEIGHTS = ("embeddings",)  # model.embeddings: a restored checkpoint replaces them


@keras.saving.register_keras_serializable(package=__package__)
class PositionEmbedding(layers.Layer):
    """Adds a learned vector per position to a [batch, sequence_length, dim] input; the mask of
    the input (the padding of the word embedding) passes through unchanged."""

    def __init__(self, sequence_length: int, **kwargs):
        super().__init__(**kwargs)
        self.sequence_length = sequence_length
        self.supports_masking = True

    def build(self, input_shape):
        self.position_embeddings = self.add_weight(
            shape=(self.sequence_length, input_shape[-1]),
            initializer=keras.initializers.RandomUniform(-0.05, 0.05),
            name="position_embeddings",
        )

    def call(self, inputs):
        length = keras.ops.shape(inputs)[1]
        positions = keras.ops.cast(self.position_embeddings[:length], inputs.dtype)
        return inputs + positions[None]

    def get_config(self):
        return {**super().get_config(), "sequence_length": self.sequence_length}


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
    """Builds word ids of raw texts, word + position embeddings, `num_blocks` encoder blocks
    and a dense classifier: a functional keras.Model from strings [N] to float32 logits.

    Args:
        vectorizer: the data's layer from texts to word ids (0: padding, masked here).
        num_classes: number of output classes.
        The others: the options of configs/model/transformer.yaml, which says what each does.
    """
    check_options(num_blocks, num_heads, embedding_dim)

    # === Inputs ===
    inputs = keras.Input(shape=(), dtype="string", name="texts")
    token_ids = vectorizer(inputs)
    # For every block and the pooling: Keras' implicit mask ends in the first block's Add.
    padding = keras.ops.not_equal(token_ids, 0)

    # === Embeddings ===
    vocab_size = vectorizer.vocabulary_size()
    embedding = layers.Embedding(vocab_size, embedding_dim, mask_zero=True, name="embedding")
    x = PositionEmbedding(token_ids.shape[1], name="position_embedding")(embedding(token_ids))
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


def check_options(num_blocks: int, num_heads: int, embedding_dim: int) -> None:
    """Refuses a number of blocks or heads that build_transformer cannot use."""
    if num_blocks < 1 or num_heads < 1 or embedding_dim % num_heads:
        raise ValueError(
            f"model.num_blocks={num_blocks} must be at least 1, and model.embedding_dim="
            f"{embedding_dim} must divide by model.num_heads={num_heads}."
        )


def encoder_block(
    x: keras.KerasTensor,
    padding: keras.KerasTensor,
    num_heads: int,
    feed_forward_dim: int,
    dropout_rate: float,
    name: str,
) -> keras.KerasTensor:
    """Self-attention (to the words that are not `padding`), then a two-layer feed-forward
    net; each adds to its input, then normalises (the original Transformer's post-norm).

    The mask is explicit: MultiHeadAttention clears the implicit one of its query, which the
    residual Add also reads, so that a second block would attend to the padding."""
    dim = x.shape[-1]
    attention = layers.MultiHeadAttention(
        num_heads, dim // num_heads, dropout=dropout_rate, name=f"{name}_attention"
    )(x, x, attention_mask=keras.ops.expand_dims(padding, 1))
    attention = layers.Dropout(dropout_rate, name=f"{name}_attention_dropout")(attention)
    x = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_attention_norm")(
        layers.Add(name=f"{name}_attention_add")([x, attention])
    )
    hidden = layers.Dense(feed_forward_dim, activation="relu", name=f"{name}_hidden")(x)
    hidden = layers.Dense(dim, name=f"{name}_output")(hidden)
    hidden = layers.Dropout(dropout_rate, name=f"{name}_output_dropout")(hidden)
    return layers.LayerNormalization(epsilon=1e-6, name=f"{name}_output_norm")(
        layers.Add(name=f"{name}_output_add")([x, hidden])
    )
