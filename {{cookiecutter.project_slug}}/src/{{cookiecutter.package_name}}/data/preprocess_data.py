"""Raw source -> sharded TFRecord files (train / validation / test) + metadata.json, streamed
(memory stays flat). Train, eval and export call `ensure_preprocessed`, which reuses the records
in ``data.records_dir/<name>-<fingerprint>`` until the data changes."""

import contextlib
import hashlib
import inspect
import itertools
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
from ..data.metadata import METADATA_FILE, Metadata  # "..": sorted first in either variant
from . import input_ops, sources
from .{{ "image" if cookiecutter.model_type == "cnn" else "text" }}_sources import SOURCES, TrainSummary, encode_examples

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
# Keys that change how records are read, not what they hold: no rebuild when they change.
LOADER_ONLY_KEYS = {"records_dir", "download_dir", "cache", "shuffle_buffer", "augment"}


def input_digest(path: str | None) -> str:
    """A SHA-256 of the names and bytes of the files under `path` (or of the file `path`), hidden
    ones left out: touching or copying the files keeps it."""
    if not path or not tf.io.gfile.exists(path):
        return ""
    files = [path]
    if tf.io.gfile.isdir(path):
        walk = tf.io.gfile.walk(path)
        files = [os.path.join(folder, name) for folder, _, names in walk for name in names]
    digest = hashlib.sha256()
    for file_path in sorted(files):
        relative = os.path.relpath(file_path, path)
        if not any(part.startswith(".") and part != "." for part in relative.split(os.sep)):
            digest.update(f"{relative}\0{tf.io.gfile.stat(file_path).length}\0".encode())
            with tf.io.gfile.GFile(file_path, "rb") as opened:
                while chunk := opened.read(1 << 20):
                    digest.update(chunk)
    return digest.hexdigest()


def fingerprint(data_cfg: DictConfig, seed: int) -> str:
    """A hash of what decides the records: the data config but LOADER_ONLY_KEYS (its paths in one
    spelling each), the seed, the input files, and the code that writes and decodes them."""
    data = OmegaConf.to_container(data_cfg, resolve=True)
    for key in LOADER_ONLY_KEYS:
        data.pop(key, None)
    for key in ("path", "test_path"):
        if path := data.get(key):  # absolute, without "..", links or a trailing "/"
            data[key] = path.rstrip("/") if "://" in path else os.path.realpath(path)
    code = (input_ops.serialize_example, input_ops.make_example_fn, encode_examples)
    content = {
        "data": data,
        "seed": seed,
        "inputs": [input_digest(data_cfg.get("path")), input_digest(data_cfg.get("test_path"))],
        "code": [inspect.getsource(inspect.getmodule(function)) for function in code],
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode("utf-8")).hexdigest()


def records_path(data_cfg: DictConfig, seed: int, data_fingerprint: str | None = None) -> str:
    """data.records_dir/<name>-<fingerprint>: a change never overwrites records in use."""
    data_fingerprint = data_fingerprint or fingerprint(data_cfg, seed)
    return os.path.join(data_cfg.records_dir, f"{data_cfg.name}-{data_fingerprint[:12]}")


def read_metadata(records_dir: str) -> Metadata | None:
    """The metadata of finished records in `records_dir` (metadata.json is written last), or None."""
    finished = tf.io.gfile.exists(os.path.join(records_dir, METADATA_FILE))
    return Metadata.read(records_dir) if finished else None


def ensure_preprocessed(data_cfg: DictConfig, seed: int) -> tuple[str, Metadata]:
    """(records dir, metadata) for `data_cfg`, writing the records first if needed."""
    data_fingerprint = fingerprint(data_cfg, seed)
    records_dir = records_path(data_cfg, seed, data_fingerprint)
    metadata = read_metadata(records_dir)
    if metadata is None:
        return records_dir, preprocess(data_cfg, seed, data_fingerprint)
    log.info("Reusing the records in %s", records_dir)
    return records_dir, metadata
{%- if cookiecutter.cluster %}


def wait_for_records(
    data_cfg: DictConfig, seed: int, timeout_s: float, heartbeat: Callable[[], None]
) -> tuple[str, Metadata]:
    """(records dir, metadata) once the chief worker has written them; calls `heartbeat` about
    once a second while it waits, to show it is alive."""
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


def assign_splits(
    labels: np.ndarray, validation_fraction: float, test_fraction: float, seed: int
) -> np.ndarray:
    """The split of each example (its index in SPLITS), stratified by label and seeded."""
    splits, rest = np.zeros(len(labels), np.int64), np.arange(len(labels))
    try:
        if test_fraction:
            rest, test = train_test_split(
                rest, test_size=test_fraction, stratify=labels, random_state=seed
            )
            splits[test] = SPLITS.index("test")
        validation_size = validation_fraction / (1.0 - test_fraction)
        _, validation = train_test_split(
            rest, test_size=validation_size, stratify=labels[rest], random_state=seed
        )
    except ValueError as error:
        raise ValueError(
            f"Cannot split {len(labels)} examples by data.validation_fraction="
            f"{validation_fraction} and data.test_fraction={test_fraction} with every class in "
            f"each split ({error}). Both must be above 0 (test: or 0) and leave examples to "
            "train on (try 0.1 and 0.1); or add examples to the smallest classes."
        ) from error
    splits[validation] = SPLITS.index("validation")
    return splits


def write_records(
    examples: sources.RawExamples, data_cfg: DictConfig, seed: int, records_dir: str
) -> tuple[dict, np.ndarray, TrainSummary]:
    """Streams every example into the shards of its split, round-robin. Returns {split: {shard
    file name: examples}}, the examples per split and class, and the training statistics."""
    test_fraction = 0.0 if examples.test else data_cfg.test_fraction
    labels = np.asarray(examples.labels, np.int64)
    parts = [(examples, assign_splits(labels, data_cfg.validation_fraction, test_fraction, seed))]
    if examples.test:  # the source's own test split
        parts.append((examples.test, np.full(len(examples.test.labels), SPLITS.index("test"))))
    per_split = np.bincount(np.concatenate([splits for _, splits in parts]), minlength=3)
    shards = {  # {split: {shard file name: examples written}}
        split: {f"{split}-{shard:05d}-of-{num:05d}.tfrecord": 0 for shard in range(num)}
        for split, num in zip(SPLITS, np.clip(per_split, 1, data_cfg.num_shards), strict=True)
    }
    names = [list(split_shards) for split_shards in shards.values()]
    counts = np.zeros((len(SPLITS), len(examples.class_names)), np.int64)
    summary = TrainSummary(data_cfg)
    with contextlib.ExitStack() as stack:
        writers = {
            name: stack.enter_context(tf.io.TFRecordWriter(os.path.join(records_dir, name)))
            for name in itertools.chain(*names)
        }
        for part, splits in parts:
            # Without the unreadable examples (data.skip_invalid=true).
            for index, stored, facts in encode_examples(part.inputs, part.from_files, data_cfg):
                label, split = part.labels[index], splits[index]
                name = names[split][counts[split].sum() % len(names[split])]
                writers[name].write(input_ops.serialize_example(stored, int(label)))
                shards[SPLITS[split]][name] += 1
                counts[split, label] += 1
                if split == 0:
                    summary.add(stored, facts)
    return shards, counts, summary


def preprocess(data_cfg: DictConfig, seed: int, data_fingerprint: str | None = None) -> Metadata:
    """Writes the records, then metadata.json (which marks them finished: an interrupted run
    leaves none that look it) for `data_cfg`, and returns the metadata."""
    examples = load_source(data_cfg, seed)
    data_fingerprint = data_fingerprint or fingerprint(data_cfg, seed)
    records_dir = records_path(data_cfg, seed, data_fingerprint)
    tf.io.gfile.makedirs(records_dir)
    with contextlib.suppress(tf.errors.NotFoundError):
        tf.io.gfile.remove(os.path.join(records_dir, METADATA_FILE))
    shards, counts, summary = write_records(examples, data_cfg, seed, records_dir)
    class_names = examples.class_names
    empty = [name for name, count in zip(class_names, counts[0], strict=True) if not count]
    if empty:
        raise ValueError(
            f"The class(es) {empty} have no training examples (unreadable ones left out). Add "
            "some or remove the class(es)."
        )
    per_class = [dict(zip(class_names, row.tolist(), strict=True)) for row in counts]
    per_split = {
        split: {"total": sum(row.values()), "per_class": row}
        for split, row in zip(SPLITS, per_class, strict=True)
    }
    content = {"source": data_cfg.name, "fingerprint": data_fingerprint, "counts": per_split}
    content |= {"class_names": class_names, "num_classes": len(class_names), "shards": shards}
    content |= summary.metadata(records_dir)
    jsonio.write_json(os.path.join(records_dir, METADATA_FILE), content)
    totals = ", ".join(f"{count['total']} {split}" for split, count in per_split.items())
    log.info("Wrote %s to %s", totals, records_dir)
    return Metadata.read(records_dir)  # as every reader sees it


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
