import dataclasses

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
    """How the smoke config reads its records{{ ", without augmentation" if cookiecutter.model_type == "cnn" else "" }}."""
    cfg = make_config()
    return data_loader.input_spec(cfg, *preprocess_data.ensure_preprocessed(cfg.data, cfg.seed))


def training_batches(spec, count, batch_size=1, **options):
    """The first `count` batches of the train stream, as lists."""
    dataset = data_loader.load_split(spec, "train", batch_size, training=True, **options)
    return [(x.tolist(), y.tolist()) for x, y in dataset.take(count).as_numpy_iterator()]
{%- if cookiecutter.model_type == "cnn" %}


def shift(inputs, seed):
    """Changes every image the same way, whatever the seed."""
    return inputs + 1


NOISE = input_ops.make_augment_fn({"augment": {"brightness": 0.5}})  # by the seed
{%- endif %}


@pytest.mark.parametrize("cache, decodes_per_example", [("memory", 1), ("none", 2)])
def test_evaluation_reads_its_file_once_decoded_as_stored(spec, cache, decodes_per_example):
    """Two passes over one split: the second reads the cache (no decoding) but for "none";
    the examples are those in the file, decoded by example_fn{{ " and never augmented" if cookiecutter.model_type == "cnn" else "" }}."""
    decodes, example_fn = [], input_ops.make_example_fn(spec.metadata)

    def counted_fn(raw):  # not traced alone: its numbers are those of an eager call
        tick = tf.numpy_function(lambda: decodes.append(1) or np.int32(0), [], tf.int32)
        with tf.control_dependencies([tick]):
            return tf.identity(example_fn(raw))

    counting = dataclasses.replace(spec, example_fn=counted_fn, cache=cache{{ ", augment_fn=shift" if cookiecutter.model_type == "cnn" else "" }})
    dataset = data_loader.load_split(counting, "validation", 8, training=False)
    count = spec.metadata.counts["validation"]["total"]
    assert dataset.cardinality().numpy() == -(-count // 8)
    assert dataset.element_spec[1].dtype == tf.int32

    def one_pass():
        examples = dataset.unbatch().as_numpy_iterator()
        return [(np.asarray(inputs).tobytes(), int(label)) for inputs, label in examples]

    first, second = one_pass(), one_pass()
    assert first == second  # inputs and labels, in the same order
    assert len(decodes) == decodes_per_example * count
    split = data_loader.read_raw_examples(spec.records_dir, "validation", spec.metadata, count)
    decoded = [np.asarray(example_fn(tf.constant(raw)).numpy()).tobytes() for raw in split[0]]
    assert sorted(first) == sorted(zip(decoded, split[1], strict=True))  # decoded as stored


@pytest.mark.slow
def test_the_training_stream_is_seeded_starts_anywhere_and_is_shared_by_the_pipelines(spec):
    """What a resumed run reads: the same examples{{ ", augmented the same way," if cookiecutter.model_type == "cnn" else "" }} as without a stop."""
    count = spec.metadata.counts["train"]["total"]

    def stream(examples_fed=0, seed=3):
        changed = dataclasses.replace(spec, seed=seed, shuffle_buffer=8{{ ", augment_fn=NOISE" if cookiecutter.model_type == "cnn" else "" }})
        return training_batches(changed, count, examples_fed=examples_fed)

    whole = stream(0)[count // 2 :] + stream(count)[: count // 2]
    assert stream(count // 2) == whole  # resumed mid-pass, across the next pass' start
    assert stream(count) != stream(0)  # each pass has an order{{ " (and augmentation)" if cookiecutter.model_type == "cnn" else "" }} of its own
    assert stream(seed=4) != stream(seed=3)
    plain = training_batches(dataclasses.replace(spec, seed=0), count // 16 + 2, 16)
    assert all(len(labels) == 16 for _, labels in plain)  # full batches, past the first pass
{%- if cookiecutter.model_type == "cnn" %}
    shifted = training_batches(dataclasses.replace(spec, seed=0, augment_fn=shift), 2, 16)
    expected = [shift(tf.constant(x), 0).numpy().tolist() for x, _ in plain[:2]]
    assert [x for x, _ in shifted] == expected
{%- else %}
    lengths = [len(text) for texts, _ in plain for text in texts][:count]  # the first pass
    assert lengths == sorted(lengths)  # by length, in windows of 1,024 texts (this split: one)
{%- endif %}

    # Each input pipeline reads the whole split and keeps every n-th batch of the one stream.
    raw = dataclasses.replace(spec, example_fn=lambda raw: raw, seed=1)  # the stored examples

    def batches(pipelines, index, number, training=True):
        context = tf.distribute.InputContext(pipelines, index, pipelines)
        dataset = data_loader.load_split(raw, "train", 4, training=training, input_context=context)
        return [batch.tolist() for batch, _ in dataset.take(number).as_numpy_iterator()]

    seen = [{raw for batch in batches(2, index, -1, False) for raw in batch} for index in (0, 1)]
    assert seen[0] and seen[1] and not seen[0] & seen[1]
    assert len(seen[0] | seen[1]) == count
    single = batches(1, 0, 12)
    assert [batches(3, index, 4) for index in range(3)] == [single[i::3] for i in range(3)]
