"""Text sources for preprocess_data (RawExamples of UTF-8 text; CSV files and folders are read
twice, to check, then to write), and the vocabulary. To add one, see docs/architecture.md."""

import csv
import itertools
import json
import logging
import os
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import tensorflow as tf
from omegaconf import DictConfig

from .. import jsonio
from . import sources, text_ops
from .sources import RawExamples
{%- if cookiecutter.tfds %}
from .tfds_source import tfds_examples
{%- endif %}

log = logging.getLogger(__name__)

DIGIT_WORDS = ["Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine"]
KERAS_DATASETS = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def digit_sentences(data_cfg: DictConfig, seed: int) -> RawExamples:
    """3 to 6 digit words, all odd ("One Seven") or all even: *Learning TensorFlow*, chapter 6."""
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


def utf8(content: bytes, where: str) -> str:
    """`content` (UTF-8, with or without a byte-order mark) as text, or a clear error."""
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"{where} is not UTF-8 text ({error}); save it as UTF-8.") from error


def csv_rows(path: str, key: str, dialect: type[csv.Dialect]) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each row of a CSV file after its header, blank rows left out."""
    # A text may be as long as the file; the csv module stops at 128 KB unless told.
    csv.field_size_limit(max(csv.field_size_limit(), tf.io.gfile.stat(path).length + 1))
    with tf.io.gfile.GFile(path, "rb") as opened:  # line by line, endings kept, as csv needs
        lines = (utf8(line, f"{key}={path} line {n}") for n, line in enumerate(opened, 1))
        reader = csv.reader(lines, dialect)
        try:
            yield from itertools.islice(((reader.line_num, row) for row in reader if row), 1, None)
        except csv.Error as error:
            raise ValueError(
                f"{key}={path} cannot be read as CSV at line {reader.line_num}: {error}. "
                "Fix that line, e.g. quote a field that holds quotes or line breaks."
            ) from error


def sniff_csv(path: str, columns: Sequence[str], key: str) -> tuple[type[csv.Dialect], list]:
    """(dialect, header) of a CSV file, read as predict reads one: csv.Sniffer's, else Excel's."""
    sources.require_path(path, key, "data/my_texts.csv")
    if tf.io.gfile.isdir(path):
        raise ValueError(
            f"{key}={path} is a folder; data=csv reads one CSV file, e.g. {key}=data/sms.csv. "
            "For a folder with one sub-folder of .txt files per class, use data=text_folder."
        )
    with tf.io.gfile.GFile(path, "rb") as opened:
        sample = opened.read(65536).decode("utf-8-sig", errors="replace")
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    header = next(csv.reader(sample.splitlines(keepends=True), dialect), [])
    if not header:
        raise ValueError(f"{key}={path} is empty. Expected a header row, then a row per example.")
    for name, column in zip(("data.text_column", "data.label_column"), columns, strict=True):
        if column not in header:
            raise ValueError(
                f"{key}={path} has no column {column!r}; its columns are {header}. Set {name} "
                f"to one of them, e.g. {name}={(header or ['text'])[0]}."
            )
    return dialect, header


def check_empty(count: int, first: str, skip_invalid: bool) -> None:
    """`count` empty texts, the first at `first`: an error, or with data.skip_invalid a warning."""
    if count and not skip_invalid:
        raise ValueError(
            f"{count} example(s) have an empty text, the first {first}. Fill or remove them, "
            "or set data.skip_invalid=true to leave them out."
        )
    if count:
        log.warning("Leaving out %d empty text(s), the first %s", count, first)


def read_csv(path: str, columns: Sequence[str], key: str, skip_invalid: bool) -> tuple:
    """(label of each kept row, their texts) of a checked CSV file (RFC 4180 quoting): ragged
    or unlabelled rows are errors; empty texts too, unless skip_invalid (then left out)."""
    dialect, header = sniff_csv(path, columns, key)
    text, label = header.index(columns[0]), header.index(columns[1])
    labels, counts, first = [], Counter(), {}  # per problem: rows, (line, fields) of the first
    for line, row in csv_rows(path, key, dialect):
        if len(row) != len(header):
            problem = "ragged"
        elif not row[label].strip():
            problem = "unlabelled"
        elif not row[text].strip():
            problem = "empty"
        else:
            labels.append(sys.intern(row[label].strip()))  # one string per class, not per row
            continue
        counts[problem] += 1
        first.setdefault(problem, (line, len(row)))
    if counts["ragged"]:
        raise ValueError(
            f"{key}={path}: {counts['ragged']} row(s) differ from the header's {len(header)} "
            f"fields ({dialect.delimiter!r}-separated), the first at line {first['ragged'][0]} "
            f"({first['ragged'][1]} fields). Quote a text that holds the delimiter, e.g. "
            "\"Hi, all\",ham (a CSV writer does), or use another delimiter (tab, ';')."
        )
    if counts["unlabelled"]:
        raise ValueError(
            f"{key}={path}: {counts['unlabelled']} row(s) have no {columns[1]!r} label, the "
            f"first at line {first['unlabelled'][0]}. Label or remove them."
        )
    where = f"at {key}={path} line {first['empty'][0]}" if counts["empty"] else ""
    check_empty(counts["empty"], where, skip_invalid)
    if not labels:
        raise ValueError(f"{key}={path} has no rows under its header. Add a row per example.")
    rows = csv_rows(path, key, dialect)  # read again as the texts are written
    return labels, (row[text].encode("utf-8") for _, row in rows if row[text].strip())


def csv_source(data_cfg: DictConfig, seed: int) -> RawExamples:
    """The user's CSV: data.path with data.text_column and data.label_column; data.test_path."""
    columns, skip_invalid = (data_cfg.text_column, data_cfg.label_column), data_cfg.skip_invalid
    labels, texts = read_csv(data_cfg.path, columns, "data.path", skip_invalid)
    class_names = sorted(set(labels))
    examples = RawExamples(texts, sources.class_indices(labels, class_names), class_names)
    if data_cfg.test_path:
        labels, texts = read_csv(data_cfg.test_path, columns, "data.test_path", skip_invalid)
        examples.test = RawExamples(texts, sources.class_indices(labels, class_names), class_names)
    return examples


def text_folder(data_cfg: DictConfig, seed: int) -> RawExamples:
    """The user's texts: data.path/<class_name>/[<sub-folders>/]<example>.txt; data.test_path."""
    return sources.class_folders(data_cfg, (".txt",))


def imdb(data_cfg: DictConfig, seed: int) -> RawExamples:
    """IMDB's 25,000 + 25,000 reviews, Keras' imdb.npz's word ids as text (not keras.datasets)."""
    archive_path, index_path = (
        sources.fetch_archive(name, KERAS_DATASETS + name, data_cfg.download_dir)
        for name in ("imdb.npz", "imdb_word_index.json")
    )
    with open(index_path) as index_file:
        words = {index + 3: word for word, index in json.load(index_file).items()}
    examples = None
    with np.load(archive_path, allow_pickle=True) as archive:
        for part in ("test", "train"):  # the training split holds the test split
            ids = archive[f"x_{part}"]
            texts = [" ".join(words[i] for i in row if i in words).encode() for row in ids]
            labels = [int(label) for label in archive[f"y_{part}"]]
            examples = RawExamples(texts, labels, ["negative", "positive"], test=examples)
    return examples


{%- if cookiecutter.tfds %}


def tfds(data_cfg: DictConfig, seed: int) -> RawExamples:
    """A prepared TensorFlow Datasets dataset of texts (data.tfds_name; tfds_source.py)."""
    return tfds_examples(data_cfg, "Text", lambda text: text)  # UTF-8 bytes, as the others
{%- endif %}


SOURCES = {source.__name__: source for source in (digit_sentences, synthetic, text_folder, imdb)}
SOURCES["csv"] = csv_source  # data=csv
{%- if cookiecutter.tfds %}
SOURCES["tfds"] = tfds
{%- endif %}


def encode_examples(inputs: Iterable, from_files: bool, data_cfg: DictConfig) -> Iterator[tuple]:
    """(index, UTF-8 text, None) per example (read from a file if `from_files`) but empty ones."""
    empty = []
    for index, raw in enumerate(inputs):
        stored = raw
        if from_files:
            with tf.io.gfile.GFile(raw, "rb") as opened:
                stored = utf8(opened.read(), raw).encode("utf-8")
        if stored.strip():
            yield index, stored, None
        else:
            empty.append(raw if from_files else f"example {index}")
    check_empty(len(empty), f"is {empty[0]}" if empty else "", data_cfg.skip_invalid)


class TrainSummary:
    """The training texts' words, counted a batch at a time; `metadata` writes the vocabulary."""

    def __init__(self, data_cfg: DictConfig):
        self.data_cfg, self.counts, self.batch = data_cfg, Counter(), []

    def add(self, stored: bytes, statistics: None) -> None:
        self.batch.append(stored)
        if len(self.batch) == 1024:
            self.count_batch()

    def count_batch(self) -> None:  # the words split as the model's vectorizer splits them
        words = tf.strings.split(text_ops.standardize_text(tf.constant(self.batch, tf.string)))
        self.counts.update(word.decode("utf-8") for word in words.flat_values.numpy())
        self.batch = []

    def metadata(self, assets_dir: str) -> dict:
        """Writes the vocabulary to assets_dir: PAD_TOKEN, OOV_TOKEN, then the words seen at
        least data.min_word_count times, most frequent first (ties alphabetically)."""
        self.count_batch()
        ranked = sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))
        min_count, unknown = self.data_cfg.min_word_count, text_ops.OOV_TOKEN  # of a text of "?!"
        words = [word for word, count in ranked if count >= min_count and word != unknown]
        vocabulary = [text_ops.PAD_TOKEN, unknown, *words][: max(self.data_cfg.max_vocab_size, 2)]
        path = os.path.join(assets_dir, text_ops.VOCABULARY_FILE)
        jsonio.write_text(path, "\n".join(vocabulary) + "\n")
        sizes = {"sequence_length": self.data_cfg.sequence_length, "vocab_size": len(vocabulary)}
        return {**sizes, "vocabulary_file": text_ops.VOCABULARY_FILE, "model_inputs": sizes}
