"""predict: the serving client, on the export of the shared run (conftest.SHARED_RUN).
Every way predict may fail is a row of one table: it exits 1 with one `error: ...` line."""

import csv
import json
{%- if cookiecutter.model_type == "cnn" %}
import shutil
{%- endif %}
import sys
from pathlib import Path

import pytest
import tensorflow as tf
from helpers import PACKAGE
from hydra import compose, initialize_config_module

from {{ cookiecutter.package_name }} import predict, runs
from {{ cookiecutter.package_name }}.data import (
    data_loader,
    preprocess_data,
)

BATCH_SIZE = 5  # fewer than the test split: predict runs several batches


@pytest.fixture(scope="module")
def exported(shared_run):
    """(config, export dir) of the shared run."""
    return shared_run, Path(shared_run.run_dir) / "export" / "1"


@pytest.fixture(scope="module")
def test_split(exported, tmp_path_factory):
    """(overrides naming the test split written as a user's files, labels by input name)."""
    cfg, _ = exported
    metadata = runs.load_metadata(cfg.run_dir)
    records_dir = preprocess_data.records_path(cfg.data, cfg.seed)
    raw_inputs, labels = data_loader.read_raw_examples(records_dir, "test", metadata, -1)
    names = [metadata.class_names[label] for label in labels]
    folder = tmp_path_factory.mktemp("inputs")
{%- if cookiecutter.model_type == "cnn" %}
    by_name = {}
    for index, (raw, name) in enumerate(zip(raw_inputs, names, strict=True)):
        path = folder / name / f"{index:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(raw)
        by_name[str(path)] = name
    return [f"inputs={folder}"], by_name
{%- else %}
    # a semicolon CSV, as training reads it: the delimiter is sniffed
    path = folder / "inputs.csv"
    with open(path, "w", newline="", encoding="utf-8") as csv_file:
        writer = csv.writer(csv_file, delimiter=";")
        writer.writerow(["label", "text"])
        writer.writerows(zip(names, [raw.decode() for raw in raw_inputs], strict=True))
    by_name = {f"row {row}": name for row, name in enumerate(names, start=2)}
    return [f"inputs={path}", "column=text", "label_column=label"], by_name
{%- endif %}


def predict_config(*overrides: str):
    with initialize_config_module(config_module=f"{PACKAGE}.configs", version_base="1.3"):
        return compose(config_name="predict", overrides=list(overrides))


def run_main(monkeypatch, capsys, *overrides: str) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of the console script main() with these arguments."""
    monkeypatch.setattr(sys, "argv", [f"{PACKAGE}-predict", *overrides])
    try:
        predict.main()
        status = 0
    except SystemExit as exit_:
        status = exit_.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="") as predictions:
        return list(csv.DictReader(predictions))


def with_unreadable_inputs(test_split, folder: Path) -> tuple[list[str], list[str], dict]:
    """The test split plus two unreadable inputs: (overrides, their names, labels by name)."""
    source = Path(test_split[0][0].partition("=")[2])
{%- if cookiecutter.model_type == "cnn" %}
    shutil.copytree(source, folder)
    labels = {str(folder / Path(name).relative_to(source)): c for name, c in test_split[1].items()}
    class_folder = Path(next(iter(labels))).parent  # unreadable files with a label
    broken = [class_folder / "not_an_image.png", class_folder / "truncated.png"]
    broken[0].write_bytes(b"these are not the bytes of an image")
    broken[1].write_bytes(next(folder.rglob("*.png")).read_bytes()[:40])
    return [f"inputs={folder}"], sorted(str(path) for path in broken), labels
{%- else %}
    lines = source.read_text(encoding="utf-8").splitlines()
    lines[3:3] = ["one;two;three", "lonely"]  # too many and too few fields: rows 4 and 5
    folder.mkdir()
    (folder / "inputs.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    labels = {f"row {n if n < 4 else n + 2}": c for n, c in enumerate(test_split[1].values(), 2)}
    return [f"inputs={folder / 'inputs.csv'}", *test_split[0][1:]], ["row 4", "row 5"], labels
{%- endif %}


def test_predict_in_batches_skips_unreadable_inputs_and_serves_the_exported_accuracy(
    exported, test_split, tmp_path, monkeypatch, capsys
):
    arguments, broken, labels = with_unreadable_inputs(test_split, tmp_path / "inputs")
    output = tmp_path / "predictions.csv"
    options = [f"export_dir={exported[1]}", f"output={output}", f"batch_size={BATCH_SIZE}"]
    status, _, err = run_main(monkeypatch, capsys, *arguments, *options)

    assert status == 0, err
    *named, summary = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert [line.split(": ")[1] for line in named] == [f"skipped {name}" for name in broken]
    assert summary.startswith(f"warning: skipped 2 of {len(labels) + 2} inputs")
    rows = read_rows(output)
    assert sorted(row["input"] for row in rows) == sorted(labels)
    assert all(0.0 < float(row["probability"]) <= 1.0 for row in rows)
    from_csv = sum(row["class_name"] == labels[row["input"]] for row in rows) / len(rows)
    assert f"accuracy {from_csv:.4f} on {len(labels)} labelled inputs" in err
    exported_accuracy = json.loads((exported[1] / "export.json").read_text())["accuracy"]
    assert abs(from_csv - exported_accuracy) <= 0.001  # serving_default's, eval's
    for size in (1, 1000):  # the batch size changes no prediction
        result = predict.predict(predict_config(*arguments, *options[:1], f"batch_size={size}"))
        assert result["skipped"] == broken and result["accuracy"] == pytest.approx(from_csv)


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
    # (id, overrides, what the error says); {inputs}: the test split's overrides, {tmp}: tmp_path{% if cookiecutter.model_type == "rnn" %},
    # {csv}: export_dir and the test split's CSV without column={% endif %}
    ("no-inputs", ["export_dir={export}"], "error: inputs= is required. Usage:"),
    ("inputs-missing", ["export_dir={export}", "inputs={tmp}/nowhere"], "does not exist"),
    ("batch-size-zero", ["{inputs}", "batch_size=0"], "error: batch_size=0 must be"),
    ("batch-size-text", ["{inputs}", "batch_size=abc"], "error: batch_size=abc must be"),
    ("output-folder-missing", ["{inputs}", "export_dir={export}", "output={tmp}/no/p"], "/no/p"),
    ("no-latest-run", ["{inputs}", "runs_root={tmp}/runs"], "no export under {tmp}/runs/latest"),
    ("run-without-export", ["{inputs}", "run_dir={tmp}"], "there is no export under {tmp}/export"),
    ("not-a-saved-model", ["{inputs}", "export_dir={tmp}"], "SavedModel file does not exist"),
    ("other-kind-of-export", ["{inputs}", "export_dir={tmp}/other"], "has no {{ "serve_bytes" if cookiecutter.model_type == "cnn" else "serving_default" }}"),
    ("strict-not-boolean", ["{inputs}", "strict=maybe"], "error: strict=maybe must be true or"),
    ("number-as-path", ["{inputs}", "export_dir=2024"], "does not exist at: 2024"),
    ("nothing-readable", ["export_dir={export}", "inputs={unreadable}"], "nothing to classify"),
    ("strict", ["export_dir={export}", "inputs={unreadable}", "strict=true"], "cannot be read ("),
    ("unknown-key", ["{inputs}", "colour=red"], "Could not override 'colour'"),
{%- if cookiecutter.model_type == "rnn" %}
    ("csv-without-column", ["{csv}"], "is a CSV file: name its text column with column="),
    ("label-without-column", ["{csv}", "label_column=label"], "needs column=NAME"),
    ("column-unknown", ["{csv}", "column=body"], "has no column 'body'; its columns are"),
{%- endif %}
]


@pytest.mark.parametrize(
    "overrides, message", [row[1:] for row in ERRORS], ids=[row[0] for row in ERRORS]
)
def test_predict_explains_bad_arguments(
    exported, test_split, tmp_path, monkeypatch, capsys, overrides, message
):
    tf.saved_model.save(tf.Module(), str(tmp_path / "other"))  # a SavedModel without signatures
    unreadable = tmp_path / "{{ "unreadable.png" if cookiecutter.model_type == "cnn" else "unreadable.txt" }}"
    unreadable.write_bytes(b"{{ "not an image" if cookiecutter.model_type == "cnn" else "\\xff\\xfe not UTF-8" }}\n")
    values = {
        "export": exported[1],
        "inputs": " ".join(test_split[0]),
        "tmp": tmp_path,
        "unreadable": unreadable,
{%- if cookiecutter.model_type == "rnn" %}
        "csv": f"export_dir={exported[1]} {test_split[0][0]}",
{%- endif %}
    }
    arguments = [item for override in overrides for item in override.format(**values).split()]

    status, out, err = run_main(monkeypatch, capsys, *arguments)

    assert (status, out) == (1, "")
    assert message.format(**values) in err
    assert "Traceback" not in err
    if "Could not override" in message:  # Hydra's own message for unknown keys
        return
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and message.format(**values) in errors[0]
    if message.startswith("error: inputs= is required"):  # the usage: the docstring's commands
        assert err.splitlines()[1:] == predict.USAGE.splitlines()
        assert all(f"{PACKAGE}-predict inputs=" in line for line in err.splitlines()[1:])


def test_the_console_script_has_a_help(monkeypatch, capsys):
    status, out, _ = run_main(monkeypatch, capsys, "--help")
    assert status in (0, None) and "batch_size: 64" in out and "strict: false" in out
