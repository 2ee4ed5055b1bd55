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


def shift(inputs, seed):
    """An augmentation that changes every input, the same way whatever the seed."""
    return inputs + 1


def training_batches(spec, count, batch_size=1, **options):
    """The first `count` batches of the train stream, as lists."""
    dataset = data_loader.load_split(spec, "train", batch_size, training=True, **options)
    return [(x.tolist(), y.tolist()) for x, y in dataset.take(count).as_numpy_iterator()]


@pytest.mark.parametrize(
    "cache, decodes_per_example",
    [("memory", 1), pytest.param("file", 1, marks=pytest.mark.slow), ("none", 2)],
)
def test_evaluation_reads_each_example_once_decoded_as_stored(spec, cache, decodes_per_example):
    """Two passes over one split: the second reads the cache (no decoding) but for "none";
    the examples are those in the files, decoded by example_fn and never augmented."""
    records_dir, metadata, example_fn = spec.records_dir, spec.metadata, spec.example_fn
    decodes = []

    def counted_example_fn(raw):
        tick = tf.numpy_function(lambda: decodes.append(1) or np.int32(0), [], tf.int32)
        with tf.control_dependencies([tick]):
            return tf.identity(example_fn(raw))

    counted = dataclasses.replace(spec, example_fn=counted_example_fn, augment_fn=shift)
    counted = dataclasses.replace(counted, cache=cache)
    dataset = data_loader.load_split(counted, "validation", 8, training=False)
    count = metadata.counts["validation"]["total"]
    assert dataset.cardinality().numpy() == -(-count // 8)
    assert dataset.element_spec[1].dtype == tf.int32

    def one_pass():
        return [
            (inputs.tobytes(), int(label))
            for batch_inputs, batch_labels in dataset.as_numpy_iterator()
            for inputs, label in zip(batch_inputs, batch_labels, strict=True)
        ]

    first, second = one_pass(), one_pass()
    assert first == second  # inputs and labels, in the same order
    assert len(decodes) == decodes_per_example * count
    raw_inputs, labels = data_loader.read_raw_examples(records_dir, "validation", metadata, count)
    expected = [
        (example_fn(tf.constant(raw)).numpy().tobytes(), label)
        for raw, label in zip(raw_inputs, labels, strict=True)
    ]
    assert sorted(first) == sorted(expected)


@pytest.mark.slow
def test_training_stream_is_seeded_and_starts_anywhere_as_if_uninterrupted(spec):
    """What a resumed run reads: the same examples, augmented the same way, as without a stop."""
    count = spec.metadata.counts["train"]["total"]

    def noise(inputs, seed):
        return tf.cast(inputs, tf.float32) + tf.random.stateless_uniform([], seed)

    def stream(examples_fed=0, seed=3):
        augmented = dataclasses.replace(spec, seed=seed, shuffle_buffer=8, augment_fn=noise)
        return training_batches(augmented, count, examples_fed=examples_fed)

    whole = stream(0)[count // 2 :] + stream(count)[: count // 2]
    assert stream(count // 2) == whole  # resumed mid-pass, across the next pass' start
    assert stream(count) != stream(0)  # each pass has an order (and augmentation) of its own
    assert stream(seed=4) != stream(seed=3)
    plain = training_batches(dataclasses.replace(spec, seed=0), count // 16 + 2, 16)
    shifted = training_batches(dataclasses.replace(spec, seed=0, augment_fn=shift), 2, 16)
    np.testing.assert_allclose([x for x, _ in shifted], np.add([x for x, _ in plain[:2]], 1))
    assert all(len(labels) == 16 for _, labels in plain)  # full batches, past the first pass


@pytest.mark.slow
def test_input_pipelines_share_out_a_split(spec):
    def labels(policy, pipelines, index, count=6):
        context = tf.distribute.InputContext(pipelines, index, pipelines)
        policy_spec = dataclasses.replace(spec, seed=1, shard_policy=policy)
        batches = training_batches(policy_spec, count, 4, input_context=context)
        return [batch_labels for _, batch_labels in batches]

    # data: the pipelines take turns over the one stream, batch by batch.
    single = labels("data", 1, 0, count=12)
    assert labels("data", 2, 0) == single[0::2] and labels("data", 2, 1) == single[1::2]
    # file: each pipeline reads its own shard files; too few files is refused with the fix.
    with pytest.raises(ValueError, match="data.num_shards=3 or more, or set data.shard_policy"):
        labels("file", 3, 0)
    raw_spec = dataclasses.replace(spec, example_fn=lambda raw: raw, shard_policy="file")
    seen = []
    for pipeline in range(2):
        context = tf.distribute.InputContext(2, pipeline, 2)
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
