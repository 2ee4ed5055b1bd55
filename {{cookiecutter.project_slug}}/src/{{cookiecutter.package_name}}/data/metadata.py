"""metadata.json: what preprocess_data learnt about a records folder, copied into each run."""

import dataclasses
import math
import os
from pathlib import Path

import tensorflow as tf

from .. import jsonio
{%- if cookiecutter.model_type == "rnn" %}
from .text_ops import make_vectorizer
{%- endif %}

METADATA_FILE = "metadata.json"


@dataclasses.dataclass(frozen=True)
class Metadata:  # the content of metadata.json, one field per key
    source: str  # data.name
    fingerprint: str  # of the data config, the input files and the code that wrote the records
    class_names: list[str]
    num_classes: int
{%- if cookiecutter.model_type == "cnn" %}
    input_shape: list[int]  # the model's, as the images are stored
    mean: list[float]  # per channel, of the training pixels in [0, 1]
    std: list[float]
{%- else %}
    sequence_length: int
    vocab_size: int  # the padding and out-of-vocabulary ids included
    vocabulary_file: str  # beside metadata.json; its path once read
{%- endif %}
    model_inputs: dict  # the model builder's arguments that the data sets
    counts: dict  # {split: {"total": n, "per_class": {class name: n}}}

    def model_arguments(self) -> dict:
        """The values a model builder may take from the data (model.DATA_ARGUMENTS)."""
{%- if cookiecutter.model_type == "cnn" %}
        data = {"mean": self.mean, "std": self.std}
{%- else %}
        data = {"vectorizer": make_vectorizer(self.vocabulary_file, self.sequence_length)}
{%- endif %}
        return {"num_classes": self.num_classes, **self.model_inputs, **data}

    def limited(self, fraction: float, train_examples: int = 0) -> "Metadata":
        """Each split cut to `fraction` (data.limit), taken evenly over it (data_loader), and the
        training split to its first `train_examples` if not 0 (train.overfit_batches)."""
        counts = {}
        for split, count in self.counts.items():
            total = math.ceil(count["total"] * fraction)
            total = min(total, train_examples or total) if split == "train" else total
            counts[split] = {**count, "total": total, "stride": count["total"] // max(total, 1)}
        return dataclasses.replace(self, counts=counts)

    @classmethod
    def read(cls, path_or_dir: str | Path) -> "Metadata":
        """Reads a metadata.json, or the one in a folder; refuses one of another format."""
        path = str(path_or_dir)
        path = os.path.join(path, METADATA_FILE) if tf.io.gfile.isdir(path) else path
        try:
{%- if cookiecutter.model_type == "cnn" %}
            return cls(**jsonio.read_json(path))
{%- else %}
            metadata = cls(**jsonio.read_json(path))
{%- endif %}
        except (TypeError, ValueError) as error:  # a key missing or unknown; cut short
            raise ValueError(
                f"{path} cannot be read ({error}): cut short, or written by another version of "
                "this project. Preprocess again; for a run's assets/, copy it from its records."
            ) from error
{%- if cookiecutter.model_type == "rnn" %}
        # The vocabulary beside it, wherever it is read: records folder, run assets or export.
        vocabulary_file = os.path.join(os.path.dirname(path), metadata.vocabulary_file)
        return dataclasses.replace(metadata, vocabulary_file=vocabulary_file)
{%- endif %}
