"""Raw source -> sharded TFRecord files (train / validation / test) + metadata.json.

    {{ cookiecutter.package_name }}-preprocess                       # the default data
    {{ cookiecutter.package_name }}-preprocess data=synthetic data.num_shards=4
    python -m {{ cookiecutter.package_name }}.data.preprocess_data data=synthetic

The records go to ``data.records_dir`` (any tf.io.gfile path, gs:// included). metadata.json
is written last and holds a fingerprint of the data config and of the input files' bytes, so
a half-written directory is never mistaken for a finished one, and `ensure_preprocessed`
reuses finished records until the config changes. train, eval and export call
`ensure_preprocessed` themselves.

Examples stream from the source into the shards in one pass, with the training statistics
gathered on the way, so memory stays the same whatever the size of the data.
"""

import contextlib
import hashlib
import inspect
import json
import logging
import os
{%- if cookiecutter.cluster %}
import time
from collections.abc import Callable
{%- endif %}

import hydra
import numpy as np
import tensorflow as tf
from omegaconf import DictConfig, OmegaConf
from sklearn.model_selection import train_test_split

from .. import cli, distribute, jsonio
from ..config import register_configs
from ..data.metadata import METADATA_FILE, Metadata
from . import input_ops, sources
from .{{ "image" if cookiecutter.model_type == "cnn" else "text" }}_sources import SOURCES, TrainSummary, encode_examples

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
SPLITS = ("train", "validation", "test")
# Keys that change how records are read, not what they hold: no rebuild when they change.
LOADER_ONLY_KEYS = (
    "records_dir",
    "download_dir",
    "cache",
    "shuffle_buffer",
    "shard_policy",
    "augment",
)


def normalize_path(path: str) -> str:
    """One spelling per place: absolute, without "..", links or a trailing "/" (URLs: no "/")."""
    if "://" in path:
        return path.rstrip("/")
    return os.path.realpath(path)


def file_digest(path: str) -> str:
    """The SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with tf.io.gfile.GFile(path, "rb") as opened:
        while chunk := opened.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def input_files(path: str | None) -> list:
    """(path inside `path`, size, content hash) of every file under `path`, hidden ones not.

    Only what the files hold counts: touching or copying them keeps the fingerprint.
    """
    if not path or not tf.io.gfile.exists(path):
        return []
    if not tf.io.gfile.isdir(path):
        return [[".", tf.io.gfile.stat(path).length, file_digest(path)]]
    files = []
    for folder, _, names in tf.io.gfile.walk(path):
        for name in names:
            file_path = os.path.join(folder, name)
            relative = os.path.relpath(file_path, path)
            if not any(part.startswith(".") for part in relative.split(os.sep)):
                size = tf.io.gfile.stat(file_path).length
                files.append([relative, size, file_digest(file_path)])
    return sorted(files)


def fingerprint(data_cfg: DictConfig, seed: int) -> str:
    """Returns a hash of everything that decides the content of the records.

    That is the data config (but the keys that only change how records are read, and with
    data.path and data.test_path made absolute), the seed that splits the data, the size and
    content hash of every input file, and the code that writes and decodes the records
    (input_ops and the sources), so that editing, say, the text standardisation never pairs
    new code with stale assets.
    """
    data = OmegaConf.to_container(data_cfg, resolve=True)
    for key in LOADER_ONLY_KEYS:
        data.pop(key, None)
    for key in ("path", "test_path"):
        if data.get(key):
            data[key] = normalize_path(data[key])
    inputs = [input_files(data_cfg.get("path")), input_files(data_cfg.get("test_path"))]
    content = {
        "data": data,
        "seed": seed,
        "format": FORMAT_VERSION,
        "inputs": inputs,
        "code": [
            inspect.getsource(module)
            for module in (
                input_ops,
                inspect.getmodule(input_ops.make_example_fn),
                inspect.getmodule(TrainSummary),
            )
        ],
    }
    blob = json.dumps(content, sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def records_path(data_cfg: DictConfig, seed: int, data_fingerprint: str | None = None) -> str:
    """Where the records of this data config live: data.records_dir/<name>-<fingerprint>.

    Each data config (and each version of its input files) gets a folder of its own, so a
    change never overwrites records that another run still uses.
    """
    return os.path.join(
        data_cfg.records_dir,
        f"{data_cfg.name}-{(data_fingerprint or fingerprint(data_cfg, seed))[:12]}",
    )


def read_metadata(records_dir: str) -> Metadata | None:
    """Returns the metadata of finished records in `records_dir`, or None."""
    if not tf.io.gfile.exists(os.path.join(records_dir, METADATA_FILE)):
        return None
    return Metadata.read(records_dir)


def ensure_preprocessed(data_cfg: DictConfig, seed: int) -> tuple[str, Metadata]:
    """Returns (records dir, metadata) for `data_cfg`, writing the records first if needed."""
    data_fingerprint = fingerprint(data_cfg, seed)
    records_dir = records_path(data_cfg, seed, data_fingerprint)
    metadata = read_metadata(records_dir)
    if metadata is None:
        return records_dir, preprocess(data_cfg, seed, data_fingerprint)
    if metadata.fingerprint != data_fingerprint:
        raise ValueError(
            f"{records_dir} holds TFRecords of another data config (source "
            f"{metadata.source!r}, fingerprint {metadata.fingerprint[:12]}). Delete the "
            "folder, or point data.records_dir somewhere else, and run again."
        )
    log.info("Reusing the records in %s", records_dir)
    return records_dir, metadata
{%- if cookiecutter.cluster %}


def wait_for_records(
    data_cfg: DictConfig, seed: int, timeout_s: float, heartbeat: Callable[[], None]
) -> tuple[str, Metadata]:
    """(records dir, metadata) once another process (the chief worker) has written them.

    Calls `heartbeat` about once a second while it waits, to show it is alive.
    """
    records_dir = records_path(data_cfg, seed)
    deadline = time.monotonic() + timeout_s
    while (metadata := read_metadata(records_dir)) is None:
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"No records appeared in {records_dir} within {timeout_s:.0f} s; the chief "
                "worker writes them. Run preprocess before starting the workers."
            )
        heartbeat()
        time.sleep(1.0)
    return records_dir, metadata
{%- endif %}


def load_source(data_cfg: DictConfig, seed: int) -> sources.RawExamples:
    """Runs the source named by data.name and checks that every class has examples."""
    if data_cfg.name not in SOURCES:
        raise ValueError(
            f"data={data_cfg.name!r} is not a data source of this project. "
            f"Choose one of: {', '.join(sorted(SOURCES))}, e.g. data={next(iter(SOURCES))}."
        )
    examples = SOURCES[data_cfg.name](data_cfg, seed)
    return sources.check_examples(examples, data_cfg.name, data_cfg.get("path"))


def split_indices(
    labels: np.ndarray, validation_fraction: float, test_fraction: float, seed: int
) -> dict[str, np.ndarray]:
    """Splits example indices into train / validation / test, stratified by label.

    The same labels, fractions and seed always give the same split.
    """
    checks = [("validation", validation_fraction, 0.0)]
    if test_fraction:  # 0 when the source gives its own test split
        checks.append(("test", test_fraction, 0.0))
    for key, fraction, low in checks:
        if not low < fraction < 1.0:
            raise ValueError(f"data.{key}_fraction={fraction} must be between 0 and 1, e.g. 0.1.")
    if validation_fraction + test_fraction >= 1.0:
        raise ValueError(
            "data.validation_fraction + data.test_fraction must leave examples to train on "
            f"(got {validation_fraction} + {test_fraction}); try 0.1 and 0.1."
        )
    indices = np.arange(len(labels))
    try:
        rest, test = indices, indices[:0]
        if test_fraction:
            rest, test = train_test_split(
                indices, test_size=test_fraction, stratify=labels, random_state=seed
            )
        train, validation = train_test_split(
            rest,
            test_size=validation_fraction / (1.0 - test_fraction),
            stratify=labels[rest],
            random_state=seed,
        )
    except ValueError as error:
        raise ValueError(
            f"Cannot split {len(labels)} examples into train/validation/test with every class "
            f"in each split ({error}). Add examples to the smallest classes or change "
            "data.validation_fraction / data.test_fraction."
        ) from error
    return {"train": np.sort(train), "validation": np.sort(validation), "test": np.sort(test)}


class ShardWriter:
    """Writes one split's serialised examples round-robin into `num_shards` files, as they come.

    Each shard is written under a temporary name and renamed when the writer closes without
    an error, so an interrupted run never leaves a shard that looks finished.
    """

    def __init__(self, records_dir: str, split: str, num_shards: int):
        names = [
            f"{split}-{shard:05d}-of-{num_shards:05d}.tfrecord" for shard in range(num_shards)
        ]
        self.paths = [os.path.join(records_dir, name) for name in names]
        self.writers = [tf.io.TFRecordWriter(path + ".tmp") for path in self.paths]
        self.sizes = [0] * num_shards

    def write(self, serialized: bytes) -> None:
        shard = sum(self.sizes) % len(self.writers)
        self.writers[shard].write(serialized)
        self.sizes[shard] += 1

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, error_type, *_) -> None:
        for writer, path in zip(self.writers, self.paths, strict=True):
            writer.close()
            if error_type is None:
                tf.io.gfile.rename(path + ".tmp", path, overwrite=True)

    def shard_sizes(self) -> dict[str, int]:
        """Shard file name -> number of examples in it."""
        return {os.path.basename(p): n for p, n in zip(self.paths, self.sizes, strict=True)}


def clear_records(records_dir: str) -> None:
    """Removes the metadata first, then every other file, so nothing stale survives."""
    metadata_path = os.path.join(records_dir, METADATA_FILE)
    if tf.io.gfile.exists(metadata_path):
        tf.io.gfile.remove(metadata_path)
    for name in tf.io.gfile.listdir(records_dir):
        path = os.path.join(records_dir, name)
        if not tf.io.gfile.isdir(path):
            tf.io.gfile.remove(path)


def assign_splits(examples: sources.RawExamples, data_cfg: DictConfig, seed: int) -> list:
    """(examples, the index in SPLITS of each one's split) for the source's examples and, when
    it gives one, its own test split."""
    labels = np.asarray(examples.labels, dtype=np.int64)
    test_fraction = 0.0 if examples.test else data_cfg.test_fraction
    indices = split_indices(labels, data_cfg.validation_fraction, test_fraction, seed)
    splits = np.zeros(len(labels), np.int64)
    for position, split in enumerate(SPLITS):
        splits[indices[split]] = position
    parts = [(examples, splits)]
    if examples.test:
        test = SPLITS.index("test")
        parts.append((examples.test, np.full(len(examples.test.labels), test, np.int64)))
    return parts


def write_records(
    parts: list, data_cfg: DictConfig, records_dir: str, summary: TrainSummary
) -> tuple[dict, np.ndarray]:
    """Streams every example into the shards of its split, adding training ones to `summary`.

    Returns:
        The shard sizes of each split, and the examples written per split and class.
    """
    per_split = np.bincount(np.concatenate([splits for _, splits in parts]), minlength=3)
    counts = np.zeros((len(SPLITS), len(parts[0][0].class_names)), np.int64)
    with contextlib.ExitStack() as stack:
        writers = [
            stack.enter_context(
                ShardWriter(records_dir, split, max(1, min(data_cfg.num_shards, size)))
            )
            for split, size in zip(SPLITS, per_split, strict=True)
        ]
        for part, splits in parts:
            encoded = encode_examples(part.inputs, part.from_files, data_cfg)
            for (stored, facts), label, split in zip(encoded, part.labels, splits, strict=True):
                if stored is None:  # unreadable, and data.skip_invalid=true
                    continue
                writers[split].write(input_ops.serialize_example(stored, int(label)))
                counts[split, label] += 1
                if split == 0:
                    summary.add(stored, facts)
    shards = {split: writer.shard_sizes() for split, writer in zip(SPLITS, writers, strict=True)}
    return shards, counts


def preprocess(data_cfg: DictConfig, seed: int, data_fingerprint: str | None = None) -> Metadata:
    """Writes the records and metadata.json for `data_cfg` and returns the metadata.

    `data_fingerprint` saves hashing the input files again when the caller has done so.
    """
    examples = load_source(data_cfg, seed)
    parts = assign_splits(examples, data_cfg, seed)
    data_fingerprint = data_fingerprint or fingerprint(data_cfg, seed)
    records_dir = records_path(data_cfg, seed, data_fingerprint)
    tf.io.gfile.makedirs(records_dir)
    clear_records(records_dir)
    class_names = examples.class_names
    summary = TrainSummary(data_cfg)
    shards, counts = write_records(parts, data_cfg, records_dir, summary)
    empty = [name for name, count in zip(class_names, counts[0], strict=True) if not count]
    if empty:
        raise ValueError(
            f"Left without the unreadable examples, the class(es) {empty} have no training "
            "examples. Add readable ones or remove the class folder(s)."
        )
    metadata = Metadata.from_dict(
        {
            "source": data_cfg.name,
            "fingerprint": data_fingerprint,
            "class_names": class_names,
            "num_classes": len(class_names),
            **summary.metadata(records_dir),
            "counts": {
                split: {
                    "total": int(per_class.sum()),
                    "per_class": dict(zip(class_names, per_class.tolist(), strict=True)),
                }
                for split, per_class in zip(SPLITS, counts, strict=True)
            },
            "shards": shards,
        }
    )
    jsonio.write_json(os.path.join(records_dir, METADATA_FILE), metadata.to_dict())
    log.info(
        "Wrote %s to %s",
        ", ".join(f"{count['total']} {split}" for split, count in metadata.counts.items()),
        records_dir,
    )
    return metadata


@hydra.main(version_base="1.3", config_path="../configs", config_name="config")
def _main(cfg: DictConfig) -> None:
    cli.setup_logging()
    with cli.exit_on_user_error():
        ensure_preprocessed(cfg.data, cfg.seed)


def main() -> None:
    """Console script: {{ cookiecutter.package_name }}-preprocess [data=...] [key=value ...]"""
    distribute.probe_devices()  # first: without an NVIDIA GPU it mutes CUDA's start-up errors
    register_configs()
    _main()


if __name__ == "__main__":
    main()
