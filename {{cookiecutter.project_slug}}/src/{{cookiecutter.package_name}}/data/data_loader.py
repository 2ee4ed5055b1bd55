"""TFRecord shards -> a batched, shuffled, prefetched tf.data.Dataset, for train, eval and
export. Dataset plumbing only: what happens to one example is input_ops' job.
"""

import os
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
    """How every split of one records folder is read: `example_fn` maps raw input bytes to a
    model input, `augment_fn(inputs, seed)` changes each training batch (or is None)."""

    records_dir: str
    metadata: Metadata
    example_fn: Callable[[tf.Tensor], tf.Tensor]
    augment_fn: Callable[[tf.Tensor, tf.Tensor], tf.Tensor] | None
    seed: int
    cache: str
    shuffle_buffer: int
    deterministic: bool


def input_spec(cfg: DictConfig, records_dir: str, metadata: Metadata) -> InputSpec:
    """The spec of `cfg` (seed, data.cache, data.shuffle_buffer, train.deterministic{{ ", data.augment" if cookiecutter.model_type == "cnn" else "" }}), with
    the model's example_fn traced once for every split (not once per split: a second or two)."""
    example_fn = tf.function(
        input_ops.make_example_fn(metadata, records_dir),
        input_signature=[tf.TensorSpec([], tf.string)],
        autograph=False,  # see NOT_CONVERTED
    )
{%- if cookiecutter.model_type == "cnn" %}
    augment_fn = input_ops.make_augment_fn(cfg.data)
{%- else %}
    augment_fn = None  # text is not augmented
{%- endif %}
    options = (cfg.seed, cfg.data.cache, cfg.data.shuffle_buffer, cfg.train.deterministic)
    return InputSpec(records_dir, metadata, example_fn, augment_fn, *options)


def list_shards(records_dir: str, split: str, metadata: Metadata) -> list[str]:
    """The shard paths of one split, sorted, each checked to exist."""
    paths = [os.path.join(records_dir, name) for name in sorted(metadata.shards[split])]
    missing = [path for path in paths if not tf.io.gfile.exists(path)]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} TFRecord shard(s) of the {split} split are missing, e.g. "
            f"{missing[0]}. Delete {records_dir} and run preprocess again."
        )
    return paths


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
    `input_context`). Training: an endless stream of shuffled passes without partial batches,
    starting after the `examples_fed` of all pipelines (a resume). Else of known size; with
    `pad_to_full_batches`, (inputs, labels, weights): weight 0 for copies of the first example
    that give every replica the same number of full batches."""
    context = input_context or tf.distribute.InputContext()
    pipelines, pipeline_id = context.num_input_pipelines, context.input_pipeline_id
    paths, counts = shards_to_read(spec, split, context)
    readers = len(counts)  # the pipelines that read different examples: all, or one
    count = counts[pipeline_id % readers]
    deterministic = spec.deterministic or not training  # the order of parallel reads and maps
    dataset = decode_shards(paths, count, spec.example_fn, deterministic)
    if pad_to_full_batches and not training:  # before the cache: a later pass reads memory only
        step_size = batch_size * (context.num_replicas_in_sync // readers)
        steps = max(-(-reader_count // step_size) for reader_count in counts)
        dataset = pad_with_weights(dataset, steps * step_size - count)
    if spec.cache == "memory":
        dataset = dataset.cache()
    augmented = training and spec.augment_fn is not None
    if training:
        start = examples_fed // readers
        shuffle_buffer = min(spec.shuffle_buffer, count)
        dataset = training_stream(dataset, count, spec.seed, shuffle_buffer, start)
        if augmented:  # (position in the stream, example): the seed of its augmentation
            dataset = dataset.enumerate(start)
    dataset = dataset.batch(batch_size, drop_remainder=training or pad_to_full_batches)
    if readers < pipelines:  # each reads every file: the pipelines take turns over the batches
        dataset = dataset.shard(pipelines, pipeline_id)
    if augmented:  # only this pipeline's batches
        dataset = augment_batches(dataset, spec.augment_fn, spec.seed, deterministic)
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(WITHOUT_AUTOTUNING)


def shards_to_read(
    spec: InputSpec, split: str, context: tf.distribute.InputContext
) -> tuple[list[str], list[int]]:
    """(the shard files this pipeline reads, the examples each pipeline reads): files of its own
    when the split has a file per pipeline, else all (and one count for all)."""
    pipelines, pipeline_id = context.num_input_pipelines, context.input_pipeline_id
    paths = list_shards(spec.records_dir, split, spec.metadata)
    sizes = [spec.metadata.shards[split][os.path.basename(path)] for path in paths]
    if len(paths) < pipelines:
        return paths, [sum(sizes)]
    counts = [sum(sizes[index::pipelines]) for index in range(pipelines)]
    return paths[pipeline_id::pipelines], counts


def decode_shards(
    paths: list[str], count: int, example_fn: Callable, deterministic: bool
) -> tf.data.Dataset:
    """(model input, label) of the `count` examples in the shard files `paths`."""
    parallel = {"num_parallel_calls": tf.data.AUTOTUNE, "deterministic": deterministic}
    dataset = tf.data.Dataset.from_tensor_slices(paths)
    dataset = dataset.interleave(tf.data.TFRecordDataset, cycle_length=len(paths), **parallel)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(count))

    @NOT_CONVERTED
    def decode(serialized: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        raw_input, label = input_ops.parse_example(serialized)
        return example_fn(raw_input), label

    return dataset.map(decode, **parallel)


def pad_with_weights(examples: tf.data.Dataset, padding: int) -> tf.data.Dataset:
    """(input, label, 1.0) for each example, then `padding` times (first input, label, 0.0): no
    replica gets a partial or an empty batch at the end of a split, which oneDNN's Conv2D and
    Keras' LSTM mishandle in a distributed evaluation (TF 2.21 / Keras 3.15)."""

    def weighted(weight: float) -> Callable:
        return NOT_CONVERTED(lambda inputs, label: (inputs, label, tf.constant(weight)))

    padded = examples.take(1).repeat(padding)  # the first example, decoded again
    return examples.map(weighted(1.0)).concatenate(padded.map(weighted(0.0)))


def training_stream(
    examples: tf.data.Dataset, count: int, seed: int, shuffle_buffer: int, start_example: int = 0
) -> tf.data.Dataset:
    """Endless shuffled passes over `examples`, pass p shuffled with a seed made of (seed, p):
    nothing depends on an iterator's history, so a resumed run that starts at `start_example`
    sees exactly what an uninterrupted run would have seen."""
    start_pass, skip = divmod(start_example, count)
    skip = tf.constant(skip, tf.int64)

    def one_pass(pass_index: tf.Tensor) -> tf.data.Dataset:
        pass_seed = seed * 1_000_003 + pass_index
        shuffled = examples.shuffle(shuffle_buffer, seed=pass_seed, reshuffle_each_iteration=False)
        return shuffled.skip(tf.where(pass_index == start_pass, skip, 0))

    return tf.data.Dataset.counter(start_pass).flat_map(one_pass)


def augment_batches(
    batches: tf.data.Dataset, augment_fn: Callable, seed: int, deterministic: bool = True
) -> tf.data.Dataset:
    """(stream positions, (inputs, labels)) batches -> (augmented inputs, labels): a whole
    batch at once (a map per example costs more than the augmentation), seeded by the stream
    position of its first example, so a resumed run augments each batch as before."""

    @NOT_CONVERTED
    def augment(positions: tf.Tensor, example: tuple) -> tuple:
        inputs, labels = example
        return augment_fn(inputs, tf.stack([tf.constant(seed, tf.int64), positions[0]])), labels

    return batches.map(augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)


def read_raw_examples(
    records_dir: str, split: str, metadata: Metadata, limit: int
) -> tuple[list[bytes], list[int]]:
    """Up to `limit` raw inputs and labels of a split, in file order."""
    dataset = tf.data.TFRecordDataset(list_shards(records_dir, split, metadata))
    pairs = list(dataset.map(input_ops.parse_example).take(limit).as_numpy_iterator())
    return [raw_input for raw_input, _ in pairs], [int(label) for _, label in pairs]
