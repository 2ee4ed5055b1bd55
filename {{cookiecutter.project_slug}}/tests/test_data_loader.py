import dataclasses
import os

import numpy as np
import pytest
import tensorflow as tf

from {{ cookiecutter.package_name }}.data import (
    data_loader,
    input_ops,
    preprocess_data,
)


@pytest.fixture
def spec(make_config):
    """How the smoke config reads its records (2 shards per split), without augmentation."""
    cfg = make_config("data.num_shards=2")
    records_dir, metadata = preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
    example_fn = input_ops.make_example_fn(metadata, records_dir)
    return data_loader.InputSpec.from_config(cfg, records_dir, metadata, example_fn)


def model_input_shape(metadata):
    return {{ "metadata.input_shape" if cookiecutter.model_type == "cnn" else "[metadata.sequence_length]" }}


def test_evaluation_dataset_has_every_example_once(spec):
    metadata = spec.metadata
    dataset = data_loader.load_split(spec, "test", 8, training=False)
    count = metadata.counts["test"]["total"]
    assert dataset.cardinality().numpy() == -(-count // 8)
    inputs, labels = next(iter(dataset))
    assert inputs.shape[1:] == model_input_shape(metadata)
    assert labels.dtype == tf.int32
    assert sum(int(batch_labels.shape[0]) for _, batch_labels in dataset) == count


@pytest.mark.slow
def test_training_dataset_repeats_full_batches_in_seeded_order(spec):
    def first_labels(seed):
        seeded = dataclasses.replace(spec, seed=seed)
        dataset = data_loader.load_split(seeded, "train", 16, training=True)
        batches = list(dataset.take(40).as_numpy_iterator())
        assert all(labels.shape == (16,) for _, labels in batches)
        return [labels.tolist() for _, labels in batches]

    assert spec.metadata.counts["train"]["total"] < 40 * 16
    assert first_labels(1) == first_labels(1)
    assert first_labels(1) != first_labels(2)


def training_batches(spec, count, batch_size=1, **options):
    """The first `count` batches of the train stream, as lists."""
    dataset = data_loader.load_split(spec, "train", batch_size, training=True, **options)
    return [(x.tolist(), y.tolist()) for x, y in dataset.take(count).as_numpy_iterator()]


@pytest.mark.slow
def test_training_stream_starts_anywhere_as_if_uninterrupted(spec):
    """What a resumed run reads: the same examples, augmented the same way, as without a stop."""
    count = spec.metadata.counts["train"]["total"]

    def noise(inputs, seed):
        return tf.cast(inputs, tf.float32) + tf.random.stateless_uniform([], seed)

    augmented = dataclasses.replace(spec, seed=3, shuffle_buffer=8, augment_fn=noise)

    def stream(examples_fed):
        return training_batches(augmented, count, examples_fed=examples_fed)

    whole = stream(0)[count // 2 :] + stream(count)[: count // 2]
    assert stream(count // 2) == whole  # resumed mid-pass, across the next pass' start
    assert stream(count) != stream(0)  # each pass has an order (and augmentation) of its own


@pytest.mark.slow
def test_shard_policies(spec):
    def labels(policy, pipelines, index, count=6):
        context = tf.distribute.InputContext(pipelines, index, pipelines)
        policy_spec = dataclasses.replace(spec, seed=1, shard_policy=policy)
        batches = training_batches(policy_spec, count, 4, input_context=context)
        return [batch_labels for _, batch_labels in batches]

    # data: the pipelines take turns over the one stream, batch by batch.
    single = labels("data", 1, 0, count=12)
    assert labels("data", 2, 0) == single[0::2] and labels("data", 2, 1) == single[1::2]
    # file: each pipeline reads its own shard file; too few files is refused with the fix.
    assert labels("file", 2, 0) != labels("file", 2, 1)
    with pytest.raises(ValueError, match="data.num_shards=3 or more, or set data.shard_policy"):
        labels("file", 3, 0)
    assert data_loader.resolve_shard_policy("auto", "train", 2, 3) == "data"


def test_input_pipelines_read_disjoint_shards(spec):
    raw_spec = dataclasses.replace(spec, example_fn=lambda raw: raw)
    seen = []
    for pipeline in range(2):
        context = tf.distribute.InputContext(
            num_input_pipelines=2, input_pipeline_id=pipeline, num_replicas_in_sync=2
        )
        dataset = data_loader.load_split(
            raw_spec, "train", 4, training=False, input_context=context
        )
        seen.append({raw for batch, _ in dataset.as_numpy_iterator() for raw in batch})
    assert seen[0] and seen[1] and not seen[0] & seen[1]
    assert len(seen[0] | seen[1]) == spec.metadata.counts["train"]["total"]


def test_missing_shard_is_reported(spec):
    os.remove(os.path.join(spec.records_dir, sorted(spec.metadata.shards["test"])[0]))
    with pytest.raises(FileNotFoundError, match="run preprocess again"):
        data_loader.load_split(spec, "test", 8, training=False)


def test_read_raw_examples_returns_inputs_and_labels(spec):
    records_dir, metadata = spec.records_dir, spec.metadata
    raw_inputs, labels = data_loader.read_raw_examples(records_dir, "test", metadata, 5)
    assert len(raw_inputs) == 5 and all(isinstance(raw, bytes) for raw in raw_inputs)
    assert all(0 <= label < metadata.num_classes for label in labels)


@pytest.mark.slow
@pytest.mark.parametrize("cache, decodes_per_example", [("memory", 1), ("file", 1), ("none", 2)])
def test_every_cache_mode_gives_the_same_examples(spec, cache, decodes_per_example):
    """Two passes over one dataset: the second reads the cache (no decoding) but for "none"."""
    records_dir, metadata, example_fn = spec.records_dir, spec.metadata, spec.example_fn
    decodes = []

    def counted_example_fn(raw):
        tick = tf.numpy_function(lambda: decodes.append(1) or np.int32(0), [], tf.int32)
        with tf.control_dependencies([tick]):
            return tf.identity(example_fn(raw))

    counted = dataclasses.replace(spec, example_fn=counted_example_fn, cache=cache)
    dataset = data_loader.load_split(counted, "validation", 8, training=False)

    def one_pass():
        return [
            (inputs.tobytes(), int(label))
            for batch_inputs, batch_labels in dataset.as_numpy_iterator()
            for inputs, label in zip(batch_inputs, batch_labels, strict=True)
        ]

    first, second = one_pass(), one_pass()
    assert first == second  # inputs and labels, in the same order
    count = metadata.counts["validation"]["total"]
    assert len(decodes) == decodes_per_example * count

    # The same examples as decoded one by one, straight from the files.
    raw_inputs, labels = data_loader.read_raw_examples(records_dir, "validation", metadata, count)
    expected = [
        (example_fn(tf.constant(raw)).numpy().tobytes(), label)
        for raw, label in zip(raw_inputs, labels, strict=True)
    ]
    assert sorted(first) == sorted(expected)


@pytest.mark.slow
def test_augmentation_changes_training_examples_only(spec):
    def first_batch(training, augment_fn):
        augmented = dataclasses.replace(spec, seed=0, shuffle_buffer=1, augment_fn=augment_fn)
        dataset = data_loader.load_split(augmented, "train", 4, training=training)
        return next(iter(dataset))[0].numpy()

    def shift(inputs, seed):
        return inputs + 1

    assert (first_batch(True, shift) == first_batch(True, None) + 1).all()
    assert (first_batch(False, shift) == first_batch(False, None)).all()
