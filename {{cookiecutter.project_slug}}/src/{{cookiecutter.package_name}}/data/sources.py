"""What every data source shares. A source is a function ``(data_cfg, seed) -> RawExamples``
in {{ "image_sources.py" if cookiecutter.model_type == "cnn" else "text_sources.py" }}; paths go through tf.io.gfile, so ``gs://`` works like a local path."""

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import keras
import tensorflow as tf
from omegaconf import DictConfig

log = logging.getLogger(__name__)


@dataclass
class RawExamples:
    """Inputs (bytes, or paths if `from_files`), their class indices, the source's test split."""

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


def walk_files(root: str) -> tuple[list[str], dict[str, str]]:
    """(sorted regular files under `root`, {entry: why left out, e.g. hidden, FIFO, loop})."""
    files, skipped, seen = [], {}, set()
    # os.walk is 10x faster on a disk; tf.io.gfile.walk reads gs:// too. Both follow links.
    walk = tf.io.gfile.walk(root) if "://" in root else os.walk(root, followlinks=True)
    for folder, folders, names in walk:
        if os.path.realpath(folder) in seen:  # never on gs://, which has no links
            skipped[folder], folders[:] = "a link to a folder read already: a loop", []
            continue
        seen.add(os.path.realpath(folder))
        for name in folders + names:
            path = os.path.join(folder, name.rstrip("/"))
            if name[0] == ".":
                skipped[path] = "hidden"
            elif name not in folders and "://" not in root and not os.path.isfile(path):
                skipped[path] = "not a regular file: a FIFO, device, dead or looping link"
            elif name not in folders:
                files.append(path)
        folders[:] = sorted(name for name in folders if name[0] != ".")
    return sorted(files), skipped


def list_class_files(
    root: str, extensions: Sequence[str], key: str = "data.path"
) -> tuple[list[str], list[int], list[str]]:
    """(paths, class indices, sorted class names) of `root`/<class>/.../<file>; warns of others."""
    require_path(root, key, "data/my_{{ "images" if cookiecutter.model_type == "cnn" else "texts" }}")
    example = f"{root.rstrip('/')}/<class_name>/<file>{extensions[0]}"
    if not tf.io.gfile.isdir(root):
        raise ValueError(f"{key}={root} is a file, not a folder like {example}.")
    files, skipped = walk_files(root)
    by_class = {}
    for path in files:
        class_name, _, inside = os.path.relpath(path, root).partition(os.sep)
        if not inside:
            skipped[path] = "not in a class folder"
        elif not path.lower().endswith(tuple(extensions)):
            skipped[path] = f"not {'/'.join(extensions)}"
        else:
            by_class.setdefault(class_name, []).append(path)
    names = sorted(name.rstrip("/") for name in tf.io.gfile.listdir(root) if name[0] != ".")
    class_names = [name for name in names if tf.io.gfile.isdir(os.path.join(root, name))]
    class_names = [name for name in class_names if os.path.join(root, name) not in skipped]
    if not class_names:
        raise ValueError(f"{key}={root} has no class sub-folders. Expected {example}.")
    empty = [name for name in class_names if name not in by_class]
    if empty:
        raise ValueError(
            f"{key}={root}: the class folder(s) {empty} hold no {'/'.join(extensions)} files. "
            f"Add examples or remove the folder(s). Expected {example}."
        )
    left_out = sorted(f"{os.path.relpath(path, root)} ({why})" for path, why in skipped.items())
    if left_out:
        shown = ", ".join(left_out[:10]) + (" ..." if len(left_out) > 10 else "")
        log.warning(f"{key}={root}: leaving out {len(left_out)} entries: {shown}.")
    paths = [path for name in class_names for path in by_class[name]]
    labels = [label for label, name in enumerate(class_names) for _ in by_class[name]]
    return paths, labels, class_names


def class_indices(names: Iterable[str], class_names: Sequence[str]) -> list[int]:
    """The index in the training `class_names` of each example's class name, or an error."""
    names, index = list(names), {name: position for position, name in enumerate(class_names)}
    unseen = sorted(set(names) - set(class_names))
    if unseen:
        raise ValueError(
            f"data.test_path has the label(s) {unseen}, which the training data (data.path) "
            f"does not have; its classes are {list(class_names)}. Add training examples of "
            "them or remove them from the test data."
        )
    return [index[name] for name in names]


def class_folders(data_cfg: DictConfig, extensions: Sequence[str]) -> RawExamples:
    """The user's files (list_class_files) at data.path, and at data.test_path if it is set."""
    paths, labels, class_names = list_class_files(data_cfg.path, extensions)
    examples = RawExamples(paths, labels, class_names, from_files=True)
    if data_cfg.test_path:
        paths, labels, names = list_class_files(data_cfg.test_path, extensions, "data.test_path")
        labels = class_indices([names[label] for label in labels], class_names)
        examples.test = RawExamples(paths, labels, class_names, from_files=True)
    return examples


def fetch_archive(file_name: str, origin: str, download_dir: str | None) -> str:
    """The local path of an archive, downloaded once to <download_dir or ~/.keras>/datasets."""
    cache_dir = os.path.expanduser(download_dir) if download_dir else None
    try:
        return keras.utils.get_file(file_name, origin=origin, cache_dir=cache_dir)
    except Exception as error:
        target = os.path.join(cache_dir or "~/.keras", "datasets", file_name)
        raise RuntimeError(
            f"Could not download {origin} ({error}). Without network access, copy the file to "
            f"{target} and run again."
        ) from error


def check_examples(examples: RawExamples, source: str, path: str | None = None) -> RawExamples:
    """Checks that a source gave two classes or more, and test examples if it has a test split."""
    if len(examples.class_names) < 2:
        where = f" (data.path={path})" if path else ""
        raise ValueError(
            f"data={source}{where} has only one class, {examples.class_names}: a classifier "
            "needs at least two. Add another class (a class folder, or rows with another label)."
        )
    if examples.test is not None and not len(examples.test.labels):
        raise ValueError(f"data={source} gave no test examples; check data.test_path.")
    return examples
