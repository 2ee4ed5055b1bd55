"""A small Transformer encoder for text classification (Vaswani et al., 2017, encoder only).

Word ids get a learned word vector plus a learned vector for their position; `num_blocks`
encoder blocks (self-attention and a feed-forward layer, each with a residual connection and
layer normalisation) follow, and the classifier sees the mean of the last block's outputs
over the words. Padding (id 0) is masked everywhere: no word attends to it and the mean
leaves it out. Built from keras.layers only, so it converts to TFLite with builtin ops.
Print its summary:

    python -c "from {{ cookiecutter.package_name }}.models.transformernet import build_transformer; build_transformer(sequence_length=32, vocab_size=1000, num_classes=2, embedding_dim=64, num_heads=2, feed_forward_dim=128, num_blocks=2, dropout_rate=0.1, embeddings=None, freeze_embeddings=False, vocabulary_file=None).summary()"
"""

import keras
from keras import layers

from .embeddings import set_word_vectors

INITIAL_WEIGHTS = ("embeddings",)  # model.embeddings: a restored checkpoint replaces them


@keras.saving.register_keras_serializable(package=__package__)
class PositionEmbedding(layers.Layer):
    """Adds a learned vector per position to a [batch, sequence_length, dim] input.

    The mask of the input (the padding of the word embedding) passes through unchanged.
    """

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
    sequence_length: int,
    vocab_size: int,
    num_classes: int,
    embedding_dim: int,
    num_heads: int,
    feed_forward_dim: int,
    num_blocks: int,
    dropout_rate: float,
    embeddings: str | None,
    freeze_embeddings: bool,
    vocabulary_file: str | None,
) -> keras.Model:
    """Builds word + position embeddings, `num_blocks` encoder blocks and a dense classifier:
    a functional keras.Model from int32 word ids to float32 logits.

    Args:
        sequence_length: word ids per example; id 0 is padding and is masked.
        vocab_size: number of ids, padding and out-of-vocabulary included.
        num_classes: number of output classes.
        vocabulary_file: the data's vocabulary (word i is id i), to match the vectors' words.
        The others: the options of configs/model/transformer.yaml, which says what each does.
    """
    check_options(num_blocks, num_heads, embedding_dim)

    # === Inputs ===
    inputs = keras.Input(shape=(sequence_length,), dtype="int32", name="token_ids")
    # For every block and the pooling: Keras' implicit mask ends in the first block's Add.
    padding = keras.ops.not_equal(inputs, 0)

    # === Embeddings ===
    x = layers.Embedding(vocab_size, embedding_dim, mask_zero=True, name="embedding")(inputs)
    x = PositionEmbedding(sequence_length, name="position_embedding")(x)
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
    set_word_vectors(model, embeddings, vocabulary_file, freeze_embeddings)
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
