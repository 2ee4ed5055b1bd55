"""preprocess_data.py and metadata.py: records, splits, reuse, and metadata.json."""

import dataclasses
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from {{ cookiecutter.package_name }} import jsonio
from {{ cookiecutter.package_name }}.data import preprocess_data
from {{ cookiecutter.package_name }}.data.metadata import Metadata


def test_preprocess_writes_a_file_per_split_and_metadata_that_reads_back(make_config):
    cfg = make_config()
    records_dir, metadata = preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
    assert Path(records_dir).parent == Path(cfg.data.records_dir)
    totals = [metadata.counts[split]["total"] for split in preprocess_data.SPLITS]
    assert sum(totals) == cfg.data.num_examples
    for split, total in zip(preprocess_data.SPLITS, totals, strict=True):
        written = tf.data.TFRecordDataset(os.path.join(records_dir, f"{split}.tfrecord"))
        assert sum(metadata.counts[split]["per_class"].values()) == total == len(list(written))
    assert sorted(metadata.counts["train"]["per_class"]) == sorted(metadata.class_names)
    with pytest.raises(ValueError, match="synthetic"):  # an unknown source: the known ones
        preprocess_data.preprocess(make_config("data.name=nowhere").data, cfg.seed)
    path = os.path.join(records_dir, "metadata.json")
    on_disk = json.loads(Path(path).read_text(encoding="utf-8"))
    assert Metadata.read(records_dir) == Metadata.read(path) == metadata
    content = dataclasses.asdict(metadata)
{%- if cookiecutter.model_type == "rnn" %}
    vocabulary_file = content.pop("vocabulary_file")  # its path, read beside metadata.json
    assert vocabulary_file == os.path.join(records_dir, on_disk.pop("vocabulary_file"))
{%- endif %}
    assert content == on_disk
    assert metadata.num_classes == len(metadata.class_names)
{%- if cookiecutter.model_type == "cnn" %}
    assert len(metadata.mean) == len(metadata.std) == metadata.input_shape[-1]
{%- else %}
    assert metadata.model_inputs["sequence_length"] == metadata.sequence_length
{%- endif %}
    jsonio.write_json(path, {"source": "old", "fingerprint": "0" * 64})  # another version's
    with pytest.raises(ValueError, match="another version of this project"):
        Metadata.read(records_dir)


SPLIT_ERRORS = [  # (labels, validation and test fractions, what the error says)
    (np.arange(100) % 2, 0.0, 0.1, "validation_fraction=0.0"),
    (np.arange(100) % 2, 0.1, -0.1, "test_fraction=-0.1"),
    (np.arange(100) % 2, 0.5, 0.5, "leave examples to train on"),  # nothing left
    (np.array([0, 0, 0, 0, 1]), 0.2, 0.2, "smallest classes"),  # too few of a class
]


def test_split_is_stratified_and_seeded_or_explained():
    labels = np.repeat(np.arange(4), 50)
    first = preprocess_data.assign_splits(labels, 0.1, 0.2, seed=1)
    np.testing.assert_array_equal(first, preprocess_data.assign_splits(labels, 0.1, 0.2, seed=1))
    assert not np.array_equal(first, preprocess_data.assign_splits(labels, 0.1, 0.2, seed=2))
    assert np.bincount(first).tolist() == [140, 20, 40]  # train, validation, test
    assert np.bincount(labels[first == 2]).tolist() == [10, 10, 10, 10]
    for *arguments, message in SPLIT_ERRORS:  # a split that cannot be made
        with pytest.raises(ValueError, match=message):
            preprocess_data.assign_splits(*arguments, seed=0)


@pytest.mark.slow
def test_records_are_reused_and_a_change_writes_elsewhere(make_config):
    cfg = make_config()
    records_dir, first = preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
    train_file = os.path.join(records_dir, "train.tfrecord")
    written_at = os.path.getmtime(train_file)
    assert preprocess_data.ensure_preprocessed(cfg.data, cfg.seed) == (records_dir, first)
    loader_only = make_config("data.cache=none", "data.shuffle_buffer=7")
    assert preprocess_data.ensure_preprocessed(loader_only.data, cfg.seed)[0] == records_dir
    assert os.path.getmtime(train_file) == written_at
    assert preprocess_data.records_path(cfg.data, cfg.seed + 1) != records_dir  # another split
    changed = make_config("data.validation_fraction=0.2")
    changed_dir, rebuilt = preprocess_data.ensure_preprocessed(changed.data, changed.seed)
    assert changed_dir != records_dir and rebuilt.fingerprint != first.fingerprint
    assert len([n for n in os.listdir(changed_dir) if n.endswith(".tfrecord")]) == 3
    assert os.path.getmtime(train_file) == written_at  # the first records are still there


def test_default_source_preprocesses(make_config):
    cfg = make_config("~experiment")
    metadata = preprocess_data.preprocess(cfg.data, cfg.seed)
{%- if cookiecutter.model_type == "cnn" %}
    assert sum(count["total"] for count in metadata.counts.values()) == 1797
    assert metadata.input_shape == [32, 32, 1]
    assert metadata.class_names == [str(digit) for digit in range(10)]
{%- else %}
    assert sum(count["total"] for count in metadata.counts.values()) == cfg.data.num_examples
    assert metadata.class_names == ["even", "odd"]
    records_dir = preprocess_data.records_path(cfg.data, cfg.seed)
    vocabulary = Path(records_dir, "vocab.txt").read_text().split()
    assert vocabulary[:2] == ["[PAD]", "[UNK]"]
    assert sorted(vocabulary[2:]) == sorted(
        ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    )
{%- endif %}


def test_the_records_key_follows_the_bytes_not_mtimes_or_places(make_config, tmp_path):
    (tmp_path / "base" / "a").mkdir(parents=True)  # what data.path names: any files
    (tmp_path / "base" / "a" / "1.txt").write_bytes(b"one example")

    def key(path) -> str:
        cfg = make_config(f"data.path={path}")
        return os.path.basename(preprocess_data.records_path(cfg.data, cfg.seed))

    first = key(tmp_path / "base")
    os.utime(tmp_path / "base" / "a" / "1.txt", (1e9, 1e9))
    assert key(tmp_path / "base") == first  # touched
    assert key(shutil.copytree(tmp_path / "base", tmp_path / "copy")) == first
    (tmp_path / "copy" / "a" / "1.txt").write_bytes(b"one examplE")
    assert key(tmp_path / "copy") != first  # one byte changed
