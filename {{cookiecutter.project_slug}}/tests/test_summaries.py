from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from helpers import smoke_config
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import metadata as hparams_metadata

from {{ cookiecutter.package_name }} import runs, summaries
from {{ cookiecutter.package_name }}.train import train


def read_events(event_dir: Path) -> EventAccumulator:
    accumulator = EventAccumulator(str(event_dir), size_guidance={"tensors": 0})
    accumulator.Reload()
    return accumulator


@pytest.mark.slow
def test_a_run_writes_every_summary(tmp_path):
    cfg = smoke_config(tmp_path, "train.histogram_every_steps=5")
    train(cfg)
    log_dir, metadata = Path(cfg.run_dir, "tensorboard"), runs.load_metadata(cfg.run_dir)
    events = read_events(log_dir / "train")
    tags = set(events.Tags()["tensors"])
    scalars = {"loss", "accuracy", "gradient_norm", "learning_rate", "examples_per_second"}
    assert scalars | {"config"} <= tags
    assert [event.step for event in events.Tensors("loss")] == [2, 4, 5, 6, 8, 10]
    weights = sorted(tag for tag in tags if tag.startswith("weights/"))
    assert weights and [event.step for event in events.Tensors(weights[0])] == [5, 10]
    graph = events.SummaryMetadata("train_step").plugin_data.plugin_name
    assert graph == "graph_run_metadata_graph"  # the traced training step, for the GRAPHS tab
{%- if cookiecutter.model_type == "cnn" %}
    assert events.Tensors("training_inputs")[0].tensor_proto.string_val[2]  # a PNG
{%- else %}
    words = (runs.assets_dir(cfg.run_dir) / "vocab.txt").read_text().splitlines()
    assert (log_dir / "train" / "metadata.tsv").read_text().splitlines() == words  # projector
    assert "metadata.tsv" in (log_dir / "train" / "projector_config.pbtxt").read_text()
    reader = tf.train.load_checkpoint(str(log_dir / "train" / "embedding.ckpt"))
    shape = reader.get_variable_to_shape_map()["embedding/.ATTRIBUTES/VARIABLE_VALUE"]
    assert shape[0] == len(words) == metadata.model_inputs["vocab_size"]
{%- endif %}

    events = read_events(log_dir / "validation")
    assert [event.step for event in events.Tensors("accuracy")] == [5, 10]  # full, per epoch
    # The last picture is the PNG of the matrix logged with it as a table, pixel for pixel.
    png = tf.make_ndarray(events.Tensors("confusion_matrix")[-1].tensor_proto)[2]
    table = tf.make_ndarray(events.Tensors("confusion_matrix_table")[-1].tensor_proto)
    rows = [line.strip("|").split("|") for line in table.item().decode().splitlines()[2:]]
    class_names = [row[0].strip() for row in rows]
    confusion = np.array([[int(count) for count in row[1:]] for row in rows])
    assert class_names == metadata.class_names
    assert confusion.sum() == metadata.counts["validation"]["total"]
    expected = summaries.figure_image(summaries.confusion_figure(confusion, class_names))
    np.testing.assert_array_equal(tf.io.decode_png(png).numpy(), expected[0])

    content = read_events(log_dir).SummaryMetadata("_hparams_/session_start_info").plugin_data
    names = set(hparams_metadata.parse_session_start_info_plugin_data(content.content).hparams)
    assert {"model.name", "data.name", "train.learning_rate", "model.dropout_rate"} <= names
    assert not {"run_dir", "data.records_dir", "data.cache", "train.log_every_steps"} & names


def test_confusion_picture_and_table_name_the_classes_and_count_every_cell():
    confusion, names = np.array([[3, 1], [0, 4]]), ["cat", "007"]
    (axes,) = summaries.confusion_figure(confusion, names).axes
    assert [label.get_text() for label in axes.get_xticklabels()] == names
    assert [label.get_text() for label in axes.get_yticklabels()] == names
    assert (axes.get_ylabel(), axes.get_xlabel()) == ("True label", "Predicted label")
    counts = {tuple(text.get_position()): text.get_text() for text in axes.texts}
    assert counts == {(0, 0): "3", (1, 0): "1", (0, 1): "0", (1, 1): "4"}  # (column, row)
    rows = summaries.confusion_table(confusion, names).splitlines()[2:]
    assert [row.replace(" ", "") for row in rows] == ["|cat|3|1|", "|007|0|4|"]
{%- if cookiecutter.model_type == "cnn" %}


def test_image_grid_shows_every_image_numbered_whatever_its_size_and_channels():
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 255
    ramp = np.arange(400.0).reshape(10, 40) / 1000  # 0 to 0.4, shown from 0 to 1
    images = [red, np.full((28, 28, 1), -0.5, np.float32), ramp]
    (axes,) = summaries.image_grid(images).axes
    assert [text.get_text() for text in axes.texts] == ["1", "2", "3"]
    mosaic = axes.images[0].get_array()  # each image in a cell of the largest size, 30 x 42
    assert mosaic.shape == (30, 3 * 42, 3)
    assert (mosaic[:8, :8] == [1, 0, 0]).all() and (mosaic[:28, 42:70] == 0).all()
    assert mosaic[:10, 84:124].min() == 0 and mosaic[:10, 84:124].max() == 1
    assert summaries.figure_image(summaries.image_grid(images)).shape[::3] == (1, 3)
{%- endif %}


def test_flat_hparams_leave_out_bookkeeping_and_nulls():
    data = {"name": "digits", "records_dir": "data/records", "image_size": [32, 32]}
    train_cfg = {"clip_norm": None, "learning_rate": 0.001, "log_every_steps": 10}
    config = {"seed": 1, "run_dir": "runs/x", "data": data, "train": train_cfg}
    assert summaries.flat_hparams(config) == {
        "seed": 1,
        "data.name": "digits",
        "data.image_size": "[32, 32]",  # a list, as a string
        "train.learning_rate": 0.001,
    }
