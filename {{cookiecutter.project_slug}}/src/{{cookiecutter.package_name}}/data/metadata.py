"""metadata.json, the description of a records folder, read into one typed object.

preprocess_data writes it last into the records folder (and a run copies it into its assets);
everything else reads it through `Metadata.read`. Try it on a records folder with:

    python -c "from {{ cookiecutter.package_name }}.data.metadata import Metadata; print(Metadata.read('DIR'))"
"""

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import tensorflow as tf

from .. import jsonio

METADATA_FILE = "metadata.json"
{%- if cookiecutter.model_type == "cnn" %}


@dataclass(frozen=True)
class Normalization:
    """Per-channel mean and std of the training pixels in [0, 1]."""

    mean: list[float]
    std: list[float]
{%- endif %}


@dataclass(frozen=True)
class Metadata:
    """What preprocess_data learnt about the data; attribute names are the JSON keys.

    Attributes:
        source: data.name of the data config that wrote the records.
        fingerprint: hash of the data config, the input files and the code that wrote them.
        class_names: label i is class_names[i].
        num_classes: len(class_names).
{%- if cookiecutter.model_type == "cnn" %}
        raw_shape: [height, width, channels] of the stored images (None where sizes vary).
        raw_dtype: dtype of the stored pixels.
        input_shape: [height, width, channels] the model gets.
        normalization: mean and std the model inputs are normalised with.
        max_stored_size: the longest stored side in pixels (None: stored as given).
{%- else %}
        sequence_length: token ids per example the model gets.
        vocab_size: vocabulary entries, the padding and out-of-vocabulary ids included.
        vocabulary_file: the vocabulary's file name, beside metadata.json.
{%- endif %}
        model_inputs: the keyword arguments the model builder takes from the data.
        counts: {split: {"total": n, "per_class": {class name: n}}}.
        shards: {split: {shard file name: examples in it}}.
    """

    source: str
    fingerprint: str
    class_names: list[str]
    num_classes: int
{%- if cookiecutter.model_type == "cnn" %}
    raw_shape: list[int | None]
    raw_dtype: str
    input_shape: list[int]
    normalization: Normalization
    max_stored_size: int | None
{%- else %}
    sequence_length: int
    vocab_size: int
    vocabulary_file: str
{%- endif %}
    model_inputs: dict
    counts: dict
    shards: dict

    def model_arguments(self, folder: str | Path | None = None) -> dict:
        """The values a model builder may take from the data (model.DATA_ARGUMENTS); `folder` holds this metadata.json and the files it names
        (None where no builder needs them, e.g. to rebuild a model for its checkpoint)."""
{%- if cookiecutter.model_type == "cnn" %}
        mean, std = self.normalization.mean, self.normalization.std
        return {"num_classes": self.num_classes, **self.model_inputs, "mean": mean, "std": std}
{%- else %}
        vocabulary = os.path.join(str(folder), self.vocabulary_file) if folder else None
        return {
            "num_classes": self.num_classes,
            **self.model_inputs,
            "vocabulary_file": vocabulary,
        }
{%- endif %}

    @classmethod
    def from_dict(cls, content: dict) -> "Metadata":
        """The metadata of a metadata.json's content; refuses one of another format."""
        names = {field.name for field in dataclasses.fields(cls)}
        if set(content) != names:
            raise ValueError(
                f"This metadata.json has the keys {sorted(content)}, not {sorted(names)}: it "
                "was written by another version of this project. Delete its records folder "
                "and run preprocess again."
            )
{%- if cookiecutter.model_type == "cnn" %}
        return cls(**{**content, "normalization": Normalization(**content["normalization"])})
{%- else %}
        return cls(**content)
{%- endif %}

    @classmethod
    def read(cls, path_or_dir: str | Path) -> "Metadata":
        """Reads a metadata.json, or the one in a folder (any tf.io.gfile path)."""
        path = str(path_or_dir)
        if tf.io.gfile.isdir(path):
            path = os.path.join(path, METADATA_FILE)
        return cls.from_dict(jsonio.read_json(path))

    def to_dict(self) -> dict:
        """The content of metadata.json."""
        return dataclasses.asdict(self)
