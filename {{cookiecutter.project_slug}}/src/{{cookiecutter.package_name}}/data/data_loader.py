"""TFRecord files -> batched, shuffled, prefetched tf.data.Datasets (one example: input_ops)."""

from collections.abc import Callable
from dataclasses import dataclass

import tensorflow as tf
from omegaconf import DictConfig

from . import input_ops
from .metadata import Metadata

# Deleting an iterator waits for tf.data's autotuning thread, which sleeps up to a minute;
# without it AUTOTUNE is a map call per core, as fast here (docs/performance.md).
WITHOUT_AUTOTUNING = tf.data.Options()
WITHOUT_AUTOTUNING.autotune.enabled = False
# The mapped functions use tf.cond/tf.switch_case only: AutoGraph would just re-parse their
# source (and that of every op they call), about a second per split at start-up.
NOT_CONVERTED = tf.autograph.experimental.do_not_convert


@dataclass(frozen=True)
class InputSpec:
    """How one records folder is read: `example_fn` maps raw input bytes to a model input{{ ",
    `augment_fn(inputs, seed)` changes each training batch (or is None)" if cookiecutter.model_type == "cnn" else "" }}."""

    records_dir: str
    metadata: Metadata
    example_fn: Callable[[tf.Tensor], tf.Tensor]
{%- if cookiecutter.model_type == "cnn" %}
    augment_fn: Callable[[tf.Tensor, tf.Tensor], tf.Tensor] | None
{%- endif %}
    seed: int
    cache: str
    shuffle_buffer: int
    deterministic: bool


def input_spec(cfg: DictConfig, records_dir: str, metadata: Metadata) -> InputSpec:
    """The spec of `cfg`, its example_fn traced once for all splits (once each: a second or two)."""
    signature = [tf.TensorSpec([], tf.string)]  # autograph=False: see NOT_CONVERTED
    example_fn = tf.function(input_ops.make_example_fn(metadata), signature, autograph=False)
    options = (cfg.seed, cfg.data.cache, cfg.data.shuffle_buffer, cfg.train.deterministic)
{%- if cookiecutter.model_type == "cnn" %}
    augment_fn = input_ops.make_augment_fn(cfg.data)
    return InputSpec(records_dir, metadata, example_fn, augment_fn, *options)
{%- else %}
    return InputSpec(records_dir, metadata, example_fn, *options)  # text is not augmented
{%- endif %}


def read_records(records_dir: str, split: str, metadata: Metadata) -> tf.data.Dataset:
    """The serialised examples of one split (every stride-th: Metadata.limited), checked to hold
    as many as metadata says."""
    path, count = input_ops.records_file(records_dir, split), metadata.counts[split]
    records = tf.data.TFRecordDataset(path).shard(count.get("stride", 1), 0).take(count["total"])
    return records.apply(tf.data.experimental.assert_cardinality(count["total"]))


def load_split(
    spec: InputSpec,
    split: str,
    batch_size: int,
    *,
    training: bool,
    input_context: tf.distribute.InputContext | None = None,
    examples_fed: int = 0,
    pad_to_full_batches: bool = False,
) -> tf.data.Dataset:
    """One split as (model inputs, int32 labels) batches of `batch_size` (per replica with an
    `input_context`: each input pipeline keeps its turn of the batches). Training: endless passes
    from `examples_fed` on. Else, `pad_to_full_batches`: weight-0 padding (pad_with_weights)."""
    context = input_context or tf.distribute.InputContext()
    count = spec.metadata.counts[split]["total"]
    # The order of the parallel maps: pipelines that take turns need one order.
    deterministic = spec.deterministic or not training or context.num_input_pipelines > 1

    @NOT_CONVERTED
    def decode(serialized: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:  # (model input, label)
        raw_input, label = input_ops.parse_example(serialized)
        return spec.example_fn(raw_input), label

    records = read_records(spec.records_dir, split, spec.metadata)
    dataset = records.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    if pad_to_full_batches and not training:  # before the cache: a later pass reads memory only
        step_size = batch_size * context.num_replicas_in_sync
        dataset = pad_with_weights(dataset, -(-count // step_size) * step_size - count)
    if spec.cache == "memory":
        dataset = dataset.cache()
    if training:
        dataset = training_stream(dataset, count, spec.seed, spec.shuffle_buffer, examples_fed)
{%- if cookiecutter.model_type == "cnn" %}
    augmented = training and spec.augment_fn is not None
    if augmented:  # (position in the stream, example): the seed of its augmentation
        dataset = dataset.enumerate(examples_fed)
{%- endif %}
    dataset = dataset.batch(batch_size, drop_remainder=training or pad_to_full_batches)
    dataset = dataset.shard(context.num_input_pipelines, context.input_pipeline_id)
{%- if cookiecutter.model_type == "cnn" %}
    if augmented:  # only this pipeline's batches
        # One at a time under op determinism (which runs it so anyway, with a NodeDef error).
        calls = None if spec.deterministic else tf.data.AUTOTUNE
        dataset = augment_batches(dataset, spec.augment_fn, spec.seed, calls, deterministic)
{%- endif %}
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(WITHOUT_AUTOTUNING)


def pad_with_weights(examples: tf.data.Dataset, padding: int) -> tf.data.Dataset:
    """(input, label, 1.0) for each example, then `padding` times (first input, label, 0.0): no
    replica gets a partial batch, which oneDNN's Conv2D and Keras' LSTM mishandle (TF 2.21)."""
    weighted = examples.map(NOT_CONVERTED(lambda inputs, label: (inputs, label, 1.0)))
    unweighted = NOT_CONVERTED(lambda inputs, label, _: (inputs, label, 0.0))
    padded = weighted.take(1).repeat(padding).map(unweighted)  # the first, decoded again
    return weighted.concatenate(padded)


def training_stream(
    examples: tf.data.Dataset, count: int, seed: int, shuffle_buffer: int, start_example: int = 0
) -> tf.data.Dataset:
    """Endless passes, pass p shuffled by (seed, p); from `start_example` as if never stopped."""
    start_pass, skip = divmod(start_example, count)
    skip, shuffle_buffer = tf.constant(skip, tf.int64), min(shuffle_buffer, count)

    def one_pass(pass_index: tf.Tensor) -> tf.data.Dataset:
        # This graph's own seed, so that the order is (seed, p)'s whatever the global seed: a
        # global seed of 0 (seed=0) would make TensorFlow compare the tensor op seed with 0.
        tf.random.set_seed(1)
        pass_seed = seed * 1_000_003 + pass_index
        shuffled = examples.shuffle(shuffle_buffer, seed=pass_seed, reshuffle_each_iteration=False)
{%- if cookiecutter.model_type == "rnn" %}
        # Sorted by length in windows of 1,024 texts: lstmnet's TrimPadding then pads batches less
        shuffled = shuffled.batch(1024).map(NOT_CONVERTED(by_length)).unbatch()
{%- endif %}
        return shuffled.skip(tf.where(pass_index == start_pass, skip, 0))

    return tf.data.Dataset.counter(start_pass).flat_map(one_pass)
{%- if cookiecutter.model_type == "cnn" %}


def augment_batches(
    batches: tf.data.Dataset, augment_fn: Callable, seed: int, calls: int | None, ordered: bool
) -> tf.data.Dataset:
    """Augments (positions, (inputs, labels)) batches, each seeded by its first stream position."""

    @NOT_CONVERTED
    def augment(positions: tf.Tensor, example: tuple) -> tuple:
        inputs, labels = example
        return augment_fn(inputs, tf.stack([tf.constant(seed, tf.int64), positions[0]])), labels

    return batches.map(augment, num_parallel_calls=calls, deterministic=ordered if calls else None)
{%- else %}


def by_length(texts: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Texts and their labels in the order of their lengths, shortest first."""
    order = tf.argsort(tf.strings.length(texts), stable=True)
    return tf.gather(texts, order), tf.gather(labels, order)
{%- endif %}


def read_raw_examples(
    records_dir: str, split: str, metadata: Metadata, limit: int
) -> tuple[list[bytes], list[int]]:
    """Up to `limit` raw inputs and labels of a split, in file order."""
    records = read_records(records_dir, split, metadata)
    pairs = list(records.map(input_ops.parse_example).take(limit).as_numpy_iterator())
    return [raw_input for raw_input, _ in pairs], [int(label) for _, label in pairs]
