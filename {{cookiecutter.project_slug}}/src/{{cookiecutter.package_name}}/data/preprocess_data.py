"""Raw source -> sharded TFRecord files (train / validation / test) + metadata.json.

    {{ cookiecutter.package_name }}-preprocess                       # the default data
    {{ cookiecutter.package_name }}-preprocess data=synthetic data.num_shards=4
    python -m {{ cookiecutter.package_name }}.data.preprocess_data data=synthetic

The records go to ``data.records_dir`` (any tf.io.gfile path, gs:// included). metadata.json
is written last and holds a fingerprint of the data config, so a half-written directory is
never mistaken for a finished one, and `ensure_preprocessed` reuses finished records until
the config changes. train, eval and export call `ensure_preprocessed` themselves.
"""

import hashlib
import json
import logging
import os

import hydra
import numpy as np
import tensorflow as tf
from omegaconf import DictConfig, OmegaConf
from sklearn.model_selection import train_test_split

from .. import runs
from ..config import register_configs
from . import input_ops
from .{{ "image" if cookiecutter.model_type == "cnn" else "text" }}_sources import SOURCES, summarize

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
SPLITS = ("train", "validation", "test")
METADATA_FILE = "metadata.json"
# Keys that change how records are read, not what they hold: no rebuild when they change.
LOADER_ONLY_KEYS = ("records_dir", "cache", "shuffle_buffer")


def fingerprint(data_cfg: DictConfig, seed: int) -> str:
    """Returns a hash of everything that decides the content of the records."""
    data = OmegaConf.to_container(data_cfg, resolve=True)
    for key in LOADER_ONLY_KEYS:
        data.pop(key, None)
    blob = json.dumps({"data": data, "seed": seed, "format": FORMAT_VERSION}, sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def read_metadata(records_dir: str) -> dict | None:
    """Returns the metadata of finished records in `records_dir`, or None."""
    path = os.path.join(records_dir, METADATA_FILE)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as metadata_file:
        return json.load(metadata_file)


def write_json(path: str, content: dict) -> None:
    """Writes JSON to a temporary file and renames it, so readers never see half a file."""
    with tf.io.gfile.GFile(path + ".tmp", "w") as json_file:
        json.dump(content, json_file, indent=2)
    tf.io.gfile.rename(path + ".tmp", path, overwrite=True)


def ensure_preprocessed(data_cfg: DictConfig, seed: int) -> dict:
    """Returns the metadata of the records for `data_cfg`, writing them first if needed."""
    metadata = read_metadata(data_cfg.records_dir)
    if metadata is not None and metadata["fingerprint"] == fingerprint(data_cfg, seed):
        log.info("Reusing the records in %s", data_cfg.records_dir)
        return metadata
    if metadata is not None:
        log.info(
            "The data config changed since %s was written: rebuilding it", data_cfg.records_dir
        )
    return preprocess(data_cfg, seed)


def load_source(data_cfg: DictConfig, seed: int) -> tuple[list[bytes], np.ndarray, list[str]]:
    """Runs the source named by data.name and checks that every class has examples."""
    if data_cfg.name not in SOURCES:
        raise ValueError(
            f"data={data_cfg.name!r} is not a data source of this project. "
            f"Choose one of: {', '.join(sorted(SOURCES))}, e.g. data={next(iter(SOURCES))}."
        )
    raw_inputs, labels, class_names = SOURCES[data_cfg.name](data_cfg, seed)
    labels = np.asarray(labels, dtype=np.int64)
    if not raw_inputs:
        raise ValueError(f"data={data_cfg.name!r} produced no examples; check its config.")
    counts = np.bincount(labels, minlength=len(class_names))
    empty = [name for name, count in zip(class_names, counts, strict=True) if count == 0]
    if empty:
        raise ValueError(f"data={data_cfg.name!r} has no examples of the classes {empty}.")
    return raw_inputs, labels, class_names


def split_indices(
    labels: np.ndarray, validation_fraction: float, test_fraction: float, seed: int
) -> dict[str, np.ndarray]:
    """Splits example indices into train / validation / test, stratified by label.

    The same labels, fractions and seed always give the same split.
    """
    for key, fraction in (("validation", validation_fraction), ("test", test_fraction)):
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"data.{key}_fraction={fraction} must be between 0 and 1, e.g. 0.1.")
    if validation_fraction + test_fraction >= 1.0:
        raise ValueError(
            "data.validation_fraction + data.test_fraction must leave examples to train on "
            f"(got {validation_fraction} + {test_fraction}); try 0.1 and 0.1."
        )
    indices = np.arange(len(labels))
    try:
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


def write_shards(
    records_dir: str, split: str, examples: list[bytes], num_shards: int
) -> dict[str, int]:
    """Writes serialised examples round-robin into `num_shards` files of equal size.

    Each shard is written under a temporary name and renamed once complete, so an
    interrupted run never leaves a shard that looks finished.

    Returns:
        Shard file name -> number of examples in it.
    """
    num_shards = max(1, min(num_shards, len(examples)))
    shard_sizes = {}
    for shard in range(num_shards):
        name = f"{split}-{shard:05d}-of-{num_shards:05d}.tfrecord"
        path = os.path.join(records_dir, name)
        shard_examples = examples[shard::num_shards]
        with tf.io.TFRecordWriter(path + ".tmp") as writer:
            for serialized in shard_examples:
                writer.write(serialized)
        tf.io.gfile.rename(path + ".tmp", path, overwrite=True)
        shard_sizes[name] = len(shard_examples)
    return shard_sizes


def clear_records(records_dir: str) -> None:
    """Removes the metadata first, then every shard, so no stale file survives a rebuild."""
    metadata_path = os.path.join(records_dir, METADATA_FILE)
    if tf.io.gfile.exists(metadata_path):
        tf.io.gfile.remove(metadata_path)
    for path in tf.io.gfile.glob(os.path.join(records_dir, "*.tfrecord*")):
        tf.io.gfile.remove(path)


def preprocess(data_cfg: DictConfig, seed: int) -> dict:
    """Writes the records and metadata.json for `data_cfg` and returns the metadata."""
    records_dir = data_cfg.records_dir
    raw_inputs, labels, class_names = load_source(data_cfg, seed)
    splits = split_indices(labels, data_cfg.validation_fraction, data_cfg.test_fraction, seed)
    tf.io.gfile.makedirs(records_dir)
    clear_records(records_dir)
    train_inputs = [raw_inputs[index] for index in splits["train"]]
    metadata = {
        "source": data_cfg.name,
        "fingerprint": fingerprint(data_cfg, seed),
        "class_names": class_names,
        "num_classes": len(class_names),
        **summarize(train_inputs, data_cfg, records_dir),
        "counts": {},
        "shards": {},
    }
    for split, indices in splits.items():
        examples = [
            input_ops.serialize_example(raw_inputs[index], int(labels[index])) for index in indices
        ]
        metadata["shards"][split] = write_shards(records_dir, split, examples, data_cfg.num_shards)
        per_class = np.bincount(labels[indices], minlength=len(class_names))
        metadata["counts"][split] = {
            "total": int(len(indices)),
            "per_class": dict(zip(class_names, per_class.tolist(), strict=True)),
        }
    write_json(os.path.join(records_dir, METADATA_FILE), metadata)
    log.info(
        "Wrote %s to %s",
        ", ".join(f"{count['total']} {split}" for split, count in metadata["counts"].items()),
        records_dir,
    )
    return metadata


@hydra.main(version_base="1.3", config_path="../configs", config_name="config")
def _main(cfg: DictConfig) -> None:
    runs.setup_logging()
    with runs.exit_on_user_error():
        ensure_preprocessed(cfg.data, cfg.seed)


def main() -> None:
    """Console script: {{ cookiecutter.package_name }}-preprocess [data=...] [key=value ...]"""
    register_configs()
    _main()


if __name__ == "__main__":
    main()
