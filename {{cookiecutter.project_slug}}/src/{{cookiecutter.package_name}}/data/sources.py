"""What every data source shares: its result type, RawExamples, and the helpers sources read
with. A source is a function ``(data_cfg, seed) -> RawExamples`` in {{ "image_sources.py" if cookiecutter.model_type == "cnn" else "text_sources.py" }}; paths go
through tf.io.gfile, so ``gs://`` works like a local path. List a folder as preprocess does:

    python -c "from {{ cookiecutter.package_name }}.data import sources; print(sources.list_class_files('PATH', ('{{ ".png" if cookiecutter.model_type == "cnn" else ".txt" }}',))[2])"
"""
{% if cookiecutter.model_type == "rnn" %}
import io
{%- endif %}
import logging
import os
{%- if cookiecutter.model_type == "cnn" %}
import re
{%- endif %}
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

log = logging.getLogger(__name__)


@dataclass
class RawExamples:
    """Raw inputs and the index of each one's class in `class_names`, with the source's own
    test split or None. `inputs` holds the bytes to store, or with `from_files` file paths: a
    sequence or any iterable that can be walked twice, so that it is read while writing."""

    inputs: Iterable
    labels: Sequence[int]
    class_names: list[str]
    test: "RawExamples | None" = None
    from_files: bool = False


def require_path(path: str | None, key: str, example: str) -> str:
    """Returns `path`, or explains that the config key `key` must name an existing one."""
    if not path:
        raise ValueError(f"{key} is not set. Point it at your data, e.g. {key}={example}")
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"{key}={path} does not exist. Check the path, e.g. {example}")
    return path


def list_class_files(
    root: str, extensions: Sequence[str], key: str = "data.path"
) -> tuple[list[str], list[int], list[str]]:
    """The files of a folder with a sub-folder per class (its deeper folders included), e.g.
    ``imgs/cat/001.png``: their paths, class indices and the sorted class names. Hidden files
    are skipped; those without one of the lower-case `extensions` are named in one warning."""
    require_path(root, key, "data/my_{{ "images" if cookiecutter.model_type == "cnn" else "texts" }}")
    if not tf.io.gfile.isdir(root):
        raise ValueError(f"{key}={root} is a file, not a folder with one sub-folder per class.")
    names = sorted(name.rstrip("/") for name in tf.io.gfile.listdir(root) if name[0] != ".")
    class_names = [name for name in names if tf.io.gfile.isdir(os.path.join(root, name))]
    example = f"{root.rstrip('/')}/<class_name>/<file>{extensions[0]}"
    if not class_names:
        raise ValueError(
            f"{key}={root} has no class sub-folders. Expected {example}, "
            f"e.g. {root.rstrip('/')}/cat/001{extensions[0]}."
        )
    files, others = [[] for _ in class_names], []
    for label, name in enumerate(class_names):
        for parent, _, file_names in tf.io.gfile.walk(os.path.join(root, name)):
            for path in (os.path.join(parent, file_name) for file_name in file_names):
                if any(part[0] == "." for part in os.path.relpath(path, root).split(os.sep)):
                    continue  # hidden: .DS_Store, .ipynb_checkpoints/
                taken = path.lower().endswith(tuple(extensions))
                (files[label] if taken else others).append(path)
    empty = [name for name, paths in zip(class_names, files, strict=True) if not paths]
    if empty:
        raise ValueError(
            f"{key}={root}: the class folder(s) {empty} hold no {'/'.join(extensions)} files. "
            f"Add examples or remove the folder(s). Expected {example}."
        )
    if others:
        left_out = sorted(os.path.relpath(path, root) for path in others)
        log.warning(
            f"{key}={root}: leaving out {len(others)} file(s) that are not "
            f"{'/'.join(extensions)}: {', '.join(left_out[:10])}{' ...' if len(others) > 10 else ''}"
            ". Convert them to use them."
        )
    paths = [path for class_files in files for path in sorted(class_files)]
    return paths, [label for label, paths in enumerate(files) for _ in paths], class_names
{%- if cookiecutter.model_type == "rnn" %}


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
{%- endif %}


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
{%- if cookiecutter.model_type == "cnn" %}


def error_reason(error: Exception) -> str:
    """The whole reason of an error on one line, without TensorFlow's op-name decorations."""
    text = re.sub(r"\{\{function_node [^}]*\}\}|\[Op:\w+\]( name: \S*)?", "", str(error))
    return " ".join(text.split())
{%- endif %}


def check_examples(examples: RawExamples, source: str, path: str | None = None) -> RawExamples:
    """Checks that a source gave two classes or more, and examples of each to train on."""
    if len(examples.class_names) < 2:
        where = f" (data.path={path})" if path else ""
        raise ValueError(
            f"data={source}{where} has only one class, {examples.class_names}: a classifier "
            "needs at least two, or it learns nothing and scores 100%. Add the examples of "
            "at least one other class (e.g. a second class folder, or rows with another label)."
        )
    labels = np.asarray(examples.labels, np.int64)
    counts = np.bincount(labels, minlength=len(examples.class_names))
    empty = [name for name, count in zip(examples.class_names, counts, strict=True) if not count]
    if empty:
        raise ValueError(f"data={source} has no training examples of {empty}; add some.")
    if examples.test is not None and not len(examples.test.labels):
        raise ValueError(f"data={source} gave no test examples; check data.test_path.")
    return examples
