"""Text sources for preprocess_data: each returns RawExamples of UTF-8 text.

    {{ cookiecutter.package_name }}-preprocess data=digit_sentences                    # generated
    {{ cookiecutter.package_name }}-preprocess data=csv data.path=sms.csv data.text_column=text data.label_column=label
    {{ cookiecutter.package_name }}-preprocess data=text_folder data.path=texts/       # texts/<class>/<file>.txt
    {{ cookiecutter.package_name }}-preprocess data=imdb                               # downloaded once, cached

CSV files and text folders are read twice, never held in memory: to check them, then to
write the records.
"""

import csv
import dataclasses
import itertools
import json
import logging
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import tensorflow as tf
from omegaconf import DictConfig

from . import sources, text_ops
from .sources import RawExamples

log = logging.getLogger(__name__)

DIGIT_WORDS = ["Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine"]
KERAS_DATASETS = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
CSV_DELIMITERS = ",;\t|"  # the ones the sniffer may pick, and tried in this order
NAMED = 20  # bad rows or files named in a message; the others are only counted


def digit_sentences(data_cfg: DictConfig, seed: int) -> RawExamples:
    """Sentences of 3 to 6 digit words, all odd ("One Seven Three") or all even: the
    sequence-classification task of *Learning TensorFlow*, chapter 6."""
    rng = np.random.default_rng(seed)
    labels = [index % 2 for index in range(data_cfg.num_examples)]
    choices = [[2, 4, 6, 8], [1, 3, 5, 7, 9]]
    digits = [rng.choice(choices[label], rng.integers(3, 7)) for label in labels]
    texts = [" ".join(DIGIT_WORDS[digit] for digit in sentence).encode() for sentence in digits]
    return RawExamples(texts, labels, ["even", "odd"])


def synthetic(data_cfg: DictConfig, seed: int) -> RawExamples:
    """Tiny random sentences in three classes, each marked by one keyword among filler words."""
    rng = np.random.default_rng(seed)
    class_names = ["apple", "banana", "cherry"]
    labels = [index % 3 for index in range(data_cfg.num_examples)]
    texts = []
    for label in labels:
        words = list(rng.choice([f"w{number}" for number in range(20)], size=rng.integers(2, 6)))
        words.insert(int(rng.integers(0, len(words) + 1)), class_names[label].title())
        texts.append(" ".join(words).encode("utf-8"))
    return RawExamples(texts, labels, class_names)


@dataclasses.dataclass
class CsvFile:
    """A CSV file with a header row and one delimiter, never in memory: `scan` keeps the labels
    and the problems (ragged, missing, empty: count and first rows); iterating reads the texts."""

    path: str
    source: str  # "data.path=<path>", for messages
    dialect: type
    delimiter: str
    text_index: int = 0
    labels: list[str] = dataclasses.field(default_factory=list)
    named: dict = dataclasses.field(default_factory=lambda: defaultdict(list))
    counts: Counter = dataclasses.field(default_factory=Counter)

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        # A field can be as long as the file; the csv module stops at 128 KB unless told.
        csv.field_size_limit(max(csv.field_size_limit(), tf.io.gfile.stat(self.path).length + 1))
        with sources.open_text(self.path) as text:
            reader = csv.reader(text, self.dialect, delimiter=self.delimiter)
            try:
                yield from ((reader.line_num, row) for row in reader if row)
            except csv.Error as error:
                raise ValueError(
                    f"{self.source} cannot be read as CSV at line {reader.line_num}: {error}. "
                    "Fix that line, e.g. quote a field that holds quotes or line breaks."
                ) from error
            except UnicodeDecodeError as error:
                message = f"{self.source} is not UTF-8 text ({error}); save it as UTF-8."
                raise ValueError(message) from error

    @property
    def header(self) -> list[str]:
        return next(self.rows(), (0, []))[1]

    def scan(self, text_column: str, label_column: str) -> None:
        rows = self.rows()
        header = next(rows)[1]
        self.text_index, label_index = header.index(text_column), header.index(label_column)
        seen = {}  # one string per label, shared by its rows
        for line, row in rows:
            name = f"{os.path.basename(self.path)} row {line}"
            if len(row) != len(header):
                self.note("ragged", f"row {line} ({len(row)} fields)")
            elif not row[label_index].strip():
                self.note("missing", name)
            elif not row[self.text_index].strip():
                self.note("empty", name)
            else:
                label = row[label_index].strip()
                self.labels.append(seen.setdefault(label, label))

    def note(self, problem: str, name: str) -> None:
        self.counts[problem] += 1
        self.named[problem] += [name][: NAMED - len(self.named[problem])]

    def __iter__(self) -> Iterator[bytes]:
        for _, row in itertools.islice(self.rows(), 1, None):
            if row[self.text_index].strip():
                yield row[self.text_index].encode("utf-8")


def open_csv(path: str, columns: Sequence[str], key: str) -> CsvFile:
    """A CSV file, read as predict reads one: csv.Sniffer's dialect and delimiter, or the first
    of , ; tab | whose header has `columns`."""
    sources.require_path(path, key, "data/my_texts.csv")
    if tf.io.gfile.isdir(path):
        raise ValueError(
            f"{key}={path} is a folder; data=csv reads one CSV file, e.g. {key}=data/sms.csv. "
            "For a folder with one sub-folder of .txt files per class, use data=text_folder."
        )
    try:
        with sources.open_text(path) as text:
            dialect = csv.Sniffer().sniff(text.read(65536), delimiters=CSV_DELIMITERS)
    except (csv.Error, UnicodeDecodeError):  # a file that is not UTF-8 is named when read
        dialect = csv.excel
    files = [
        CsvFile(path, f"{key}={path}", dialect, d) for d in dialect.delimiter + CSV_DELIMITERS
    ]
    csv_file = next((file for file in files if set(columns) <= set(file.header)), files[0])
    header = csv_file.header
    for name, column in zip(("data.text_column", "data.label_column"), columns, strict=True):
        if column not in header:
            raise ValueError(
                f"{key}={path} has no column {column!r}; its columns are {header}. Set {name} "
                f"to one of them, e.g. {name}={(header or ['text'])[0]}."
            )
    return csv_file


def read_csv(path: str, columns: Sequence[str], key: str, skip_invalid: bool) -> CsvFile:
    """A checked CSV file (UTF-8 with or without BOM, RFC 4180 quoting): ragged or unlabelled
    rows are errors; empty texts too, unless skip_invalid (then left out)."""
    csv_file = open_csv(path, columns, key)
    csv_file.scan(*columns)
    if csv_file.counts["ragged"]:
        raise ValueError(
            f"{key}={path}: {csv_file.counts['ragged']} row(s) have more or fewer fields than "
            f"the header's {len(csv_file.header)} ({csv_file.delimiter!r}-separated), e.g. "
            f"{', '.join(csv_file.named['ragged'][:10])}. A text that holds the delimiter must "
            'be quoted, e.g. "Hi, all",ham; save the file with a CSV writer (it quotes them) or '
            "with another delimiter (tab, ';')."
        )
    if csv_file.counts["missing"]:
        raise ValueError(
            f"{csv_file.counts['missing']} row(s) have no {columns[1]!r} label: "
            f"{', '.join(csv_file.named['missing'])}. Label or remove them."
        )
    check_empty(csv_file.named["empty"], csv_file.counts["empty"], skip_invalid)
    return csv_file


def check_empty(empty: list[str], count: int, skip_invalid: bool) -> None:
    """`count` empty texts (the first named in `empty`): an error, or a warning with
    data.skip_invalid=true."""
    more = " ..." if count > len(empty) else ""
    if count and not skip_invalid:
        raise ValueError(
            f"{count} example(s) have an empty text: {', '.join(empty)}{more}. Fill or remove "
            "them, or set data.skip_invalid=true to leave them out."
        )
    if count:
        log.warning("Leaving out %d empty text(s): %s%s", count, ", ".join(empty), more)


def csv_source(data_cfg: DictConfig, seed: int) -> RawExamples:
    """The user's CSV: data.path with data.text_column and data.label_column; data.test_path."""
    columns = (data_cfg.text_column, data_cfg.label_column)
    texts = read_csv(data_cfg.path, columns, "data.path", data_cfg.skip_invalid)
    class_names = sorted(set(texts.labels))
    index = {name: position for position, name in enumerate(class_names)}
    examples = RawExamples(texts, [index[label] for label in texts.labels], class_names)
    if data_cfg.test_path:
        test = read_csv(data_cfg.test_path, columns, "data.test_path", data_cfg.skip_invalid)
        sources.check_test_classes(set(test.labels), class_names)
        examples.test = RawExamples(test, [index[label] for label in test.labels], class_names)
    return examples


def read_text(path: str) -> str:
    try:
        return sources.read_file(path).decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path} is not UTF-8 text ({error}); save it as UTF-8.") from error


def text_folder(data_cfg: DictConfig, seed: int) -> RawExamples:
    """The user's texts: data.path/<class_name>/<example>.txt; data.test_path alike."""

    def read_folder(root: str, key: str) -> RawExamples:
        paths, labels, class_names = sources.list_class_files(root, (".txt",), key=key)
        empty = {path for path in paths if not read_text(path).strip()}
        check_empty(sorted(empty)[:NAMED], len(empty), data_cfg.skip_invalid)
        keep = [index for index, path in enumerate(paths) if path not in empty]
        inputs, labels = [paths[i] for i in keep], [labels[i] for i in keep]
        return RawExamples(inputs, labels, class_names, from_files=True)

    examples = read_folder(data_cfg.path, "data.path")
    if data_cfg.test_path:
        test = read_folder(data_cfg.test_path, "data.test_path")
        test.labels = sources.map_test_labels(test.class_names, test.labels, examples.class_names)
        examples.test = dataclasses.replace(test, class_names=examples.class_names)
    return examples


def imdb(data_cfg: DictConfig, seed: int) -> RawExamples:
    """IMDB movie reviews (25,000 + 25,000, negative/positive): Keras' imdb.npz of word ids,
    turned back into text with its word index (not keras.datasets: its hash check would
    download again over an archive a test wrote)."""
    archive_path, index_path = (
        sources.fetch_archive(name, KERAS_DATASETS + name, data_cfg.download_dir)
        for name in ("imdb.npz", "imdb_word_index.json")
    )
    with open(index_path) as index_file:
        words = {index + 3: word for word, index in json.load(index_file).items()}
    splits = []
    with np.load(archive_path, allow_pickle=True) as archive:
        for part in ("train", "test"):
            texts = [" ".join(words[i] for i in ids if i in words) for ids in archive[f"x_{part}"]]
            labels = [int(label) for label in archive[f"y_{part}"]]
            texts = [text.encode("utf-8") for text in texts]
            splits.append(RawExamples(texts, labels, ["negative", "positive"]))
    return sources.with_test_split(*splits)


SOURCES = {
    source.__name__: source for source in (digit_sentences, synthetic, text_folder, imdb)
} | {"csv": csv_source}


def encode_examples(inputs: Iterable, from_files: bool, data_cfg: DictConfig) -> Iterator[tuple]:
    """(UTF-8 text to store, None) per example, read from its file when `from_files`."""
    for raw in inputs:
        yield (read_text(raw).encode("utf-8") if from_files else raw), None


class TrainSummary:
    """The words of the training texts, counted a batch at a time; `metadata` writes the
    vocabulary the model's vectorizer reads."""

    def __init__(self, data_cfg: DictConfig):
        self.data_cfg = data_cfg
        self.counts, self.batch = Counter(), []

    def add(self, stored: bytes, statistics: None) -> None:
        self.batch.append(stored)
        if len(self.batch) == 1024:
            self.count_batch()

    def count_batch(self) -> None:
        """Counts the words of the texts added since, split as the model's vectorizer does."""
        words = text_ops.split_words(tf.constant(self.batch, tf.string)).flat_values
        self.counts.update(word.decode("utf-8") for word in words.numpy())
        self.batch = []

    def metadata(self, assets_dir: str) -> dict:
        """Writes the vocabulary to assets_dir: PAD_TOKEN, OOV_TOKEN, then the words seen at
        least data.min_word_count times, most frequent first (ties alphabetically)."""
        self.count_batch()
        ranked = sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))
        min_count, unknown = self.data_cfg.min_word_count, text_ops.OOV_TOKEN  # of a text of "?!"
        words = [word for word, count in ranked if count >= min_count and word != unknown]
        vocabulary = [text_ops.PAD_TOKEN, text_ops.OOV_TOKEN, *words]
        vocabulary = vocabulary[: max(self.data_cfg.max_vocab_size, 2)]
        path = os.path.join(assets_dir, text_ops.VOCABULARY_FILE)
        with tf.io.gfile.GFile(path + ".tmp", "w") as vocabulary_file:
            vocabulary_file.write("\n".join(vocabulary) + "\n")
        tf.io.gfile.rename(path + ".tmp", path, overwrite=True)
        sizes = {"sequence_length": self.data_cfg.sequence_length, "vocab_size": len(vocabulary)}
        return {**sizes, "vocabulary_file": text_ops.VOCABULARY_FILE, "model_inputs": sizes}
