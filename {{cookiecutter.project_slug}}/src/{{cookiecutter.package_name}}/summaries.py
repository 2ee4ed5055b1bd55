"""What train.py writes for TensorBoard, beyond scalars. See it with:

    tensorboard --logdir runs/{{ "lenet5-digits" if cookiecutter.model_type == "cnn" else "lstm-digit_sentences" }}/tensorboard

run_dir/tensorboard/ holds the hparams of the run; train/ the training scalars, histograms,
{{ "the grid of training inputs" if cookiecutter.model_type == "cnn" else "the Embedding Projector files" }}, the config and the step graph; validation/ the validation scalars and
the confusion matrix (as a picture and as a table) of every full validation.
"""

from collections.abc import Mapping, Sequence{% if cookiecutter.model_type == "rnn" %}
from pathlib import Path{% endif %}

import keras
import numpy as np
import tensorflow as tf{% if cookiecutter.model_type == "rnn" %}
from tensorboard.plugins import projector{% endif %}
from tensorboard.plugins.hparams import api as hparams_api


def write_config(yaml_text: str, step: int) -> None:
    """The resolved config as text (an indented block keeps its layout in TensorBoard)."""
    block = "\n".join("    " + line for line in yaml_text.splitlines())
    tf.summary.text("config", block, step=step)


def flat_hparams(config: Mapping, prefix: str = "") -> dict[str, bool | int | float | str]:
    """Flattens a nested config into {"train.learning_rate": 0.001, ...} for the hparams plugin."""
    flat = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flat_hparams(value, prefix=f"{name}."))
        elif isinstance(value, bool | int | float | str):
            flat[name] = value
        elif value is not None:
            flat[name] = str(value)
    return flat


def write_hparams(hparams: Mapping[str, bool | int | float | str], run_name: str) -> None:
    """The run's hyperparameters, shown by the HPARAMS tab next to its validation metrics."""
    hparams_api.hparams_config(
        hparams=[hparams_api.HParam(name) for name in hparams],
        metrics=[
            hparams_api.Metric("accuracy", group="validation", display_name="val_accuracy"),
            hparams_api.Metric("loss", group="validation", display_name="val_loss"),
        ],
    )
    hparams_api.hparams(dict(hparams), trial_id=run_name)


def write_histograms(
    variables: Sequence[keras.Variable], gradients: Sequence[tf.Tensor] | None, step: int
) -> None:
    """Histograms of every weight and, when given, of its gradient."""
    for index, variable in enumerate(variables):
        tf.summary.histogram(f"weights/{variable.path}", variable, step=step)
        if gradients is not None:
            tf.summary.histogram(f"gradients/{variable.path}", gradients[index], step=step)


def confusion_image(confusion: np.ndarray, cell_pixels: int = 0) -> np.ndarray:
    """The confusion matrix as a picture: row i, column j is white (none) to dark blue (all
    of class i predicted as j), so a good model shows a dark diagonal.

    Returns:
        uint8 [1, height, width, 3].
    """
    num_classes = confusion.shape[0]
    cell_pixels = cell_pixels or max(4, 256 // num_classes)
    shares = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    white, blue = np.array([255.0, 255.0, 255.0]), np.array([8.0, 48.0, 107.0])
    colours = white + shares[..., None] * (blue - white)
    picture = np.repeat(np.repeat(colours, cell_pixels, axis=0), cell_pixels, axis=1)
    picture[::cell_pixels, :] = picture[:, ::cell_pixels] = 200  # grid lines
    return picture.astype(np.uint8)[None]


def confusion_table(confusion: np.ndarray, class_names: Sequence[str]) -> str:
    """The confusion matrix as a Markdown table (rows: true class, columns: predicted)."""
    header = "| true \\ predicted | " + " | ".join(class_names) + " |"
    rule = "|---" * (len(class_names) + 1) + "|"
    rows = [
        f"| {name} | " + " | ".join(str(int(count)) for count in row) + " |"
        for name, row in zip(class_names, confusion, strict=True)
    ]
    return "\n".join([header, rule, *rows])


def write_confusion(confusion: np.ndarray, class_names: Sequence[str], step: int) -> None:
    tf.summary.image("confusion_matrix", confusion_image(confusion), step=step)
    tf.summary.text("confusion_matrix_table", confusion_table(confusion, class_names), step=step)


def write_graph_trace(step: int) -> None:
    """Exports the graph traced since tf.summary.trace_on(), i.e. of the first training step."""
    tf.summary.trace_export(name="train_step", step=step)
{%- if cookiecutter.model_type == "cnn" %}


def image_grid(images: tf.Tensor, columns: int = 8) -> tf.Tensor:
    """Tiles a batch of normalised images into one picture, each stretched to [0, 1].

    Returns:
        float32 [1, rows * height, columns * width, channels].
    """
    images = tf.convert_to_tensor(images, tf.float32)
    low = tf.reduce_min(images, axis=[1, 2, 3], keepdims=True)
    high = tf.reduce_max(images, axis=[1, 2, 3], keepdims=True)
    images = (images - low) / tf.maximum(high - low, 1e-6)
    count, height, width, channels = images.shape
    rows = -(-count // columns)
    padding = tf.zeros([rows * columns - count, height, width, channels])
    images = tf.concat([images, padding], axis=0)
    images = tf.reshape(images, [rows, columns, height, width, channels])
    images = tf.transpose(images, [0, 2, 1, 3, 4])
    return tf.reshape(images, [1, rows * height, columns * width, channels])


def write_inputs(images: tf.Tensor, step: int) -> None:
    """A grid of training inputs, as the model sees them (resized, augmented)."""
    tf.summary.image("training_inputs", image_grid(images), step=step)
{%- else %}


def write_embedding_projector(
    log_dir: str | Path, embedding: keras.layers.Embedding, vocabulary_path: str | Path
) -> None:
    """Writes the learned embedding for TensorBoard's Embedding Projector (PROJECTOR tab).

    metadata.tsv names each row with its word (line i of the vocabulary is token id i).
    """
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    weights = np.asarray(keras.ops.convert_to_numpy(embedding.embeddings))
    with tf.io.gfile.GFile(str(vocabulary_path)) as vocabulary_file:
        words = vocabulary_file.read().splitlines()
    if len(words) != weights.shape[0]:
        raise ValueError(
            f"The embedding has {weights.shape[0]} rows but {vocabulary_path} has "
            f"{len(words)} words; the run's assets do not belong to its model."
        )
    (log_dir / "metadata.tsv").write_text(
        "".join(word.replace("\t", " ") + "\n" for word in words), encoding="utf-8"
    )
    checkpoint = tf.train.Checkpoint(embedding=tf.Variable(weights))
    checkpoint.write(str(log_dir / "embedding.ckpt"))
    config = projector.ProjectorConfig()
    entry = config.embeddings.add()
    entry.tensor_name = "embedding/.ATTRIBUTES/VARIABLE_VALUE"
    entry.metadata_path = "metadata.tsv"
    projector.visualize_embeddings(str(log_dir), config)
{%- endif %}
