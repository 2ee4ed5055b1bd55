"""Raw source -> a TFRecord file per split + metadata.json, streamed (memory stays flat). Train,
eval and export call `ensure_preprocessed`: it reuses data.records_dir/<name>-<fingerprint>/."""

import contextlib
import functools
import hashlib
import inspect
import json
import logging
import os
{%- if cookiecutter.cluster %}
import time
from collections.abc import Callable, Iterator
{%- else %}
from collections.abc import Iterator
{%- endif %}

import filelock
import hydra
import numpy as np
import tensorflow as tf
from omegaconf import DictConfig, OmegaConf
from sklearn.model_selection import train_test_split

from .. import cli, jsonio
from ..config import check_config
from ..data.metadata import METADATA_FILE, Metadata  # "..": sorted first in either variant
from . import data_loader, input_ops, sources
from .{{ "image" if cookiecutter.model_type == "cnn" else "text" }}_sources import SOURCES, TrainSummary, encode_examples

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
# Keys that do not change what the records hold: no rebuild when they change. The files that
# data.path and data.test_path name are hashed by content instead, wherever they are.
UNHASHED_KEYS = {"records_dir", "download_dir", "cache", "shuffle_buffer", "augment"}
UNHASHED_KEYS |= {"path", "test_path", "allow_overlap"}


def file_digests(path: str | None) -> dict[str, str]:
    """{name relative to `path`: SHA-256} of a file, or of the files read under a folder."""
    if not path or not tf.io.gfile.exists(path):
        return {}
    digests = {}
    for file_path in sources.walk_files(path)[0] if tf.io.gfile.isdir(path) else [path]:
        digest = hashlib.sha256()
        with tf.io.gfile.GFile(file_path, "rb") as opened:
            while chunk := opened.read(1 << 20):
                digest.update(chunk)
        digests[os.path.relpath(file_path, path)] = digest.hexdigest()
    return digests


def check_overlap(data_cfg: DictConfig, train: dict[str, str], test: dict[str, str]) -> None:
    """Refuses test files with the bytes of a training file, unless data.allow_overlap."""
    training = set(train.values())
    shared = [name for name, digest in test.items() if digest in training]
    if shared:
        example = os.path.normpath(os.path.join(data_cfg.test_path, shared[0]))
        message = (
            f"data.test_path overlaps data.path={data_cfg.path}: {len(shared)} test file(s) have "
            f"the bytes of a training file, e.g. {example}: scores on them overstate accuracy."
        )
        if not data_cfg.get("allow_overlap"):  # a run trained before it had none
            raise ValueError(f"{message} Remove them from one, or set data.allow_overlap=true.")
        log.warning("%s Kept (data.allow_overlap=true).", message)


def fingerprint(data_cfg: DictConfig, seed: int) -> str:
    """A hash of the data config but UNHASHED_KEYS, the seed, the input files and the code."""
    data = OmegaConf.to_container(data_cfg, resolve=True)
    data = {key: value for key, value in data.items() if key not in UNHASHED_KEYS}
    inputs = [file_digests(data_cfg.get(key)) for key in ("path", "test_path")]
    check_overlap(data_cfg, *inputs)
    functions = (input_ops.serialize_example, input_ops.make_example_fn, encode_examples)
    code = [inspect.getsource(inspect.getmodule(function)) for function in functions]
    content = {"data": data, "seed": seed, "inputs": inputs, "code": code}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode("utf-8")).hexdigest()


def records_path(data_cfg: DictConfig, seed: int, data_fingerprint: str | None = None) -> str:
    """data.records_dir/<name>-<fingerprint>: a change never overwrites records in use."""
    data_fingerprint = data_fingerprint or fingerprint(data_cfg, seed)
    return os.path.join(data_cfg.records_dir, f"{data_cfg.name}-{data_fingerprint[:12]}")


def read_metadata(records_dir: str) -> Metadata | None:
    """The metadata of finished records that read whole, else None (a damaged one: named)."""
    checked = metadata_file = os.path.join(records_dir, METADATA_FILE)
    if not tf.io.gfile.exists(metadata_file):
        return None
    try:
        metadata = Metadata.read(metadata_file)
        for split in SPLITS:
            checked = input_ops.records_file(records_dir, split)
            for _ in data_loader.read_records(records_dir, split, metadata).batch(4096):
                pass  # reading checks each record, then their count
    except (ValueError, OSError, tf.errors.OpError):
        log.warning("%s is damaged or cut short: preprocessing again.", checked)
        tf.io.gfile.remove(metadata_file)
        return None
    return metadata


@contextlib.contextmanager
def records_lock(records_dir: str) -> Iterator[None]:
    """An OS lock on <records_dir>.lock while records are checked or written (not on gs://)."""
    if "://" in records_dir:
        yield
        return
    with filelock.FileLock(f"{records_dir}.lock") as lock:
        try:
            yield
        finally:
            os.remove(lock.lock_file)  # while still held: no one else has it then


def ensure_preprocessed(data_cfg: DictConfig, seed: int) -> tuple[str, Metadata]:
    """(records dir, metadata) for `data_cfg`, writing the records first if needed."""
    data_fingerprint = fingerprint(data_cfg, seed)
    records_dir = records_path(data_cfg, seed, data_fingerprint)
    with records_lock(records_dir):  # a second process of this data waits, then reuses them
        if (metadata := read_metadata(records_dir)) is None:
            return records_dir, preprocess(data_cfg, seed, data_fingerprint)
    log.info("Reusing the records in %s", records_dir)
    return records_dir, metadata
{%- if cookiecutter.cluster %}


def wait_for_records(
    data_cfg: DictConfig, seed: int, timeout_s: float, heartbeat: Callable[[], None]
) -> tuple[str, Metadata]:
    """(records dir, metadata) once the chief worker has written them; `heartbeat()` each second."""
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


def assign_splits(
    labels: np.ndarray, validation_fraction: float, test_fraction: float, seed: int
) -> np.ndarray:
    """The split of each example (its index in SPLITS), stratified by label and seeded."""
    splits, rest = np.zeros(len(labels), np.int64), np.arange(len(labels))
    seeded_split = functools.partial(train_test_split, random_state=seed)
    try:
        if test_fraction:
            rest, test = seeded_split(rest, test_size=test_fraction, stratify=labels)
            splits[test] = SPLITS.index("test")
        validation_size = validation_fraction / (1.0 - test_fraction)
        _, validation = seeded_split(rest, test_size=validation_size, stratify=labels[rest])
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
) -> tuple[np.ndarray, TrainSummary]:
    """Streams each example into its split's file; returns the counts per split and class."""
    test_fraction = 0.0 if examples.test else data_cfg.test_fraction
    labels = np.asarray(examples.labels, np.int64)
    parts = [(examples, assign_splits(labels, data_cfg.validation_fraction, test_fraction, seed))]
    if examples.test:  # the source's own test split
        parts.append((examples.test, np.full(len(examples.test.labels), SPLITS.index("test"))))
    counts = np.zeros((len(SPLITS), len(examples.class_names)), np.int64)
    summary = TrainSummary(data_cfg)
    with contextlib.ExitStack() as stack:
        paths = [input_ops.records_file(records_dir, split) for split in SPLITS]
        writers = [stack.enter_context(tf.io.TFRecordWriter(path)) for path in paths]
        for part, splits in parts:
            for index, stored, facts in encode_examples(part.inputs, part.from_files, data_cfg):
                label, split = part.labels[index], splits[index]
                writers[split].write(input_ops.serialize_example(stored, int(label)))
                counts[split, label] += 1
                if split == 0:
                    summary.add(stored, facts)
    return counts, summary


def preprocess(data_cfg: DictConfig, seed: int, data_fingerprint: str | None = None) -> Metadata:
    """Writes the records, then metadata.json (which marks them finished), and returns it."""
    if data_cfg.name not in SOURCES:
        raise ValueError(f"data={data_cfg.name!r} is no data source; choose one of {[*SOURCES]}")
    examples = SOURCES[data_cfg.name](data_cfg, seed)
    examples = sources.check_examples(examples, data_cfg.name, data_cfg.get("path"))
    data_fingerprint = data_fingerprint or fingerprint(data_cfg, seed)
    records_dir = records_path(data_cfg, seed, data_fingerprint)
    tf.io.gfile.makedirs(records_dir)
    counts, summary = write_records(examples, data_cfg, seed, records_dir)
    class_names = examples.class_names
    empty = [name for name, count in zip(class_names, counts[0], strict=True) if not count]
    if empty:
        raise ValueError(
            f"The class(es) {empty} have no training examples (unreadable ones left out). Add "
            "some or remove the class(es)."
        )
    per_split = {}
    for split, row in zip(SPLITS, counts, strict=True):
        per_class = dict(zip(class_names, row.tolist(), strict=True))
        per_split[split] = {"total": sum(per_class.values()), "per_class": per_class}
    content = {"source": data_cfg.name, "fingerprint": data_fingerprint, "counts": per_split}
    content |= {"class_names": class_names, "num_classes": len(class_names)}
    content |= summary.metadata(records_dir)
    jsonio.write_json(os.path.join(records_dir, METADATA_FILE), content)
    totals = ", ".join(f"{count['total']} {split}" for split, count in per_split.items())
    log.info("Wrote %s to %s", totals, records_dir)
    return Metadata.read(records_dir)  # as every reader sees it


@hydra.main(version_base="1.3", config_path="../configs", config_name="config")
def main(cfg: DictConfig) -> None:
    """Console script: {{ cookiecutter.package_name }}-preprocess [data=...] [key=value ...]"""
    cli.setup_logging()
    with cli.exit_on_user_error():
        check_config(cfg)
        ensure_preprocessed(cfg.data, cfg.seed)


if __name__ == "__main__":
    main()
