"""Text sources for preprocess_data: each returns RawExamples of UTF-8 text.

For example:

    {{ cookiecutter.package_name }}-preprocess data=digit_sentences                    # generated
    {{ cookiecutter.package_name }}-preprocess data=csv data.path=sms.csv data.text_column=text data.label_column=label
    {{ cookiecutter.package_name }}-preprocess data=text_folder data.path=texts/       # texts/<class>/<file>.txt
    {{ cookiecutter.package_name }}-preprocess data=imdb                               # downloaded once, cached

CSV files and text folders are read twice, never held in memory: once to check them and
collect the labels, once while the records are written.
"""

import csv
import json
import logging
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tensorflow as tf
from omegaconf import DictConfig

from . import input_ops
from .sources import (
    RawExamples,
    check_test_classes,
    fetch_archive,
    list_class_files,
    map_test_labels,
    open_text,
    read_file,
    require_path,
    with_test_split,
)

log = logging.getLogger(__name__)

DIGIT_WORDS = ["Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine"]
KERAS_DATASETS = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
CSV_DELIMITERS = ",;\t|"  # the ones the sniffer may pick; each is tried when rows do not fit


def digit_sentences(data_cfg: DictConfig, seed: int) -> RawExamples:
    """Sentences of 3 to 6 digit words, all odd ("One Seven Three") or all even.

    The sequence-classification task of *Learning TensorFlow*, chapter 6.
    """
    rng = np.random.default_rng(seed)
    class_names = ["even", "odd"]
    digits_by_label = [[2, 4, 6, 8], [1, 3, 5, 7, 9]]
    raw_inputs, labels = [], []
    for index in range(data_cfg.num_examples):
        label = index % 2
        digits = rng.choice(digits_by_label[label], size=rng.integers(3, 7))
        sentence = " ".join(DIGIT_WORDS[digit] for digit in digits)
        raw_inputs.append(sentence.encode("utf-8"))
        labels.append(label)
    return RawExamples(raw_inputs, labels, class_names)


def synthetic(data_cfg: DictConfig, seed: int) -> RawExamples:
    """Tiny random sentences in three classes, each marked by one keyword among filler words."""
    rng = np.random.default_rng(seed)
    class_names = ["apple", "banana", "cherry"]
    filler = [f"w{number}" for number in range(20)]
    raw_inputs, labels = [], []
    for index in range(data_cfg.num_examples):
        label = index % len(class_names)
        words = list(rng.choice(filler, size=rng.integers(2, 6)))
        words.insert(int(rng.integers(0, len(words) + 1)), class_names[label].title())
        raw_inputs.append(" ".join(words).encode("utf-8"))
        labels.append(label)
    return RawExamples(raw_inputs, labels, class_names)


NAMED_ROWS = 20  # rows named in a message; the others are only counted


def check_empty(empty: list[str], count: int, skip_invalid: bool) -> None:
    """Empty texts (the first ones named in `empty`, `count` in all) are an error unless
    data.skip_invalid=true; then they are left out with a warning."""
    if count and not skip_invalid:
        raise ValueError(
            f"{count} example(s) have an empty text: {', '.join(empty)}"
            f"{' ...' if count > len(empty) else ''}. Fill or remove them, or set "
            "data.skip_invalid=true to leave them out."
        )
    if count:
        log.warning("Leaving out %d empty text(s): %s", count, ", ".join(empty))


def csv_rows(path: str, source: str, dialect: Any, **options) -> Iterator[tuple[int, list]]:
    """The (line number, fields) of each non-blank row of a CSV file, header first, streamed."""
    # A field can be as long as the file; the csv module stops at 128 KB unless told.
    csv.field_size_limit(max(csv.field_size_limit(), tf.io.gfile.stat(path).length + 1))
    with open_text(path) as text:
        reader = csv.reader(text, dialect, **options)
        try:
            for row in reader:
                if row:
                    yield reader.line_num, row
        except csv.Error as error:
            raise ValueError(
                f"{source} cannot be read as CSV at line {reader.line_num}: {error}. Fix that "
                "line, e.g. quote a field that holds quotes or line breaks."
            ) from error
        except UnicodeDecodeError as error:
            raise ValueError(f"{source} is not UTF-8 text ({error}); save it as UTF-8.") from error


@dataclass
class CsvScan:
    """What one pass over a CSV file with one dialect found; labels only when the header has
    the text and label columns."""

    header: list[str]
    dialect: Any
    options: dict
    ragged: list = field(default_factory=list)  # (line, fields) of the first rows that misfit
    ragged_count: int = 0
    labels: list[str] = field(default_factory=list)  # of the rows with a text
    empty: list[str] = field(default_factory=list)  # names of the first rows without a text
    empty_count: int = 0
    missing: list[str] = field(default_factory=list)  # names of the first rows without a label
    missing_count: int = 0


def scan_csv(path: str, source: str, columns: Sequence[str], dialect, **options) -> CsvScan:
    """Walks a CSV file once with one dialect; see CsvScan."""
    rows = csv_rows(path, source, dialect, **options)
    scan = CsvScan(next(rows, (0, []))[1], dialect, options)
    indices = [scan.header.index(column) for column in columns if column in scan.header]
    seen = {}  # one string per label, shared by its rows
    for line, row in rows:
        if len(row) != len(scan.header):
            scan.ragged_count += 1
            scan.ragged += [(line, len(row))][: NAMED_ROWS - len(scan.ragged)]
        elif len(indices) == 2 and not scan.ragged_count:
            name = f"{os.path.basename(path)} row {line}"
            text, label = row[indices[0]], row[indices[1]].strip()
            if not label:
                scan.missing_count += 1
                scan.missing += [name][: NAMED_ROWS - len(scan.missing)]
            if not text.strip():
                scan.empty_count += 1
                scan.empty += [name][: NAMED_ROWS - len(scan.empty)]
            else:
                scan.labels.append(seen.setdefault(label, label))
    return scan


def find_dialect(path: str, columns: Sequence[str], source: str) -> CsvScan:
    """Scans a CSV file with the delimiter that gives every row as many fields as the header.

    The sniffed dialect comes first; when some rows do not fit it, each other delimiter that
    finds `columns` in the header and fits every row is tried. Otherwise the first ragged rows
    are named in the error.
    """
    try:
        with open_text(path) as text:
            sniffed = csv.Sniffer().sniff(text.read(65536), delimiters=CSV_DELIMITERS)
    except csv.Error:
        sniffed = csv.excel
    except UnicodeDecodeError as error:
        raise ValueError(f"{source} is not UTF-8 text ({error}); save it as UTF-8.") from error
    scan = scan_csv(path, source, columns, sniffed)
    if not scan.ragged_count:
        return scan
    for delimiter in CSV_DELIMITERS.replace(sniffed.delimiter, ""):
        other = scan_csv(path, source, columns, csv.excel, delimiter=delimiter)
        if set(columns) <= set(other.header) and not other.ragged_count:
            return other
    first = ", ".join(f"row {line} ({count} fields)" for line, count in scan.ragged[:10])
    raise ValueError(
        f"{source}: {scan.ragged_count} row(s) have more or fewer fields than the header's "
        f"{len(scan.header)} ({sniffed.delimiter!r}-separated), e.g. {first}. A text that "
        f'holds the delimiter must be quoted, e.g. "Hi, all",ham; save the file with a CSV '
        "writer (it quotes them) or with another delimiter (tab, ';')."
    )


@dataclass
class CsvTexts:
    """The texts of a CSV file's rows that have one, read from the file each time they are
    walked, so that the file never has to fit in memory."""

    path: str
    scan: CsvScan
    text_index: int

    def __iter__(self) -> Iterator[bytes]:
        rows = csv_rows(self.path, self.path, self.scan.dialect, **self.scan.options)
        next(rows, None)  # the header
        for _, row in rows:
            if row[self.text_index].strip():
                yield row[self.text_index].encode("utf-8")


def read_csv(
    path: str, columns: tuple[str, str], key: str, skip_invalid: bool
) -> tuple[CsvTexts, list[str]]:
    """Checks a CSV file with a header row and returns its texts (read lazily) and labels.

    The delimiter is sniffed (comma, semicolon, tab, pipe) and checked on every row; UTF-8
    with or without a byte-order mark; quoted fields may hold delimiters and newlines
    (RFC 4180) and be of any length. A row with more or fewer fields than the header is an
    error, never a text cut short; so are rows without a label, and, unless skip_invalid,
    rows with an empty text (else left out).
    """
    require_path(path, key, "data/my_texts.csv")
    if tf.io.gfile.isdir(path):
        raise ValueError(
            f"{key}={path} is a folder; data=csv reads one CSV file, e.g. {key}=data/sms.csv. "
            "For a folder with one sub-folder of .txt files per class, use data=text_folder."
        )
    scan = find_dialect(path, columns, f"{key}={path}")
    for column_key, column in zip(("data.text_column", "data.label_column"), columns, strict=True):
        if column not in scan.header:
            raise ValueError(
                f"{key}={path} has no column {column!r}; its columns are {scan.header}. Set "
                f"{column_key} to one of them, e.g. {column_key}={(scan.header or ['text'])[0]}."
            )
    if scan.missing_count:
        raise ValueError(
            f"{scan.missing_count} row(s) have no {columns[1]!r} label: "
            f"{', '.join(scan.missing)}. Label or remove them."
        )
    check_empty(scan.empty, scan.empty_count, skip_invalid)
    return CsvTexts(path, scan, scan.header.index(columns[0])), scan.labels


def csv_source(data_cfg: DictConfig, seed: int) -> RawExamples:
    """The user's CSV: data.path with data.text_column and data.label_column; data.test_path."""
    columns = (data_cfg.text_column, data_cfg.label_column)
    texts, labels = read_csv(data_cfg.path, columns, "data.path", data_cfg.skip_invalid)
    class_names = sorted(set(labels))
    index = {name: position for position, name in enumerate(class_names)}
    examples = RawExamples(texts, [index[label] for label in labels], class_names)
    if data_cfg.test_path:
        test_texts, test_labels = read_csv(
            data_cfg.test_path, columns, "data.test_path", data_cfg.skip_invalid
        )
        check_test_classes(set(test_labels), class_names)
        examples.test = RawExamples(
            test_texts, [index[label] for label in test_labels], class_names
        )
    return examples


def read_text_folder(root: str, key: str, skip_invalid: bool) -> tuple[list, list, list]:
    """Checks a folder of .txt files (UTF-8, not empty); returns the paths of those to use,
    their labels and the class names. The texts are read again when the records are written."""
    paths, labels, class_names = list_class_files(root, (".txt",), key=key)
    empty = []
    for path in paths:
        try:
            if not read_file(path).decode("utf-8-sig").strip():
                empty.append(path)
        except UnicodeDecodeError as error:
            raise ValueError(f"{path} is not UTF-8 text ({error}); save it as UTF-8.") from error
    check_empty(empty[:NAMED_ROWS], len(empty), skip_invalid)
    empty = set(empty)
    keep = [index for index, path in enumerate(paths) if path not in empty]
    return [paths[i] for i in keep], [labels[i] for i in keep], class_names


def text_folder(data_cfg: DictConfig, seed: int) -> RawExamples:
    """The user's texts: data.path/<class_name>/<example>.txt; data.test_path alike."""
    paths, labels, class_names = read_text_folder(
        data_cfg.path, "data.path", data_cfg.skip_invalid
    )
    examples = RawExamples(paths, labels, class_names, from_files=True)
    if data_cfg.test_path:
        test_paths, test_labels, test_classes = read_text_folder(
            data_cfg.test_path, "data.test_path", data_cfg.skip_invalid
        )
        test_labels = map_test_labels(test_classes, test_labels, class_names)
        examples.test = RawExamples(test_paths, test_labels, class_names, from_files=True)
    return examples


def imdb(data_cfg: DictConfig, seed: int) -> RawExamples:
    """IMDB movie reviews (25,000 + 25,000, negative/positive), from Keras' imdb.npz.

    The archive holds word ids; the reviews are turned back into text with its word index,
    so they go through the same tokenisation as any other text.
    """
    archive_path = fetch_archive("imdb.npz", KERAS_DATASETS + "imdb.npz", data_cfg.download_dir)
    index_path = fetch_archive(
        "imdb_word_index.json", KERAS_DATASETS + "imdb_word_index.json", data_cfg.download_dir
    )
    with open(index_path) as index_file:
        words = {index + 3: word for word, index in json.load(index_file).items()}
    splits = []
    with np.load(archive_path, allow_pickle=True) as archive:
        for part in ("train", "test"):
            texts = [
                " ".join(words[i] for i in sequence if i in words).encode("utf-8")
                for sequence in archive[f"x_{part}"]
            ]
            labels = [int(label) for label in archive[f"y_{part}"]]
            splits.append(RawExamples(texts, labels, ["negative", "positive"]))
    return with_test_split(*splits)


SOURCES = {
    "digit_sentences": digit_sentences,
    "synthetic": synthetic,
    "csv": csv_source,
    "text_folder": text_folder,
    "imdb": imdb,
}


def encode_examples(
    inputs: Iterable, from_files: bool, data_cfg: DictConfig
) -> Iterator[tuple[bytes, None]]:
    """Yields (UTF-8 text to store, None) per example, reading text files when `from_files`.

    The sources have checked the texts already, so none is left out here.
    """
    del data_cfg
    for raw in inputs:
        yield (read_file(raw).decode("utf-8-sig").encode("utf-8") if from_files else raw), None


def count_words(counts: Counter, texts: list[bytes]) -> None:
    """Adds the words of `texts`, split as the model's input is (input_ops.split_words)."""
    for start in range(0, len(texts), 1024):
        words = input_ops.split_words(tf.constant(texts[start : start + 1024]))
        counts.update(word.decode("utf-8") for word in words.flat_values.numpy())


def rank_vocabulary(counts: Counter, max_size: int, min_count: int) -> list[str]:
    """The padding and out-of-vocabulary tokens, then the words seen at least `min_count`
    times, most frequent first (ties alphabetically, so the same texts give the same list)."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    words = [word for word, count in ranked if count >= min_count]
    return [input_ops.PAD_TOKEN, input_ops.OOV_TOKEN, *words[: max(max_size - 2, 0)]]


def build_vocabulary(train_texts: list[bytes], max_size: int, min_count: int) -> list[str]:
    """Returns the vocabulary of the training texts, most frequent words first."""
    counts = Counter()
    count_words(counts, train_texts)
    return rank_vocabulary(counts, max_size, min_count)


class TrainSummary:
    """The words of the training texts, counted a batch at a time (any number of texts).

    Its `metadata` writes the vocabulary and describes it for metadata.json.
    """

    def __init__(self, data_cfg: DictConfig):
        self.data_cfg = data_cfg
        self.counts, self.batch = Counter(), []

    def add(self, stored: bytes, statistics: None) -> None:
        """Adds one training text (as encode_examples gave it)."""
        del statistics
        self.batch.append(stored)
        if len(self.batch) == 1024:
            count_words(self.counts, self.batch)
            self.batch = []

    def metadata(self, assets_dir: str) -> dict:
        """Writes the vocabulary to assets_dir; returns the sequence length, vocabulary size
        and file, and the model inputs."""
        count_words(self.counts, self.batch)
        self.batch = []
        vocabulary = rank_vocabulary(
            self.counts, self.data_cfg.max_vocab_size, self.data_cfg.min_word_count
        )
        path = os.path.join(assets_dir, input_ops.VOCABULARY_FILE)
        with tf.io.gfile.GFile(path + ".tmp", "w") as vocabulary_file:
            vocabulary_file.write("\n".join(vocabulary) + "\n")
        tf.io.gfile.rename(path + ".tmp", path, overwrite=True)
        return {
            "sequence_length": self.data_cfg.sequence_length,
            "vocab_size": len(vocabulary),
            "vocabulary_file": input_ops.VOCABULARY_FILE,
            "model_inputs": {
                "sequence_length": self.data_cfg.sequence_length,
                "vocab_size": len(vocabulary),
            },
        }
