"""TFRecord shards -> a batched, shuffled, prefetched tf.data.Dataset.

Dataset plumbing only; what happens to one example is input_ops' job. Used by train, eval
and export; try it on its own with:

    python -c "from {{ cookiecutter.package_name }}.data import data_loader; help(data_loader.load_split)"

Every split is read the way one `InputSpec` says; train builds it once from the config.
"""

import contextlib
import os
import re
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import tensorflow as tf
from omegaconf import DictConfig

from . import input_ops
from .metadata import Metadata

# <split>-<pipeline>-<host>-<pid>-<token>, then TensorFlow's ".index", "_0.lockfile", ...
CACHE_NAME = re.compile(r"[a-z]+-\d+-(?P<host>.+)-(?P<pid>\d+)-[0-9a-f]{8}[._]")
# Deleting an iterator waits for tf.data's autotuning thread, which sleeps up to a minute;
# without it AUTOTUNE is a map call per core, as fast here (docs/performance.md).
WITHOUT_AUTOTUNING = tf.data.Options()
WITHOUT_AUTOTUNING.autotune.enabled = False
# The mapped functions use tf.cond/tf.switch_case only: AutoGraph would just re-parse their
# source (and that of every op they call), about a second per split at start-up.
NOT_CONVERTED = tf.autograph.experimental.do_not_convert


@dataclass(frozen=True)
class InputSpec:
    """How the splits of one records folder are read; the same for every split.

    Attributes:
        records_dir: where preprocess_data wrote the shards.
        metadata: the records' metadata.
        example_fn: raw input bytes -> model input (input_ops.make_example_fn).
        augment_fn: fn(inputs, seed) for each training batch (augment_batches), or None.
        seed: shuffle and augmentation seed; the same seed gives the same stream.
        cache: data.cache: "memory", "file" (see cached) or "none".
        shuffle_buffer: examples in the shuffle buffer (capped at the split's size).
        shard_policy: data.shard_policy: "file", "data" or "auto" (see shards_to_read).
        deterministic: a reproducible order of parallel reads and maps in training too.
    """

    records_dir: str
    metadata: Metadata
    example_fn: Callable[[tf.Tensor], tf.Tensor]
    augment_fn: Callable[[tf.Tensor, tf.Tensor], tf.Tensor] | None
    seed: int
    cache: str
    shuffle_buffer: int
    shard_policy: str
    deterministic: bool

    @classmethod
    def from_config(
        cls,
        cfg: DictConfig,
        records_dir: str,
        metadata: Metadata,
        example_fn: Callable[[tf.Tensor], tf.Tensor],
        augment_fn: Callable[[tf.Tensor, tf.Tensor], tf.Tensor] | None = None,
    ) -> "InputSpec":
        """The spec of a training config: seed, data.cache, data.shuffle_buffer,
        data.shard_policy and train.deterministic."""
        return cls(
            records_dir,
            metadata,
            example_fn,
            augment_fn,
            seed=cfg.seed,
            cache=cfg.data.cache,
            shuffle_buffer=cfg.data.shuffle_buffer,
            shard_policy=cfg.data.shard_policy,
            deterministic=cfg.train.deterministic,
        )

    @classmethod
    def for_training(cls, cfg: DictConfig, records_dir: str, metadata: Metadata) -> "InputSpec":
        """from_config with the model's example_fn{{ " and data.augment" if cookiecutter.model_type == "cnn" else "" }}, the example_fn traced once
        for every split (instead of once per split: a second or two at start-up)."""
        example_fn = tf.function(
            input_ops.make_example_fn(metadata, records_dir),
            input_signature=[tf.TensorSpec([], tf.string)],
            autograph=False,  # see NOT_CONVERTED
        )
{%- if cookiecutter.model_type == "cnn" %}
        augment_fn = input_ops.make_augment_fn(cfg.data)
        return cls.from_config(cfg, records_dir, metadata, example_fn, augment_fn)
{%- else %}
        return cls.from_config(cfg, records_dir, metadata, example_fn)  # text is not augmented
{%- endif %}


def list_shards(records_dir: str, split: str, metadata: Metadata) -> list[str]:
    """Returns the shard paths of one split, sorted, checking that each one exists."""
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
    """Reads one split as (model inputs, int32 labels) batches, of known cardinality when
    not training.

    Args:
        spec: the records, how to decode and augment them, and how to read them.
        split: "train", "validation" or "test".
        batch_size: examples per batch (per replica when input_context is given).
        training: an endless stream of shuffled passes without partial batches, a pure
            function of spec.seed (see training_stream).
        input_context: from strategy.distribute_datasets_from_function.
        examples_fed: training: examples that all pipelines fed before (e.g. before a resume).
        pad_to_full_batches: not training: yield (inputs, labels, weights), the split's
            examples with weight 1, then copies of its first example with weight 0, so that
            every replica of every pipeline gets the same number of full batches.
    """
    context = input_context or tf.distribute.InputContext()
    pipelines, pipeline_id = context.num_input_pipelines, context.input_pipeline_id
    paths, counts, by_file = shards_to_read(spec, split, context)
    count = counts[pipeline_id] if by_file else counts[0]
    deterministic = spec.deterministic or not training
    dataset = decode_shards(paths, count, spec.example_fn, deterministic)
    if pad_to_full_batches and not training:  # before the cache: a later pass reads memory only
        step_size = batch_size * (context.num_replicas_in_sync // (pipelines if by_file else 1))
        steps = max(-(-pipeline_count // step_size) for pipeline_count in counts)
        dataset = pad_with_weights(dataset, steps * step_size - count)
    dataset = cached(dataset, spec.cache, spec.records_dir, f"{split}-{pipeline_id}")
    augmented = training and spec.augment_fn is not None
    if training:
        start = examples_fed // pipelines if by_file else examples_fed
        shuffle_buffer = min(spec.shuffle_buffer, count)
        dataset = training_stream(dataset, count, spec.seed, shuffle_buffer, start)
        if augmented:  # (position in the stream, example): the seed of its augmentation
            dataset = dataset.enumerate(start)
    dataset = dataset.batch(batch_size, drop_remainder=training or pad_to_full_batches)
    if pipelines > 1 and not by_file:
        dataset = dataset.shard(pipelines, pipeline_id)
    if augmented:  # only this pipeline's batches
        dataset = augment_batches(dataset, spec.augment_fn, spec.seed, deterministic)
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(WITHOUT_AUTOTUNING)


def shards_to_read(
    spec: InputSpec, split: str, context: tf.distribute.InputContext
) -> tuple[list[str], list[int], bool]:
    """(the shard files this input pipeline reads, the examples each pipeline reads, whether
    the pipelines read files of their own, else each reads all and keeps its batches)."""
    pipelines, pipeline_id = context.num_input_pipelines, context.input_pipeline_id
    paths = list_shards(spec.records_dir, split, spec.metadata)
    sizes = [spec.metadata.shards[split][os.path.basename(path)] for path in paths]
    if spec.shard_policy == "file" and len(paths) < pipelines:
        raise ValueError(
            f"The {split} split has {len(paths)} TFRecord file(s) for {pipelines} workers; "
            "data.shard_policy=file gives each worker files of its own. Preprocess with "
            f"data.num_shards={pipelines} or more, or set data.shard_policy=data."
        )
    if spec.shard_policy == "data" or len(paths) < pipelines:  # "auto" with too few files
        return paths, [sum(sizes)], False
    per_pipeline = [sum(sizes[index::pipelines]) for index in range(pipelines)]
    return paths[pipeline_id::pipelines], per_pipeline, True


def decode_shards(
    paths: list[str], count: int, example_fn: Callable, deterministic: bool
) -> tf.data.Dataset:
    """(model input, label) of the `count` examples in the shard files `paths`."""
    dataset = tf.data.Dataset.from_tensor_slices(paths).interleave(
        tf.data.TFRecordDataset,
        cycle_length=len(paths),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=deterministic,
    )
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(count))

    @NOT_CONVERTED
    def decode(serialized: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        raw_input, label = input_ops.parse_example(serialized)
        return example_fn(raw_input), label

    return dataset.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)


def pad_with_weights(examples: tf.data.Dataset, padding: int) -> tf.data.Dataset:
    """(input, label, 1.0) for each example, then `padding` times (first input, label, 0.0).

    With it no replica gets a partial or an empty batch, which a distributed evaluation would
    otherwise give it at the end of a split (and which oneDNN's Conv2D and Keras' LSTM
    mishandle in TensorFlow 2.21 / Keras 3.15).
    """
    weighted = examples.map(NOT_CONVERTED(lambda inputs, label: (inputs, label, tf.constant(1.0))))
    padded = examples.take(1).repeat(padding)  # the first example, decoded again
    return weighted.concatenate(
        padded.map(NOT_CONVERTED(lambda inputs, label: (inputs, label, tf.constant(0.0))))
    )


def cached(examples: tf.data.Dataset, cache: str, records_dir: str, name: str) -> tf.data.Dataset:
    """`examples` cached as data.cache says: in memory, not at all, or in files of their own,
    <records root>/cache/<records folder>/<name>-<host>-<pid>-<token>: beside the records (a run
    copies their folder), one per dataset, so concurrent runs never collide. The cache files of
    ended processes of this host (a killed run's lockfile too) are removed."""
    if cache != "file":
        return examples.cache() if cache == "memory" else examples
    records_dir = records_dir.rstrip("/")
    cache_dir = os.path.join(os.path.dirname(records_dir), "cache", os.path.basename(records_dir))
    tf.io.gfile.makedirs(cache_dir)
    host = socket.gethostname()
    for file_name in tf.io.gfile.listdir(cache_dir):
        match = CACHE_NAME.match(file_name)
        if match and match["host"] == host and not process_alive(int(match["pid"])):
            with contextlib.suppress(tf.errors.NotFoundError):  # another run removed it first
                tf.io.gfile.remove(os.path.join(cache_dir, file_name))
    owner = f"{host}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    return examples.cache(os.path.join(cache_dir, f"{name}-{owner}"))


def process_alive(pid: int) -> bool:
    """Whether a process of this host with this id is running."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # running, as another user
        pass
    return True


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
    """(stream positions, (inputs, labels)) batches -> (augmented inputs, labels).

    `augment_fn(inputs, [seed, position])` changes a whole batch at once (a map per example
    costs tf.data more than the augmentation), seeded by the stream position of its first
    example: a resumed run augments each batch as an uninterrupted run did.
    """

    @NOT_CONVERTED
    def augment(positions: tf.Tensor, example: tuple) -> tuple:
        inputs, labels = example
        return augment_fn(inputs, tf.stack([tf.constant(seed, tf.int64), positions[0]])), labels

    return batches.map(augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)


def read_raw_examples(
    records_dir: str, split: str, metadata: Metadata, limit: int
) -> tuple[list[bytes], list[int]]:
    """Returns up to `limit` raw inputs and labels of a split, in file order."""
    dataset = tf.data.TFRecordDataset(list_shards(records_dir, split, metadata))
    pairs = list(dataset.map(input_ops.parse_example).take(limit).as_numpy_iterator())
    return [raw_input for raw_input, _ in pairs], [int(label) for _, label in pairs]
