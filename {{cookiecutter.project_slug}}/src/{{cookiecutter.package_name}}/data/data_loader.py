"""TFRecord shards -> a batched, shuffled, prefetched tf.data.Dataset.

Dataset plumbing only; what happens to one example is input_ops' job. Used by train, eval
and export; try it on its own with:

    python -c "from {{ cookiecutter.package_name }}.data import data_loader; help(data_loader.load_split)"

Every split is read the way one `InputSpec` says; train builds it once from the config.
"""

import contextlib
import logging
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

log = logging.getLogger(__name__)

# <split>-<pipeline>-<host>-<pid>-<token>, then TensorFlow's ".index", "_0.lockfile", ...
CACHE_NAME = re.compile(r"[a-z]+-\d+-(?P<host>.+)-(?P<pid>\d+)-[0-9a-f]{8}[._]")
# tf.data's autotuning thread sleeps between rounds for up to a minute, and deleting an
# iterator waits for it: at the end of a training run that was 3 to 20 seconds of nothing.
# Without it, AUTOTUNE means a map call per core and prefetching still overlaps; as fast here.
WITHOUT_AUTOTUNING = tf.data.Options()
WITHOUT_AUTOTUNING.autotune.enabled = False
# The functions mapped here use tf.cond/tf.switch_case, never Python control flow on
# tensors: AutoGraph would only re-parse their source (and that of every op they call, a
# decoding of hundreds of ops included), which took about a second per split at start-up.
NOT_CONVERTED = tf.autograph.experimental.do_not_convert


@dataclass(frozen=True)
class InputSpec:
    """How the splits of one records folder are read; the same for every split.

    Attributes:
        records_dir: where preprocess_data wrote the shards.
        metadata: the records' metadata.
        example_fn: raw input bytes -> model input (input_ops.make_example_fn).
        augment_fn: fn(inputs, seed) applied to each training batch after the cache, with a
            seed of its own per pass and position, so batches differ every pass (see
            augment_batches); None: no augmentation.
        seed: shuffle and augmentation seed; the same seed gives the same stream.
        cache: "memory" keeps decoded examples in memory after the first pass, "file" in
            files of this process' own (for data larger than memory; see cache_path),
            "none" decodes each time.
        shuffle_buffer: examples in the shuffle buffer (capped at the split's size).
        shard_policy: how several input pipelines split the data: "file" (each reads its
            own shard files; needs at least as many files as pipelines), "data" (each reads
            every file and keeps its own batches: the global batch is exactly that of one
            pipeline), "auto" (file when there are enough files, else data).
        deterministic: keep the order of parallel reads and maps of the training stream
            reproducible; evaluation is always read in a reproducible order.
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
            records_dir=records_dir,
            metadata=metadata,
            example_fn=example_fn,
            augment_fn=augment_fn,
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
    """Returns the shard paths of one split, checking that each one exists."""
    names = sorted(metadata.shards[split])
    paths = [os.path.join(records_dir, name) for name in names]
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
        training: an endless stream of shuffled passes over the split, without partial
            batches; pass p is shuffled with seed (spec.seed, p), so the stream is a pure
            function of the seed.
        input_context: from strategy.distribute_datasets_from_function; with several input
            pipelines (one per worker) each one reads its part of the split
            (spec.shard_policy).
        examples_fed: training only: examples that all pipelines together fed before, e.g.
            before a resume; the stream starts after them (a skip within one cached pass).
        pad_to_full_batches: not training: yield (inputs, labels, weights), the split's
            examples with weight 1, then copies of its first example with weight 0, so that
            every replica of every pipeline gets the same number of full batches (see
            padding_count).
    """
    deterministic = spec.deterministic or not training
    paths = list_shards(spec.records_dir, split, spec.metadata)
    pipelines = input_context.num_input_pipelines if input_context else 1
    pipeline_id = input_context.input_pipeline_id if input_context else 0
    replicas = input_context.num_replicas_in_sync if input_context else 1
    by_file = resolve_shard_policy(spec.shard_policy, split, len(paths), pipelines) == "file"
    shard_counts = [spec.metadata.shards[split][os.path.basename(path)] for path in paths]
    if by_file:
        paths = paths[pipeline_id::pipelines]
    count = sum(shard_counts[pipeline_id::pipelines] if by_file else shard_counts)

    dataset = decode_shards(paths, count, spec.example_fn, deterministic)
    full_batches = pad_to_full_batches and not training
    if full_batches:  # padded before the cache, so that a later pass reads memory only
        padding = padding_count(shard_counts, count, by_file, batch_size, pipelines, replicas)
        first_example = dataset.take(1)  # read again for padding, not from the cache
        dataset = pad_with_weights(dataset, first_example, padding)
    dataset = cached(dataset, spec.cache, spec.records_dir, f"{split}-{pipeline_id}")
    augmented = training and spec.augment_fn is not None
    if training:
        start = examples_fed // pipelines if by_file else examples_fed
        shuffle_buffer = min(spec.shuffle_buffer, count)
        dataset = training_stream(dataset, count, spec.seed, shuffle_buffer, start)
        if augmented:  # (position in the stream, example): the seed of its augmentation
            dataset = dataset.enumerate(start)
    dataset = dataset.batch(batch_size, drop_remainder=training or full_batches)
    if pipelines > 1 and not by_file:
        dataset = dataset.shard(pipelines, pipeline_id)
    if augmented:  # only this pipeline's batches
        dataset = augment_batches(dataset, spec.augment_fn, spec.seed, deterministic)
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(WITHOUT_AUTOTUNING)


def decode_shards(
    paths: list[str],
    count: int,
    example_fn: Callable[[tf.Tensor], tf.Tensor],
    deterministic: bool,
) -> tf.data.Dataset:
    """(model input, label) of the `count` examples in the shard files `paths`."""
    dataset = tf.data.Dataset.from_tensor_slices(paths)
    dataset = dataset.interleave(
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


def cached(examples: tf.data.Dataset, cache: str, records_dir: str, name: str) -> tf.data.Dataset:
    """`examples` cached as data.cache says: in memory, in files of their own (see cache_path;
    `name` starts their names) or not at all."""
    if cache == "memory":
        return examples.cache()
    if cache == "file":
        return examples.cache(cache_path(records_dir, name))
    return examples


def padding_count(
    shard_counts: list[int],
    count: int,
    by_file: bool,
    batch_size: int,
    pipelines: int,
    replicas: int,
) -> int:
    """Examples of weight 0 that this pipeline adds so that every replica of every pipeline
    gets the same number of full batches.

    A replica then never gets a partial or an empty batch, which a distributed evaluation
    would otherwise give it at the end of a split that does not divide by the global batch
    (and which oneDNN's Conv2D and Keras' LSTM mishandle in TensorFlow 2.21 / Keras 3.15).
    `shard_counts` are the examples of each of the split's files, in file order; `count`
    those this pipeline reads.
    """
    if by_file:  # each pipeline its own files: as many batches as the fullest one
        counts = [sum(shard_counts[index::pipelines]) for index in range(pipelines)]
        step_size = batch_size * (replicas // pipelines)
    else:  # one batch sequence, dealt out to every replica of every pipeline
        counts, step_size = [count], batch_size * replicas
    steps = max(-(-pipeline_count // step_size) for pipeline_count in counts)
    return steps * step_size - count


def augment_batches(
    batches: tf.data.Dataset,
    augment_fn: Callable[[tf.Tensor, tf.Tensor], tf.Tensor],
    seed: int,
    deterministic: bool = True,
) -> tf.data.Dataset:
    """(stream positions, (inputs, labels)) batches -> (augmented inputs, labels).

    `augment_fn(inputs, [seed, position])` changes the whole batch at once, seeded by the
    position of its first example in the endless training stream: a resumed run starts at a
    whole number of steps, so it augments each batch as an uninterrupted run did. Whole-batch
    ops, no map per example: per-example calls cost tf.data more than the augmentation itself.
    """

    @NOT_CONVERTED
    def augment(positions: tf.Tensor, example: tuple) -> tuple:
        inputs, labels = example
        return augment_fn(inputs, tf.stack([tf.constant(seed, tf.int64), positions[0]])), labels

    return batches.map(augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)


def pad_with_weights(
    examples: tf.data.Dataset, first_example: tf.data.Dataset, padding: int
) -> tf.data.Dataset:
    """(input, label, 1.0) for each example, then `padding` times (first input, label, 0.0)."""
    weighted = examples.map(NOT_CONVERTED(lambda inputs, label: (inputs, label, tf.constant(1.0))))
    padded = first_example.repeat(padding).map(
        NOT_CONVERTED(lambda inputs, label: (inputs, label, tf.constant(0.0)))
    )
    return weighted.concatenate(padded)


def cache_path(records_dir: str, name: str) -> str:
    """A new cache file prefix, <records root>/cache/<records folder>/<name>-<host>-<pid>-<token>.

    The cache sits beside the records folder, not in it (a run copies that folder's files into
    its assets), and no two datasets share one, so concurrent runs never collide. The files
    that ended processes of this host left behind (a killed run's lockfile too) are removed.
    """
    records_dir = records_dir.rstrip("/")
    cache_dir = os.path.join(os.path.dirname(records_dir), "cache", os.path.basename(records_dir))
    tf.io.gfile.makedirs(cache_dir)
    remove_stale_cache_files(cache_dir)
    owner = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    return os.path.join(cache_dir, f"{name}-{owner}")


def remove_stale_cache_files(cache_dir: str) -> None:
    """Removes the cache files in `cache_dir` of processes of this host that have ended."""
    host = socket.gethostname()
    stale = [
        name
        for name in tf.io.gfile.listdir(cache_dir)
        if (match := CACHE_NAME.match(name))
        and match["host"] == host
        and not process_alive(int(match["pid"]))
    ]
    if stale:
        log.info("Removing %d stale cache file(s) of ended runs from %s", len(stale), cache_dir)
    for name in stale:
        with contextlib.suppress(tf.errors.NotFoundError):  # another run removed it first
            tf.io.gfile.remove(os.path.join(cache_dir, name))


def process_alive(pid: int) -> bool:
    """Whether a process of this host with this id is running."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # running, as another user
        return True
    return True


def resolve_shard_policy(policy: str, split: str, num_files: int, pipelines: int) -> str:
    """Returns "file" or "data" for data.shard_policy; "file" needs a file per pipeline."""
    if policy == "auto":
        return "file" if num_files >= pipelines else "data"
    if policy == "file" and num_files < pipelines:
        raise ValueError(
            f"The {split} split has {num_files} TFRecord file(s) for {pipelines} workers; "
            "data.shard_policy=file gives each worker files of its own. Preprocess with "
            f"data.num_shards={pipelines} or more, or set data.shard_policy=data."
        )
    return policy


def training_stream(
    examples: tf.data.Dataset,
    count: int,
    seed: int,
    shuffle_buffer: int,
    start_example: int = 0,
) -> tf.data.Dataset:
    """Endless shuffled passes over `examples` that can start at any position.

    Pass p is shuffled with a seed made of (seed, p): nothing depends on an iterator's
    history, so a resumed run that starts at `start_example` sees exactly what an
    uninterrupted run would have seen.
    """
    start_pass, skip = divmod(start_example, count)
    skip = tf.constant(skip, tf.int64)

    def one_pass(pass_index: tf.Tensor) -> tf.data.Dataset:
        pass_seed = seed * 1_000_003 + pass_index
        shuffled = examples.shuffle(shuffle_buffer, seed=pass_seed, reshuffle_each_iteration=False)
        return shuffled.skip(tf.where(pass_index == start_pass, skip, 0))

    return tf.data.Dataset.counter(start_pass).flat_map(one_pass)


def read_raw_examples(
    records_dir: str, split: str, metadata: Metadata, limit: int
) -> tuple[list[bytes], list[int]]:
    """Returns up to `limit` raw inputs and labels of a split, in file order."""
    dataset = tf.data.TFRecordDataset(list_shards(records_dir, split, metadata))
    dataset = dataset.map(input_ops.parse_example).take(limit)
    raw_inputs, labels = [], []
    for raw_input, label in dataset.as_numpy_iterator():
        raw_inputs.append(raw_input)
        labels.append(int(label))
    return raw_inputs, labels
