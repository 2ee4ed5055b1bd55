import os
{%- if cookiecutter.model_type == "rnn" %}
from pathlib import Path
{%- endif %}

import numpy as np
import pytest
import tensorflow as tf
from conftest import smoke_config
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from {{ cookiecutter.package_name }} import {% if cookiecutter.model_type == "rnn" %}runs, {% endif %}summaries
from {{ cookiecutter.package_name }}.train import train


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
    picture = tf.make_ndarray(events.Tensors("confusion_matrix")[-1].tensor_proto)
    assert picture[0] != b""  # width, height, then the encoded PNG


def test_hparams_summaries(trained_run):
    tags = set(read_events(trained_run).Tags()["tensors"])
    assert {"_hparams_/experiment", "_hparams_/session_start_info"} <= tags
{%- if cookiecutter.model_type == "rnn" %}


def test_embedding_projector_files(trained_run):
    train_dir = Path(trained_run, "train")
    run_dir = Path(trained_run).parent
    words = (runs.assets_dir(run_dir) / "vocab.txt").read_text().splitlines()
    assert (train_dir / "metadata.tsv").read_text().splitlines() == words
    assert "metadata.tsv" in (train_dir / "projector_config.pbtxt").read_text()
    reader = tf.train.load_checkpoint(str(train_dir / "embedding.ckpt"))
    shape = reader.get_variable_to_shape_map()["embedding/.ATTRIBUTES/VARIABLE_VALUE"]
    assert shape[0] == len(words) == runs.load_metadata(run_dir)["model_inputs"]["vocab_size"]
{%- endif %}


def test_confusion_picture_and_table():
    confusion = np.array([[3, 1], [0, 4]])
    picture = summaries.confusion_image(confusion, cell_pixels=4)
    assert picture.shape == (1, 8, 8, 3) and picture.dtype == np.uint8
    assert picture[0, 6, 6].tolist() == [8, 48, 107]  # all of class 1 predicted as 1
    assert picture[0, 1, 6].tolist() == [193, 203, 218]  # a quarter of class 0 as 1
    table = summaries.confusion_table(confusion, ["cat", "dog"])
    assert table.splitlines()[2:] == ["| cat | 3 | 1 |", "| dog | 0 | 4 |"]


def test_flat_hparams():
    config = {"seed": 1, "train": {"epochs": 2, "clip_norm": None, "devices": ["/cpu:0"]}}
    assert summaries.flat_hparams(config) == {
        "seed": 1,
        "train.epochs": 2,
        "train.devices": "['/cpu:0']",
    }
