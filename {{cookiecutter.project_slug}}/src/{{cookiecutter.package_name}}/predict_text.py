"""What predict sends a text model's export through ``serving_default``: raw UTF-8 texts, from a
text file (one per line) or a column of a CSV file. Imports no training code."""

import csv
import io
{%- if cookiecutter.tflite %}
import re
import unicodedata
{%- endif %}

import tensorflow as tf
from omegaconf import DictConfig

SIGNATURE, SIGNATURE_INPUT, SENT = "serving_default", "texts", "texts"

Inputs = tuple[list[str], list[bytes], dict[str, str]]  # names, raw inputs, {name: why} left out


def read_inputs(cfg: DictConfig) -> Inputs:
    """Names and texts of cfg.inputs (a line each, or a CSV's column=NAME), and those left out."""
    with tf.io.gfile.GFile(cfg.inputs, "rb") as text_file:
        content = text_file.read()
    if cfg.column:
        return read_csv_column(cfg, content)
    if cfg.inputs.lower().endswith(".csv"):
        raise ValueError(f"inputs={cfg.inputs} is a CSV file: name its text column, column=NAME.")
    names, texts, left_out = [], [], {}
    for number, line in enumerate(content.removeprefix(b"\xef\xbb\xbf").splitlines(), 1):
        try:
            if line.decode("utf-8").strip():
                names.append(f"line {number}")
                texts.append(line)
        except UnicodeDecodeError:
            left_out[f"line {number}"] = "not UTF-8 text"
    return names, texts, left_out


def read_csv_column(cfg: DictConfig, content: bytes) -> Inputs:
    """The text column of a UTF-8 CSV file (csv.Sniffer's dialect); ragged rows are left out."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"inputs={cfg.inputs} is not UTF-8 text ({error}).") from error
    try:
        dialect = csv.Sniffer().sniff(text[:65536], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text, newline=""), dialect=dialect)
    if cfg.column not in (reader.fieldnames or []):
        raise ValueError(
            f"inputs={cfg.inputs} has no column {cfg.column!r}; its columns are "
            f"{reader.fieldnames}. Set column to one of them."
        )
    names, texts, left_out = [], [], {}
    for row in reader:
        if None in row or None in row.values():  # more or fewer fields than the header
            left_out[f"row {reader.line_num}"] = "not the number of fields of the header"
        else:
            names.append(f"row {reader.line_num}")
            texts.append(row[cfg.column].encode("utf-8"))
    return names, texts, left_out
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
