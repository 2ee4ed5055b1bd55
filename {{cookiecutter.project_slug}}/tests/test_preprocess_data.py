import json
import os
from pathlib import Path

import numpy as np
import pytest

from {{ cookiecutter.package_name }} import jsonio
from {{ cookiecutter.package_name }}.data import preprocess_data


def test_preprocess_writes_shards_and_metadata(make_config):
    cfg = make_config("data.num_shards=3")
    metadata = preprocess_data.preprocess(cfg.data, cfg.seed)
    records_dir = preprocess_data.records_path(cfg.data, cfg.seed)
    assert Path(records_dir).parent == Path(cfg.data.records_dir)

    on_disk = json.loads(Path(records_dir, "metadata.json").read_text())
    assert on_disk == metadata.to_dict()
    assert sum(metadata.counts[split]["total"] for split in preprocess_data.SPLITS) == (
        cfg.data.num_examples
    )
    for split in preprocess_data.SPLITS:
        shards = metadata.shards[split]
        assert len(shards) == 3
        assert sum(shards.values()) == metadata.counts[split]["total"]
        assert max(shards.values()) - min(shards.values()) <= 1
        assert sum(metadata.counts[split]["per_class"].values()) == sum(shards.values())
    assert sorted(metadata.counts["train"]["per_class"]) == sorted(metadata.class_names)
    assert not [name for name in os.listdir(records_dir) if name.endswith(".tmp")]


def test_split_is_stratified_and_seeded():
    labels = np.repeat(np.arange(4), 50)
    first = preprocess_data.assign_splits(labels, 0.1, 0.2, seed=1)
    np.testing.assert_array_equal(first, preprocess_data.assign_splits(labels, 0.1, 0.2, seed=1))
    assert not np.array_equal(first, preprocess_data.assign_splits(labels, 0.1, 0.2, seed=2))
    assert np.bincount(first).tolist() == [140, 20, 40]  # train, validation, test
    assert np.bincount(labels[first == 2]).tolist() == [10, 10, 10, 10]


@pytest.mark.parametrize(
    "labels, fractions, message",
    [
        (np.arange(100) % 2, (0.0, 0.1), "validation_fraction=0.0"),
        (np.arange(100) % 2, (0.5, 0.5), "leave examples"),
        (np.array([0, 0, 0, 0, 1]), (0.2, 0.2), "smallest classes"),
    ],
    ids=["zero-validation", "nothing-left", "too-few-per-class"],
)
def test_a_split_that_cannot_be_made_is_explained(labels, fractions, message):
    with pytest.raises(ValueError, match=message):
        preprocess_data.assign_splits(labels, *fractions, seed=0)


@pytest.mark.slow
def test_ensure_preprocessed_reuses_and_a_change_writes_elsewhere(make_config):
    cfg = make_config()
    records_dir, first = preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
    shard = os.path.join(records_dir, sorted(first.shards["train"])[0])
    written_at = os.path.getmtime(shard)

    assert preprocess_data.ensure_preprocessed(cfg.data, cfg.seed) == (records_dir, first)
    assert os.path.getmtime(shard) == written_at

    loader_only = make_config("data.cache=none", "data.shuffle_buffer=7")
    assert preprocess_data.ensure_preprocessed(loader_only.data, cfg.seed)[0] == records_dir
    assert preprocess_data.records_path(cfg.data, cfg.seed + 1) != records_dir  # another split
    changed = make_config("data.num_shards=1")
    changed_dir, rebuilt = preprocess_data.ensure_preprocessed(changed.data, changed.seed)
    assert changed_dir != records_dir and rebuilt.fingerprint != first.fingerprint
    assert os.path.getmtime(shard) == written_at  # the first records are still there
    assert len([n for n in os.listdir(changed_dir) if n.endswith(".tfrecord")]) == 3


def test_records_of_another_config_are_refused(make_config):
    cfg = make_config()
    records_dir, metadata = preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
    jsonio.write_json(
        os.path.join(records_dir, "metadata.json"),
        {**metadata.to_dict(), "fingerprint": "0" * 64},
    )
    with pytest.raises(ValueError, match="holds TFRecords of another data config"):
        preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)


@pytest.mark.slow
def test_an_interrupted_preprocess_is_redone(make_config):
    cfg = make_config()
    records_dir, _ = preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
    os.remove(os.path.join(records_dir, "metadata.json"))
    Path(records_dir, "train-00000-of-00002.tfrecord.tmp").write_bytes(b"half")
    _, metadata = preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
    assert metadata.counts["train"]["total"] > 0
    assert not [name for name in os.listdir(records_dir) if name.endswith(".tmp")]


def test_unknown_source_lists_the_known_ones(make_config):
    cfg = make_config("data.name=nowhere")
    with pytest.raises(ValueError, match="synthetic"):
        preprocess_data.preprocess(cfg.data, cfg.seed)


def test_default_source_preprocesses(make_config):
    cfg = make_config("~experiment", "data.num_shards=1")
    metadata = preprocess_data.preprocess(cfg.data, cfg.seed)
{%- if cookiecutter.model_type == "cnn" %}
    assert sum(count["total"] for count in metadata.counts.values()) == 1797
    assert metadata.raw_shape == [8, 8, 1]
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
