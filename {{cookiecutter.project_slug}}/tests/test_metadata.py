import dataclasses
import json
import os

import pytest

from {{ cookiecutter.package_name }} import jsonio
from {{ cookiecutter.package_name }}.data import preprocess_data
from {{ cookiecutter.package_name }}.data.metadata import (  # one per line at any name length
    METADATA_FILE,
    Metadata,
)


def test_metadata_reads_back_what_preprocess_wrote(make_config):
    cfg = make_config()
    records_dir, metadata = preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
    path = os.path.join(records_dir, METADATA_FILE)
    with open(path, encoding="utf-8") as metadata_file:
        on_disk = json.load(metadata_file)
    assert Metadata.read(records_dir) == Metadata.read(path) == metadata
    content = dataclasses.asdict(metadata)
{%- if cookiecutter.model_type == "rnn" %}
    vocabulary_file = content.pop("vocabulary_file")  # its path, read beside metadata.json
    assert vocabulary_file == os.path.join(records_dir, on_disk.pop("vocabulary_file"))
{%- endif %}
    assert content == on_disk
    assert metadata.num_classes == len(metadata.class_names)
{%- if cookiecutter.model_type == "cnn" %}
    assert len(metadata.mean) == len(metadata.std) == metadata.input_shape[-1]
{%- else %}
    assert metadata.model_inputs["sequence_length"] == metadata.sequence_length
{%- endif %}


def test_metadata_of_another_version_is_refused(tmp_path):
    jsonio.write_json(tmp_path / METADATA_FILE, {"source": "old", "fingerprint": "0" * 64})
    with pytest.raises(ValueError, match="another version of this project"):
        Metadata.read(tmp_path)
