import os
{%- if cookiecutter.model_type == "rnn" %}
from pathlib import Path
{%- endif %}

import numpy as np
import pytest
import tensorflow as tf
from conftest import smoke_config
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import metadata as hparams_metadata

from {{ cookiecutter.package_name }} import runs, summaries
from {{ cookiecutter.package_name }}.train import train

pytestmark = pytest.mark.slow  # every test here trains


def read_events(event_dir):
    accumulator = EventAccumulator(event_dir, size_guidance={"tensors": 0})
    accumulator.Reload()
    return accumulator


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One smoke run with every summary switched on (module-scoped: it is read many times)."""
    cfg = smoke_config(
        tmp_path_factory.mktemp("summaries"),
        "train.histogram_every_steps=5",
        "train.validate_every_steps=3",
    )
    train(cfg)
    return os.path.join(cfg.run_dir, "tensorboard")


def test_training_summaries(trained_run):
    events = read_events(os.path.join(trained_run, "train"))
    tags = set(events.Tags()["tensors"])
    scalars = {"loss", "accuracy", "gradient_norm", "learning_rate", "examples_per_second"}
    assert scalars <= tags
    assert [event.step for event in events.Tensors("loss")] == [2, 4, 5, 6, 8, 10]
    assert "config" in tags  # the resolved config as text
    weights = {tag for tag in tags if tag.startswith("weights/")}
    gradients = {tag for tag in tags if tag.startswith("gradients/")}
    assert weights and {tag.replace("weights/", "gradients/") for tag in weights} == gradients
    assert [event.step for event in events.Tensors(sorted(gradients)[0])] == [5, 10]
    graph = events.SummaryMetadata("train_step").plugin_data.plugin_name
    assert graph == "graph_run_metadata_graph"  # the traced training step, for the GRAPHS tab
{%- if cookiecutter.model_type == "cnn" %}
    assert "training_inputs" in tags
{%- endif %}


def test_validation_summaries(trained_run):
    events = read_events(os.path.join(trained_run, "validation"))
    tags = set(events.Tags()["tensors"])
    assert {"loss", "accuracy", "confusion_matrix", "confusion_matrix_table"} <= tags
    assert [event.step for event in events.Tensors("accuracy")] == [5, 10]  # full, per epoch
    assert [event.step for event in events.Tensors("subset_accuracy")] == [3, 6, 9]

    # The last picture is the PNG of the matrix logged with it as a table, pixel for pixel.
    png = tf.make_ndarray(events.Tensors("confusion_matrix")[-1].tensor_proto)[2]
    table = tf.make_ndarray(events.Tensors("confusion_matrix_table")[-1].tensor_proto)
    rows = [line.strip("| ").split(" | ") for line in table.item().decode().splitlines()[2:]]
    class_names = [row[0] for row in rows]
    confusion = np.array([[int(count) for count in row[1:]] for row in rows])
    metadata = runs.load_metadata(os.path.dirname(trained_run))
    assert class_names == metadata.class_names
    assert confusion.sum() == metadata.counts["validation"]["total"]
    expected = summaries.confusion_image(confusion, class_names)[0]
    np.testing.assert_array_equal(tf.io.decode_png(png).numpy(), expected)


def test_hparams_summaries(trained_run):
    events = read_events(trained_run)
    tags = set(events.Tags()["tensors"])
    assert {"_hparams_/experiment", "_hparams_/session_start_info"} <= tags
    content = events.SummaryMetadata("_hparams_/experiment").plugin_data.content
    infos = hparams_metadata.parse_experiment_plugin_data(content).hparam_infos
    names = [info.name for info in infos]
    assert "train.learning_rate" in names and "model.dropout_rate" in names
    assert not {"run_dir", "data.records_dir", "data.cache", "train.log_every_steps"} & set(names)
    # TensorBoard lists hparams by `differs`, then by name, and ticks the first five.
    listed = sorted(infos, key=lambda info: (not info.differs, info.name))
    assert all(summaries.is_leading_hparam(info.name) for info in listed[:5])
    assert [info.name for info in infos if info.differs][:2] == ["model.name", "data.name"]
{%- if cookiecutter.model_type == "rnn" %}


def test_embedding_projector_files(trained_run):
    train_dir = Path(trained_run, "train")
    run_dir = Path(trained_run).parent
    words = (runs.assets_dir(run_dir) / "vocab.txt").read_text().splitlines()
    assert (train_dir / "metadata.tsv").read_text().splitlines() == words
    assert "metadata.tsv" in (train_dir / "projector_config.pbtxt").read_text()
    reader = tf.train.load_checkpoint(str(train_dir / "embedding.ckpt"))
    shape = reader.get_variable_to_shape_map()["embedding/.ATTRIBUTES/VARIABLE_VALUE"]
    assert shape[0] == len(words) == runs.load_metadata(run_dir).model_inputs["vocab_size"]
{%- endif %}


def test_confusion_picture_names_the_classes_and_counts_every_cell():
    figure = summaries.confusion_figure(np.array([[3, 1], [0, 4]]), ["cat", "dachshund"])
    (axes,) = figure.axes
    assert [label.get_text() for label in axes.get_xticklabels()] == ["cat", "dachshund"]
    assert [label.get_text() for label in axes.get_yticklabels()] == ["cat", "dachshund"]
    assert (axes.get_ylabel(), axes.get_xlabel()) == ("True label", "Predicted label")
    counts = {tuple(text.get_position()): text.get_text() for text in axes.texts}
    assert counts == {(0, 0): "3", (1, 0): "1", (0, 1): "0", (1, 1): "4"}  # (column, row)
    picture = summaries.confusion_image(np.array([[3, 1], [0, 4]]), ["cat", "dachshund"])
    assert picture.dtype == tf.uint8 and picture.shape[0] == 1 and picture.shape[3] == 3


def test_confusion_table():
    table = summaries.confusion_table(np.array([[3, 1], [0, 4]]), ["cat", "dog"])
    assert table.splitlines()[2:] == ["| cat | 3 | 1 |", "| dog | 0 | 4 |"]


def test_flat_hparams_order_and_exclusions():
    config = {
        "seed": 1,
        "run_dir": "runs/x",
        "runs_root": "runs",
        "data": {
            "name": "digits",
            "path": "imgs/",
            "records_dir": "data/records",
            "image_size": [32, 32],
            "cache": "memory",
            "num_shards": 2,
        },
        "model": {"activation": "relu", "name": "lenet5", "dropout_rate": 0.3},
        "train": {
            "epochs": 2,
            "clip_norm": None,
            "learning_rate": 0.001,
            "log_every_steps": 10,
            "checkpoint_every_steps": 0,
            "batch_size": 64,
            "resume": "latest",
        },
        "distribute": {"name": "auto", "devices": ["/cpu:0"]},
        "export": {"version": 3},
    }
    assert list(summaries.flat_hparams(config).items()) == [
        ("model.name", "lenet5"),
        ("data.name", "digits"),
        ("train.learning_rate", 0.001),
        ("train.batch_size", 64),
        ("train.epochs", 2),
        ("model.dropout_rate", 0.3),
        ("model.activation", "relu"),
        ("seed", 1),
        ("data.image_size", "[32, 32]"),
    ]
