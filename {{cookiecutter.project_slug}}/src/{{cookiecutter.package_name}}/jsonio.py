"""JSON files that a reader never sees half written, on any tf.io.gfile file system (gs:// too).

Run folders, records folders and checkpoints all write their small JSON files through here.
"""

import json
from pathlib import Path

import tensorflow as tf


def write_json(path: str | Path, content: dict) -> None:
    """Writes `content` to a temporary file beside `path`, then renames it over `path`."""
    temporary = f"{path}.tmp"
    with tf.io.gfile.GFile(temporary, "w") as json_file:
        json.dump(content, json_file, indent=2)
    tf.io.gfile.rename(temporary, str(path), overwrite=True)


def read_json(path: str | Path) -> dict:
    """Reads a JSON file from any tf.io.gfile file system."""
    with tf.io.gfile.GFile(str(path)) as json_file:
        return json.load(json_file)
