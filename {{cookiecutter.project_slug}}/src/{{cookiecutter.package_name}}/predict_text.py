"""What predict sends a text model's export through ``serving_default``: raw UTF-8 texts, from a
text file (one per line) or a column of a CSV file. Imports no training code. Checked by:

    python -m pytest tests/test_predict.py
"""

import csv
import io
{%- if cookiecutter.tflite %}
import re
import unicodedata
{%- endif %}
from collections.abc import Callable

import tensorflow as tf
from omegaconf import DictConfig

SIGNATURE, SIGNATURE_INPUT, SENT = "serving_default", "texts", "texts"

Inputs = tuple[list[str], list[bytes], list[str | None]]  # names, raw inputs, labels
Skip = Callable[[str, str | BaseException], None]  # (input name, why) of an unreadable input


def read_inputs(cfg: DictConfig, skip: Skip) -> Inputs:
    """Names, UTF-8 texts and (with label_column) labels of cfg.inputs."""
    if cfg.label_column and not cfg.column:
        raise ValueError(f"label_column={cfg.label_column} needs column=NAME, the text column.")
    with tf.io.gfile.GFile(cfg.inputs, "rb") as text_file:
        content = text_file.read()
    if cfg.column:
        return read_csv_rows(cfg, content, skip)
    if cfg.inputs.lower().endswith(".csv"):
        raise ValueError(
            f"inputs={cfg.inputs} is a CSV file: name its text column with column=NAME "
            "(and label_column=NAME for the accuracy)."
        )
    names, texts = [], []
    for number, line in enumerate(content.removeprefix(b"\xef\xbb\xbf").splitlines(), 1):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as error:
            skip(f"line {number}", f"not UTF-8: {error}")
            continue
        if text.strip():
            names.append(f"line {number}")
            texts.append(text.encode("utf-8"))
    return names, texts, [None] * len(texts)


def sniff_dialect(text: str, columns: list[str]) -> tuple[type[csv.Dialect], str]:
    """(dialect, delimiter) of a CSV file as training finds them: csv.Sniffer's, or the first
    of , ; tab | whose header has `columns`."""
    try:
        dialect = csv.Sniffer().sniff(text[:65536], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    for delimiter in (dialect.delimiter, *",;\t|"):
        header = next(csv.reader(io.StringIO(text, newline=""), dialect, delimiter=delimiter), [])
        if all(column in header for column in columns):
            return dialect, delimiter
    return dialect, dialect.delimiter


def read_csv_rows(cfg: DictConfig, content: bytes, skip: Skip) -> Inputs:
    """The text (and label) column of a CSV file (UTF-8, with or without BOM), read as training
    reads it."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"inputs={cfg.inputs} is not UTF-8 text ({error}); save it as UTF-8."
        ) from error
    dialect, delimiter = sniff_dialect(text, [cfg.column, cfg.label_column or cfg.column])
    reader = csv.DictReader(io.StringIO(text, newline=""), dialect=dialect, delimiter=delimiter)
    columns = reader.fieldnames or []
    for key, column in (("column", cfg.column), ("label_column", cfg.label_column)):
        if column and column not in columns:
            raise ValueError(
                f"inputs={cfg.inputs} has no column {column!r}; its columns are {columns}. "
                f"Set {key} to one of them."
            )
    names, texts, labels = [], [], []
    for row in reader:
        name = f"row {reader.line_num}"
        if None in row or None in row.values():  # more or fewer fields than the header
            skip(name, f"it has not the {len(columns)} fields of the header")
            continue
        names.append(name)
        texts.append(row[cfg.column].encode("utf-8"))
        labels.append(row[cfg.label_column].strip() if cfg.label_column else None)
    return names, texts, labels
{%- if cookiecutter.tflite %}


def token_ids(texts: list[str], vocabulary: list[str], sequence_length: int) -> list[list[int]]:
    """Word ids of `texts` as the export's .tflite takes them, in plain Python (no TensorFlow):
    the steps of the model's TextVectorization (data/text_ops.py), with `vocabulary` the lines
    of the export's assets/vocab.txt (line number = id) and `sequence_length` its metadata's."""
    ids_of = {word: number for number, word in enumerate(vocabulary)}
    rows = []
    for text in texts:
        text = "".join(" " if unicodedata.category(c).startswith("P") else c for c in text.lower())
        words = re.sub("[0-9]{3,}", "000", text).split()
        ids = [ids_of.get(word, 1) for word in words][:sequence_length] or [1]  # 1: unknown
        rows.append(ids + [0] * (sequence_length - len(ids)))
    return rows
{%- endif %}
