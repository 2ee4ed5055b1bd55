"""Text sources for preprocess_data: each returns RawExamples of UTF-8 text.

For example:

    {{ cookiecutter.package_name }}-preprocess data=digit_sentences                    # generated
    {{ cookiecutter.package_name }}-preprocess data=csv data.path=sms.csv data.text_column=text data.label_column=label
    {{ cookiecutter.package_name }}-preprocess data=text_folder data.path=texts/       # texts/<class>/<file>.txt
    {{ cookiecutter.package_name }}-preprocess data=imdb                               # downloaded once, cached
"""

import csv
import io
import json
import logging
import os
from collections import Counter

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


def check_texts(texts: list[str], names: list[str], skip_invalid: bool) -> list[int]:
    """Indices of the usable texts; empty ones are an error unless data.skip_invalid=true."""
    empty = [name for name, text in zip(names, texts, strict=True) if not text.strip()]
    if empty and not skip_invalid:
        raise ValueError(
            f"{len(empty)} example(s) have an empty text: {', '.join(empty[:20])}"
            f"{' ...' if len(empty) > 20 else ''}. Fill or remove them, or set "
            "data.skip_invalid=true to leave them out."
        )
    if empty:
        log.warning("Leaving out %d empty text(s): %s", len(empty), ", ".join(empty[:20]))
    return [index for index, text in enumerate(texts) if text.strip()]


def read_csv(path: str, text_column: str, label_column: str, key: str) -> tuple[list, list]:
    """Reads the text and label columns of a CSV file with a header row.

    The delimiter is sniffed (comma, semicolon, tab, pipe) and checked on every row; UTF-8
    with or without a byte-order mark; quoted fields may hold delimiters and newlines
    (RFC 4180) and be of any length. A row with more or fewer fields than the header is an
    error, never a text cut short.

    Returns:
        The texts and labels (as strings), and names like "sms.csv row 12" for messages.
    """
    require_path(path, key, "data/my_texts.csv")
    if tf.io.gfile.isdir(path):
        raise ValueError(
            f"{key}={path} is a folder; data=csv reads one CSV file, e.g. {key}=data/sms.csv. "
            "For a folder with one sub-folder of .txt files per class, use data=text_folder."
        )
    try:
        content = read_file(path).decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"{key}={path} is not UTF-8 text ({error}); save it as UTF-8.") from error
    header, rows = parse_csv(content, (text_column, label_column), f"{key}={path}")
    for column_key, column in (
        ("data.text_column", text_column),
        ("data.label_column", label_column),
    ):
        if column not in header:
            raise ValueError(
                f"{key}={path} has no column {column!r}; its columns are {header}. Set "
                f"{column_key} to one of them, e.g. {column_key}={(header or ['text'])[0]}."
            )
    text_index, label_index = header.index(text_column), header.index(label_column)
    texts = [row[text_index] for _, row in rows]
    labels = [row[label_index].strip() for _, row in rows]
    names = [f"{os.path.basename(path)} row {line}" for line, _ in rows]
    missing = [name for name, label in zip(names, labels, strict=True) if not label]
    if missing:
        raise ValueError(
            f"{len(missing)} row(s) have no {label_column!r} label: {', '.join(missing[:20])}. "
            "Label or remove them."
        )
    return texts, labels, names


def split_csv(content: str, source: str, dialect, **options) -> tuple[list, list]:
    """The header and the (line number, fields) of each non-blank row of CSV text."""
    # A field can be as long as the file; the csv module stops at 128 KB unless told.
    csv.field_size_limit(max(csv.field_size_limit(), len(content) + 1))
    reader = csv.reader(io.StringIO(content, newline=""), dialect, **options)
    try:
        header = next(reader, [])
        rows = [(reader.line_num, row) for row in reader if row]
    except csv.Error as error:
        raise ValueError(
            f"{source} cannot be read as CSV at line {reader.line_num}: {error}. Fix that line, "
            "e.g. quote a field that holds quotes or line breaks."
        ) from error
    return header, rows


def parse_csv(content: str, columns: tuple[str, str], source: str) -> tuple[list, list]:
    """Splits CSV text with the delimiter that gives every row as many fields as the header.

    The sniffed dialect comes first; when some rows do not fit it, each other delimiter that
    finds `columns` in the header and fits every row is tried. Otherwise the first ragged rows
    are named in the error.
    """
    try:
        sniffed = csv.Sniffer().sniff(content[:65536], delimiters=CSV_DELIMITERS)
    except csv.Error:
        sniffed = csv.excel
    header, rows = split_csv(content, source, sniffed)
    ragged = [(line, len(row)) for line, row in rows if len(row) != len(header)]
    if not ragged:
        return header, rows
    for delimiter in CSV_DELIMITERS.replace(sniffed.delimiter, ""):
        other_header, other_rows = split_csv(content, source, csv.excel, delimiter=delimiter)
        if set(columns) <= set(other_header) and all(
            len(row) == len(other_header) for _, row in other_rows
        ):
            return other_header, other_rows
    first = ", ".join(f"row {line} ({count} fields)" for line, count in ragged[:10])
    raise ValueError(
        f"{source}: {len(ragged)} row(s) have more or fewer fields than the header's "
        f"{len(header)} ({sniffed.delimiter!r}-separated), e.g. {first}. A text that holds the "
        f'delimiter must be quoted, e.g. "Hi, all",ham; save the file with a CSV writer '
        "(it quotes them) or with another delimiter (tab, ';')."
    )


def texts_to_examples(
    texts: list[str], labels: list[str], names: list[str], class_names: list[str], skip: bool
) -> RawExamples:
    keep = check_texts(texts, names, skip)
    index = {name: position for position, name in enumerate(class_names)}
    return RawExamples(
        [texts[i].encode("utf-8") for i in keep], [index[labels[i]] for i in keep], class_names
    )


def csv_source(data_cfg: DictConfig, seed: int) -> RawExamples:
    """The user's CSV: data.path with data.text_column and data.label_column; data.test_path."""
    columns = (data_cfg.text_column, data_cfg.label_column)
    texts, labels, names = read_csv(data_cfg.path, *columns, key="data.path")
    class_names = sorted(set(labels))
    examples = texts_to_examples(texts, labels, names, class_names, data_cfg.skip_invalid)
    if data_cfg.test_path:
        test_texts, test_labels, test_names = read_csv(
            data_cfg.test_path, *columns, key="data.test_path"
        )
        check_test_classes(set(test_labels), class_names)
        examples.test = texts_to_examples(
            test_texts, test_labels, test_names, class_names, data_cfg.skip_invalid
        )
    return examples


def read_text_folder(root: str, key: str, skip_invalid: bool) -> tuple[list, list, list]:
    paths, labels, class_names = list_class_files(root, (".txt",), key=key)
    texts = []
    for path in paths:
        try:
            texts.append(read_file(path).decode("utf-8-sig"))
        except UnicodeDecodeError as error:
            raise ValueError(f"{path} is not UTF-8 text ({error}); save it as UTF-8.") from error
    keep = check_texts(texts, paths, skip_invalid)
    return [texts[i].encode("utf-8") for i in keep], [labels[i] for i in keep], class_names


def text_folder(data_cfg: DictConfig, seed: int) -> RawExamples:
    """The user's texts: data.path/<class_name>/<example>.txt; data.test_path alike."""
    inputs, labels, class_names = read_text_folder(
        data_cfg.path, "data.path", data_cfg.skip_invalid
    )
    examples = RawExamples(inputs, labels, class_names)
    if data_cfg.test_path:
        test_inputs, test_labels, test_classes = read_text_folder(
            data_cfg.test_path, "data.test_path", data_cfg.skip_invalid
        )
        test_labels = map_test_labels(test_classes, test_labels, class_names)
        examples.test = RawExamples(test_inputs, test_labels, class_names)
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


def build_vocabulary(train_texts: list[bytes], max_size: int, min_count: int) -> list[str]:
    """Returns the vocabulary of the training texts, most frequent words first.

    Words are split with the same ops the model's input uses (input_ops.split_words); ties
    are broken alphabetically, so the same texts always give the same vocabulary. The list
    starts with the padding and out-of-vocabulary tokens.
    """
    counts = Counter()
    for start in range(0, len(train_texts), 1024):
        words = input_ops.split_words(tf.constant(train_texts[start : start + 1024]))
        counts.update(word.decode("utf-8") for word in words.flat_values.numpy())
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    words = [word for word, count in ranked if count >= min_count]
    return [input_ops.PAD_TOKEN, input_ops.OOV_TOKEN, *words[: max(max_size - 2, 0)]]


def summarize(train_inputs: list[bytes], data_cfg: DictConfig, assets_dir: str) -> dict:
    """Builds the vocabulary of the train split, writes it to assets_dir, describes it.

    Returns:
        The sequence length, vocabulary size and file, and the model inputs for metadata.json.
    """
    vocabulary = build_vocabulary(train_inputs, data_cfg.max_vocab_size, data_cfg.min_word_count)
    path = os.path.join(assets_dir, input_ops.VOCABULARY_FILE)
    with tf.io.gfile.GFile(path + ".tmp", "w") as vocabulary_file:
        vocabulary_file.write("\n".join(vocabulary) + "\n")
    tf.io.gfile.rename(path + ".tmp", path, overwrite=True)
    return {
        "sequence_length": data_cfg.sequence_length,
        "vocab_size": len(vocabulary),
        "vocabulary_file": input_ops.VOCABULARY_FILE,
        "model_inputs": {
            "sequence_length": data_cfg.sequence_length,
            "vocab_size": len(vocabulary),
        },
    }
