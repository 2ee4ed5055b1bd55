"""Small JSON and YAML files a reader never sees half written, on any tf.io.gfile file system."""

import json
import os
from pathlib import Path

import tensorflow as tf


def write_text(path: str | Path, text: str) -> None:
    """Writes `text` beside `path` (a file of this process' own), then renames it over `path`."""
    temporary = f"{path}.{os.getpid()}.tmp"
    with tf.io.gfile.GFile(temporary, "w") as text_file:
        text_file.write(text)
    tf.io.gfile.rename(temporary, str(path), overwrite=True)


def write_json(path: str | Path, content: dict) -> None:
    write_text(path, json.dumps(content, indent=2))


def read_json(path: str | Path) -> dict:
    with tf.io.gfile.GFile(str(path)) as json_file:
        return json.load(json_file)
