"""predict, the serving client, on the shared run's export; each way it fails is a row of ERRORS."""

import csv
import json
{% if cookiecutter.model_type == "cnn" -%}
import os
{% endif -%}
import sys
from pathlib import Path

import pytest
import tensorflow as tf
from helpers import PACKAGE

from {{ cookiecutter.package_name }} import predict, runs
from {{ cookiecutter.package_name }}.data import data_loader


@pytest.fixture(scope="module")
def test_split(shared_run, tmp_path_factory):
    """The shared run's test split written as a user's files with two unreadable inputs among
    them: (overrides naming it and its export, the unreadable inputs' names, labels by name)."""
    export = f"export_dir={Path(shared_run.run_dir, 'export', '1')}"
    records_dir, records = runs.run_records(shared_run, runs.load_metadata(shared_run.run_dir))
    raw_inputs, labels = data_loader.read_raw_examples(records_dir, "test", records, -1)
    names = [records.class_names[label] for label in labels]
    folder = tmp_path_factory.mktemp("inputs\N{SLIGHTLY SMILING FACE},(1)")  # Hydra: quoted
{%- if cookiecutter.model_type == "cnn" %}
    paths = [folder / name / f"{index:04d}.png" for index, name in enumerate(names)]
    for path, raw in zip(paths, raw_inputs, strict=True):  # a folder per class
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(raw)
    broken = [path.parent / name for name in ("not_an_image.png", "pipe.png", "truncated.png")]
    broken[0].write_bytes(b"these are not the bytes of an image")
    os.mkfifo(broken[1])  # a special file: reading it would never end
    broken[2].write_bytes(raw[:40])
    by_name = {str(path): path.parent.name for path in paths}
    return [f"inputs={folder}", export], [str(path) for path in broken], by_name
{%- else %}
    rows = [["label", "text"], *zip(names, [raw.decode() for raw in raw_inputs], strict=True)]
    rows[3:3] = [["one", "two", "three"], ["lonely"]]  # too many, too few fields: rows 4 and 5
    path = folder / "inputs.csv"
    with open(path, "w", newline="", encoding="utf-8") as csv_file:
        csv.writer(csv_file, delimiter=";").writerows(rows)  # predict sniffs the delimiter
    by_name = {f"row {n if n < 4 else n + 2}": name for n, name in enumerate(names, start=2)}
    return [f"inputs={path}", "column=text", export], ["row 4", "row 5"], by_name
{%- endif %}


def run_main(monkeypatch, capsys, *overrides: str) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of the console script main() with these arguments."""
    monkeypatch.setattr(sys, "argv", [f"{PACKAGE}-predict", *overrides])
    try:
        predict.main()
    except SystemExit as exit_:
        return exit_.code, *capsys.readouterr()
    return 0, *capsys.readouterr()


def test_predict_leaves_out_unreadable_inputs_and_serves_the_exported_accuracy(
    shared_run, test_split, tmp_path, monkeypatch, capsys
):
    arguments, broken, labels = test_split
    output = tmp_path / "predictions.csv"
    status, _, err = run_main(monkeypatch, capsys, *arguments, f"output={output}")
    assert status == 0, err
    named = [line.split(": ")[1] for line in err.splitlines() if line.startswith("warning: ")]
    assert named == [f"left out {name}" for name in broken]
    rows = list(csv.DictReader(output.read_text().splitlines()))
    assert sorted(row["input"] for row in rows) == sorted(labels)
    assert all(0.0 < float(row["probability"]) <= 1.0 for row in rows)
    from_csv = sum(row["class_name"] == labels[row["input"]] for row in rows) / len(rows)
    export_json = Path(shared_run.run_dir, "export", "1", "export.json")
    assert abs(from_csv - json.loads(export_json.read_text())["accuracy"]) <= 0.001  # eval's


@pytest.mark.parametrize("run_dir", ["latest", "pointer", "run"])
def test_the_newest_export_of_a_run_is_found(tmp_path, run_dir):
    """run_dir=latest reads <runs_root>/latest; a pointer file or a run folder work too."""
    run = tmp_path / "runs" / "model-data" / "2025-01-31_12-00-00"
    for version in ("2", "10", "notes"):  # 10 is newer than 2, though it sorts first as text
        (run / "export" / version).mkdir(parents=True)
    (tmp_path / "runs" / "latest").write_text("model-data/2025-01-31_12-00-00\n")
    (tmp_path / "runs" / "model-data" / "latest").write_text("2025-01-31_12-00-00\n")
    given = {"latest": "latest", "pointer": str(run.parent / "latest"), "run": str(run)}
    found = predict.find_export(None, given[run_dir], str(tmp_path / "runs"))
    assert Path(found).resolve() == (run / "export" / "10").resolve()


# === Errors: exit status 1 and one line that says what to do ===

ERRORS = [
    # (id, overrides, what the one error line says); {inputs}: the test split without export_dir,
    # {tmp}: tmp_path{% if cookiecutter.model_type == "rnn" %}, {csv}: export_dir and the test split's CSV without column={% endif %}
    ("no-inputs", ["export_dir={export}"], "error: inputs= is required. Usage:"),
    ("inputs-missing", ["export_dir={export}", "inputs={tmp}/nowhere"], "nowhere; No such file"),
    ("output-folder-missing", ["{inputs}", "export_dir={export}", "output={tmp}/no/p"], "/no/p"),
    ("run-without-export", ["{inputs}", "run_dir={tmp}"], "there is no export under {tmp}/export"),
    ("not-a-saved-model", ["{inputs}", "export_dir={tmp}"], "SavedModel file does not exist"),
    ("other-kind-of-export", ["{inputs}", "export_dir={tmp}/other"], "has no {{ "serve_bytes" if cookiecutter.model_type == "cnn" else "serving_default" }}"),
    ("number-as-path", ["{inputs}", "export_dir=2024"], "does not exist at: 2024"),
    ("nothing-readable", ["export_dir={export}", "inputs={unreadable}"], "nothing to classify"),
{%- if cookiecutter.model_type == "rnn" %}
    ("csv-without-column", ["{csv}"], "is a CSV file: name its text column, column=NAME"),
    ("column-unknown", ["{csv}", "column=body"], "has no column 'body'; its columns are"),
{%- endif %}
]


@pytest.mark.parametrize("error, overrides, message", ERRORS, ids=[row[0] for row in ERRORS])
def test_predict_explains_bad_arguments(
    test_split, tmp_path, monkeypatch, capsys, error, overrides, message
):
    tf.saved_model.save(tf.Module(), str(tmp_path / "other"))  # a SavedModel without signatures
    export, inputs = test_split[0][-1], " ".join(test_split[0][:-1])
    values = dict(export=export.partition("=")[2], inputs=inputs, tmp=tmp_path)
{%- if cookiecutter.model_type == "cnn" %}
    values["unreadable"] = test_split[1][0]  # not an image
{%- else %}
    (tmp_path / "unreadable.txt").write_bytes(b"\xff\xfe not UTF-8\n")
    values.update(unreadable=tmp_path / "unreadable.txt", csv=f"{export} {test_split[0][0]}")
{%- endif %}
    arguments = [item for override in overrides for item in override.format(**values).split()]
    status, out, err = run_main(monkeypatch, capsys, *arguments)
    assert (status, out) == (1, "")
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and message.format(**values) in errors[0]
    if error == "no-inputs":  # the usage: the docstring's commands
        assert err.splitlines()[1:] == predict.USAGE.splitlines()
        assert all(f"{PACKAGE}-predict inputs=" in line for line in err.splitlines()[1:])
