"""What every data source shares: its result type and the file helpers they read with.

A source is a function ``(data_cfg, seed) -> RawExamples``; the sources of this project are
in {{ "image_sources.py" if cookiecutter.model_type == "cnn" else "text_sources.py" }}. Paths go through tf.io.gfile, so ``gs://`` and other
remote paths work like local ones. Inspect a folder as preprocess_data would with:

    python -c "from {{ cookiecutter.package_name }}.data import sources; print(sources.list_class_files('PATH', ('.png',))[2])"
"""

import io
import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

log = logging.getLogger(__name__)


@dataclass
class RawExamples:
    """Raw inputs (the bytes each example is stored as) and their labels.

    Attributes:
        inputs: one bytes object per example, or with `from_files` one file path, in the order
            of `labels`: a sequence, or any iterable that can be walked more than once (CSV
            rows read again each time), so that inputs are read while the records are written.
        labels: index of each example's class in `class_names`.
        class_names: the classes, in a stable order.
        test: a test split given by the source (e.g. data.test_path); None to split one off.
        from_files: the inputs are the paths of files that hold the raw inputs.
    """

    inputs: Iterable
    labels: Sequence[int]
    class_names: list[str]
    test: "RawExamples | None" = None
    from_files: bool = False


def require_path(path: str | None, key: str, example: str) -> str:
    """Returns `path`, or explains that the config must name an existing one."""
    if not path:
        raise ValueError(f"{key} is not set. Point it at your data, e.g. {key}={example}")
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"{key}={path} does not exist. Check the path, e.g. {example}")
    return path


def list_class_files(
    root: str, extensions: Sequence[str], key: str = "data.path"
) -> tuple[list[str], list[int], list[str]]:
    """Lists the files of a folder with one sub-folder per class, e.g. ``imgs/cat/001.png``.

    Files in folders inside a class folder belong to that class; files that do not end with
    one of `extensions` (lower-case, e.g. (".png", ".jpg")) are named in one warning. `key` is
    the config key that named `root`, for messages.

    Returns:
        File paths, their class indices, and the class names (sorted folder names).
    """
    require_path(root, key, "data/my_{{ "images" if cookiecutter.model_type == "cnn" else "texts" }}")
    if not tf.io.gfile.isdir(root):
        raise ValueError(f"{key}={root} is a file, not a folder with one sub-folder per class.")
    class_names = sorted(
        name.rstrip("/")
        for name in tf.io.gfile.listdir(root)
        if tf.io.gfile.isdir(os.path.join(root, name)) and not name.startswith(".")
    )
    example = f"{root.rstrip('/')}/<class_name>/<file>{extensions[0]}"
    if not class_names:
        raise ValueError(
            f"{key}={root} has no class sub-folders. Expected {example}, "
            f"e.g. {root.rstrip('/')}/cat/001{extensions[0]}."
        )
    found = [walk_files(os.path.join(root, name), extensions) for name in class_names]
    empty = [name for name, (files, _) in zip(class_names, found, strict=True) if not files]
    if empty:
        raise ValueError(
            f"{key}={root}: the class folder(s) {empty} hold no {'/'.join(extensions)} files. "
            f"Add examples or remove the folder(s). Expected {example}."
        )
    others = [os.path.relpath(path, root) for _, other_files in found for path in other_files]
    if others:
        left_out = ", ".join(others[:10]) + (" ..." if len(others) > 10 else "")
        log.warning(
            f"{key}={root}: leaving out {len(others)} file(s) that are not "
            f"{'/'.join(extensions)}: {left_out}. Convert them to use them."
        )
    paths = [path for files, _ in found for path in files]
    return paths, [label for label, (files, _) in enumerate(found) for _ in files], class_names


def walk_files(folder: str, extensions: Sequence[str]) -> tuple[list[str], list[str]]:
    """The files under `folder`, sub-folders included, with one of `extensions` and without.

    Hidden files and folders (".DS_Store", ".ipynb_checkpoints/") are neither.
    """
    taken, others = [], []
    for parent, _, names in tf.io.gfile.walk(folder):
        relative = os.path.relpath(parent, folder)
        if any(part.startswith(".") and part != "." for part in relative.split(os.sep)):
            continue
        for name in names:
            if not name.startswith("."):
                path = os.path.join(parent, name)
                (taken if name.lower().endswith(tuple(extensions)) else others).append(path)
    return sorted(taken), sorted(others)


def read_file(path: str) -> bytes:
    """The bytes of a file (any tf.io.gfile path)."""
    with tf.io.gfile.GFile(path, "rb") as opened:
        return opened.read()


class GFileReader(io.RawIOBase):
    """A tf.io.gfile file (local, gs://, ...) as a Python binary stream, for io's wrappers."""

    def __init__(self, path: str):
        super().__init__()
        self.file = tf.io.gfile.GFile(path, "rb")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.file.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.file.close()
        super().close()


def open_text(path: str) -> io.TextIOWrapper:
    """Opens a UTF-8 file (with or without a byte-order mark) to read it line by line, line
    endings kept as they are (what the csv module needs)."""
    buffered = io.BufferedReader(GFileReader(path), buffer_size=1 << 20)
    return io.TextIOWrapper(buffered, encoding="utf-8-sig", newline="")


def check_test_classes(test_class_names: Sequence[str], class_names: Sequence[str]) -> None:
    """Raises ValueError when a given test split has a class the training data has not."""
    unseen = sorted(set(test_class_names) - set(class_names))
    if unseen:
        raise ValueError(
            f"data.test_path has the label(s) {unseen}, which the training data (data.path) "
            f"does not have; its classes are {list(class_names)}. Add training examples of "
            "them or remove them from the test data."
        )


def map_test_labels(
    test_class_names: Sequence[str], test_labels: Sequence[int], class_names: Sequence[str]
) -> list[int]:
    """Re-indexes a given test split's labels into the training classes (checked first)."""
    check_test_classes(test_class_names, class_names)
    index = {name: position for position, name in enumerate(class_names)}
    return [index[test_class_names[label]] for label in test_labels]


def with_test_split(train: RawExamples, test: RawExamples) -> RawExamples:
    """`train`, carrying `test` as the source's own test split."""
    train.test = test
    return train


def fetch_archive(file_name: str, origin: str, download_dir: str | None) -> str:
    """The local path of a data set archive, downloaded the first time only into
    ``<download_dir or ~/.keras>/datasets/<file_name>`` (keras.utils.get_file)."""
    cache_dir = os.path.expanduser(download_dir) if download_dir else None
    try:
        return keras.utils.get_file(file_name, origin=origin, cache_dir=cache_dir)
    except Exception as error:
        target = os.path.join(cache_dir or "~/.keras", "datasets", file_name)
        raise RuntimeError(
            f"Could not download {origin} ({error}). Without network access, copy the file to "
            f"{target} and run again."
        ) from error


def error_reason(error: Exception) -> str:
    """The whole reason of an error on one line, without TensorFlow's op-name decorations."""
    text = re.sub(r"\{\{function_node [^}]*\}\}|\[Op:\w+\]( name: \S*)?", "", str(error))
    return " ".join(text.split())


def check_examples(examples: RawExamples, source: str, path: str | None = None) -> RawExamples:
    """Checks that a source gave at least two classes, training examples of each, and test
    examples when it gives a test split."""
    if len(examples.class_names) < 2:
        where = f" (data.path={path})" if path else ""
        raise ValueError(
            f"data={source}{where} has only one class, {examples.class_names}: a classifier "
            "needs at least two, or it learns nothing and scores 100%. Add the examples of "
            "at least one other class (e.g. a second class folder, or rows with another label)."
        )
    for part, name in ((examples, "training"), (examples.test or examples, "test")):
        if not len(part.labels):
            raise ValueError(f"data={source} gave no {name} examples; check data.path.")
    counts = np.bincount(examples.labels, minlength=len(examples.class_names))
    empty = [name for name, count in zip(examples.class_names, counts, strict=True) if not count]
    if empty:
        raise ValueError(f"data={source} has no training examples of {empty}; add some.")
    return examples
