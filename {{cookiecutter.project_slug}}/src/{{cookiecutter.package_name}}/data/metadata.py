"""metadata.json, what preprocess_data learnt about a records folder (written last, copied into
each run's assets), read into one typed object. Try it on a records folder with:

    python -c "from {{ cookiecutter.package_name }}.data.metadata import Metadata; print(Metadata.read('DIR'))"
"""

import dataclasses
import os
from pathlib import Path

import tensorflow as tf

from .. import jsonio
{%- if cookiecutter.model_type == "rnn" %}
from .text_ops import make_vectorizer
{%- endif %}

METADATA_FILE = "metadata.json"
{%- if cookiecutter.model_type == "cnn" %}


@dataclasses.dataclass(frozen=True)
class Normalization:
    """Per-channel mean and std of the training pixels in [0, 1]."""

    mean: list[float]
    std: list[float]
{%- endif %}


@dataclasses.dataclass(frozen=True)
class Metadata:
    """The content of metadata.json, one field per key."""

    source: str  # data.name
    fingerprint: str  # of the data config, the input files and the code that wrote the records
    class_names: list[str]
    num_classes: int
{%- if cookiecutter.model_type == "cnn" %}
    input_shape: list[int]  # the model's, as the images are stored
    normalization: Normalization
{%- else %}
    sequence_length: int
    vocab_size: int  # the padding and out-of-vocabulary ids included
    vocabulary_file: str  # beside metadata.json; its path once read
{%- endif %}
    model_inputs: dict  # the model builder's arguments that the data sets
    counts: dict  # {split: {"total": n, "per_class": {class name: n}}}
    shards: dict  # {split: {shard file name: n}}

    def model_arguments(self, folder: str | Path | None = None) -> dict:
        """The values a model builder may take from the data (model.DATA_ARGUMENTS); `folder`
        holds the files metadata.json names (None where no builder needs them)."""
{%- if cookiecutter.model_type == "cnn" %}
        mean, std = self.normalization.mean, self.normalization.std
        return {"num_classes": self.num_classes, **self.model_inputs, "mean": mean, "std": std}
{%- else %}
        vectorizer = make_vectorizer(self.vocabulary_file, self.sequence_length)
        return {"num_classes": self.num_classes, **self.model_inputs, "vectorizer": vectorizer}
{%- endif %}

    @classmethod
    def read(cls, path_or_dir: str | Path) -> "Metadata":
        """Reads a metadata.json, or the one in a folder."""
        path = str(path_or_dir)
        if tf.io.gfile.isdir(path):
            path = os.path.join(path, METADATA_FILE)
{%- if cookiecutter.model_type == "cnn" %}
        return cls.from_dict(jsonio.read_json(path))
{%- else %}
        metadata = cls.from_dict(jsonio.read_json(path))
        # The vocabulary beside it, wherever it is read: records folder, run assets or export.
        vocabulary_file = os.path.join(os.path.dirname(path), metadata.vocabulary_file)
        return dataclasses.replace(metadata, vocabulary_file=vocabulary_file)
{%- endif %}

    @classmethod
    def from_dict(cls, content: dict) -> "Metadata":
        """The metadata of a metadata.json's content; refuses one of another format."""
        try:
            metadata = cls(**content)
        except TypeError as error:  # a key missing or unknown
            raise ValueError(
                f"This metadata.json was written by another version of this project ({error}). "
                "Delete its records folder and run preprocess again."
            ) from error
{%- if cookiecutter.model_type == "cnn" %}
        return dataclasses.replace(metadata, normalization=Normalization(**metadata.normalization))
{%- else %}
        return metadata
{%- endif %}

    def to_dict(self) -> dict:
        """The content of metadata.json."""
        return dataclasses.asdict(self)
