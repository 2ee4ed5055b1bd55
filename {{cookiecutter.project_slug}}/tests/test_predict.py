"""predict: the serving client, on an export of a short training run."""

import csv
{%- if cookiecutter.model_type == "cnn" %}
from pathlib import Path
{%- endif %}

import pytest

from {{ cookiecutter.package_name }} import export as export_lib
from {{ cookiecutter.package_name }} import predict, runs
from {{ cookiecutter.package_name }}.data import data_loader, preprocess_data
from {{ cookiecutter.package_name }}.eval import evaluate
from {{ cookiecutter.package_name }}.train import train


@pytest.fixture
def exported(make_config):
    cfg = make_config("train.epochs=4", "train.max_steps_per_epoch=10")
    train(cfg)
    return cfg, export_lib.export(cfg.run_dir)


def write_test_split(cfg, tmp_path):
    """The test split's raw inputs as files a user would have, with their labels."""
    metadata = runs.load_metadata(cfg.run_dir)
    records_dir = preprocess_data.records_path(cfg.data, cfg.seed)
    count = metadata["counts"]["test"]["total"]
    raw_inputs, labels = data_loader.read_raw_examples(records_dir, "test", metadata, count)
    names = [metadata["class_names"][label] for label in labels]
{%- if cookiecutter.model_type == "cnn" %}
    for index, (raw, name) in enumerate(zip(raw_inputs, names, strict=True)):
        path = Path(tmp_path, "inputs", name, f"{index:04d}.png")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(raw)
    return ["inputs=" + str(tmp_path / "inputs")], count
{%- else %}
    path = tmp_path / "inputs.csv"
    with open(path, "w", newline="", encoding="utf-8") as csv_file:
        writer = csv.writer(csv_file)
        writer.writerow(["text", "label"])
        writer.writerows(zip([raw.decode() for raw in raw_inputs], names, strict=True))
    return [f"inputs={path}", "column=text", "label_column=label"], count
{%- endif %}


def test_predict_reproduces_the_evaluated_accuracy(exported, tmp_path, capsys):
    cfg, export_dir = exported
    arguments, count = write_test_split(cfg, tmp_path)
    output = tmp_path / "predictions.csv"

    status = predict.main([f"export_dir={export_dir}", *arguments, f"output={output}"])

    assert status == 0
    with open(output, newline="") as predictions:
        rows = list(csv.DictReader(predictions))
    assert len(rows) == count
    class_names = runs.load_metadata(cfg.run_dir)["class_names"]
    assert all(row["class_name"] in class_names for row in rows)
    assert all(0.0 < float(row["probability"]) <= 1.0 for row in rows)
    printed = capsys.readouterr().err
    predicted_accuracy = float(printed.split("accuracy ")[1].split()[0])
    assert abs(predicted_accuracy - evaluate(cfg.run_dir)["accuracy"]) <= 0.001


@pytest.mark.parametrize(
    "arguments, message",
    [([], "Missing export_dir, inputs"), (["inputs=nowhere", "export_dir=x"], "does not exist")],
    ids=["no-arguments", "missing-inputs"],
)
def test_predict_explains_bad_arguments(arguments, message, capsys):
    assert predict.main(arguments) == 1
    assert message in capsys.readouterr().err
