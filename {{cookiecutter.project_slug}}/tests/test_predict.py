"""predict: the serving client, on the export of the shared run (conftest.SHARED_RUN).

Every way predict may fail is a row of one table: it exits 1 with one `error: ...` line.
"""

import csv
import shutil
import subprocess
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
from {{ cookiecutter.package_name }}.eval import evaluate

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
    count = metadata.counts["test"]["total"]
    raw_inputs, labels = data_loader.read_raw_examples(records_dir, "test", metadata, count)
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


def class_names(export_dir: Path) -> list[str]:
    return (export_dir / "assets" / "class_names.txt").read_text().splitlines()


def test_predict_in_batches_reproduces_the_evaluated_accuracy(exported, test_split, tmp_path):
    cfg, export_dir = exported
    arguments, labels = test_split
    outputs = {size: tmp_path / f"batch-{size}.csv" for size in (BATCH_SIZE, 1, 1000)}
    results = {}
    for size, output in outputs.items():
        options = (f"export_dir={export_dir}", f"output={output}", f"batch_size={size}")
        results[size] = predict.predict(predict_config(*arguments, *options))

    rows = read_rows(outputs[BATCH_SIZE])
    assert len(labels) > BATCH_SIZE
    assert sorted(row["input"] for row in rows) == sorted(labels)  # every input, once
    assert all(row["class_name"] in class_names(export_dir) for row in rows)
    assert all(0.0 < float(row["probability"]) <= 1.0 for row in rows)
    from_csv = sum(row["class_name"] == labels[row["input"]] for row in rows) / len(rows)
    assert results[BATCH_SIZE] == {
        "export_dir": str(export_dir),
        "predicted": len(labels),
        "skipped": [],
        "accuracy": pytest.approx(from_csv),
    }
    assert abs(from_csv - evaluate(cfg.run_dir)["accuracy"]) <= 0.001
    # The batch size changes no prediction.
    classes = [[row["class_name"] for row in read_rows(path)] for path in outputs.values()]
    assert classes[0] == classes[1] == classes[2]


@pytest.mark.parametrize("run_dir", ["latest", "pointer", "run"])
def test_the_newest_export_of_a_run_is_found(exported, test_split, tmp_path, run_dir):
    """run_dir=latest reads <runs_root>/latest; a pointer file or a run folder work too."""
    _, export_dir = exported
    run = tmp_path / "runs" / "model-data" / "2025-01-31_12-00-00"
    for version in ("2", "10"):  # 10 is newer than 2, though it sorts first as text
        shutil.copytree(export_dir, run / "export" / version)
    (tmp_path / "runs" / "latest").write_text("model-data/2025-01-31_12-00-00\n")
    (tmp_path / "runs" / "model-data" / "latest").write_text("2025-01-31_12-00-00\n")
    given = {
        "latest": "latest",
        "pointer": str(tmp_path / "runs" / "model-data" / "latest"),
        "run": str(run),
    }[run_dir]

    result = predict.predict(
        predict_config(*test_split[0], f"run_dir={given}", f"runs_root={tmp_path / 'runs'}")
    )

    assert Path(result["export_dir"]).resolve() == (run / "export" / "10").resolve()
    assert result["predicted"] == len(test_split[1])


# === Unreadable inputs: named, skipped and counted; strict=true stops ===

{% if cookiecutter.model_type == "cnn" %}
def with_unreadable_inputs(test_split, folder: Path) -> tuple[list[str], list[str]]:
    """The test split plus two broken image files: (overrides, the broken files)."""
    shutil.copytree(test_split[0][0].partition("=")[2], folder)
    broken = [folder / "broken" / "not_an_image.png", folder / "broken" / "truncated.png"]
    broken[0].parent.mkdir()
    broken[0].write_bytes(b"these are not the bytes of an image")
    broken[1].write_bytes(next(folder.rglob("*.png")).read_bytes()[:40])
    return [f"inputs={folder}"], [str(path) for path in broken]

{%- else %}
def with_unreadable_inputs(test_split, folder: Path) -> tuple[list[str], list[str]]:
    """The test split's CSV plus a row with too many and one with too few fields."""
    source = Path(test_split[0][0].partition("=")[2])
    lines = source.read_text(encoding="utf-8").splitlines()
    lines[3:3] = ["one;two;three", "lonely"]  # become rows 4 and 5
    path = folder / "inputs.csv"
    folder.mkdir()
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [f"inputs={path}", *test_split[0][1:]], ["row 4", "row 5"]

{%- endif %}


def predict_with_unreadable_inputs(exported, test_split, tmp_path, monkeypatch, capsys, option):
    """Runs predict on the test split plus unreadable inputs; returns (status, stderr,
    names of the unreadable inputs, output file)."""
    arguments, broken = with_unreadable_inputs(test_split, tmp_path / "inputs")
    output = tmp_path / "predictions.csv"
    status, _, err = run_main(
        monkeypatch, capsys, f"export_dir={exported[1]}", *arguments, f"output={output}", option
    )
    return status, err, broken, output


def test_unreadable_inputs_are_named_skipped_and_counted(
    exported, test_split, tmp_path, monkeypatch, capsys
):
    status, err, broken, output = predict_with_unreadable_inputs(
        exported, test_split, tmp_path, monkeypatch, capsys, f"batch_size={BATCH_SIZE}"
    )

    assert status == 0, err
    *named, summary = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert len(named) == len(broken)
    assert all(
        line.startswith(f"warning: skipped {name}: ")
        for line, name in zip(named, broken, strict=True)
    )
    total = len(test_split[1]) + len(broken)
    assert summary.startswith(f"warning: skipped {len(broken)} of {total} inputs")
    assert len(read_rows(output)) == len(test_split[1])
    assert all(row["input"] not in broken for row in read_rows(output))


def test_strict_stops_at_the_first_unreadable_input(
    exported, test_split, tmp_path, monkeypatch, capsys
):
    status, err, broken, output = predict_with_unreadable_inputs(
        exported, test_split, tmp_path, monkeypatch, capsys, "strict=true"
    )

    assert status == 1
    assert err.strip().splitlines() == [err.strip()]
    assert err.startswith(f"error: {broken[0]} cannot be read (")
    assert not output.exists()


# === Errors: exit status 1 and one line that says what to do ===


def other_variant_export(path: Path) -> Path:
    """A SavedModel with the signatures the other model kind's export has."""
    module = tf.Module()
{%- if cookiecutter.model_type == "cnn" %}
    module.serve = tf.function(
        lambda texts: {"class_name": texts},
        input_signature=[tf.TensorSpec([None], tf.string, "texts")],
    )
    signatures = {"serving_default": module.serve.get_concrete_function()}
{%- else %}
    module.serve = tf.function(
        lambda images: {"class_id": tf.shape(images)[:1]},
        input_signature=[tf.TensorSpec([None, 8, 8, 1], tf.uint8, "images")],
    )
    module.serve_bytes = tf.function(
        lambda image_bytes: {"class_name": image_bytes},
        input_signature=[tf.TensorSpec([None], tf.string, "image_bytes")],
    )
    signatures = {
        "serving_default": module.serve.get_concrete_function(),
        "serve_bytes": module.serve_bytes.get_concrete_function(),
    }
{%- endif %}
    tf.saved_model.save(module, str(path), signatures=signatures)
    return path


ERRORS = [
    # (id, overrides, what the error says); {inputs}: the test split's overrides, {tmp}: tmp_path{% if cookiecutter.model_type == "rnn" %},
    # {csv}: export_dir and the test split's CSV without column={% endif %}
    ("no-inputs", ["export_dir={export}"], "error: inputs= is required. Usage:"),
    ("inputs-missing", ["export_dir={export}", "inputs={tmp}/nowhere"], "does not exist"),
    ("batch-size-negative", ["{inputs}", "batch_size=-1"], "error: batch_size=-1 must be"),
    ("batch-size-zero", ["{inputs}", "batch_size=0"], "error: batch_size=0 must be"),
    ("batch-size-text", ["{inputs}", "batch_size=abc"], "error: batch_size=abc must be"),
    ("output-folder-missing", ["{inputs}", "output={tmp}/no/p.csv"], "the folder {tmp}/no does"),
    ("no-latest-run", ["{inputs}", "runs_root={tmp}/runs"], "error: run_dir=latest: runs_root"),
    ("run-without-export", ["{inputs}", "run_dir={tmp}"], "has no export under {tmp}/export"),
    ("not-a-saved-model", ["{inputs}", "export_dir={tmp}"], "is not a loadable SavedModel"),
    (
        "other-variant-export",
        ["{inputs}", "export_dir={tmp}/other"],
{%- if cookiecutter.model_type == "cnn" %}
        "expects serving_default(texts), not image files through serve_bytes(image_bytes)",
{%- else %}
        "expects serving_default(images), serve_bytes(image_bytes), not texts",
{%- endif %}
    ),
    ("strict-not-boolean", ["{inputs}", "strict=maybe"], "error: strict=maybe must be true or"),
    ("number-as-path", ["{inputs}", "export_dir=2024"], "export_dir=2024 is not a loadable"),
    (
        "nothing-readable",
        ["export_dir={export}", "inputs={unreadable}"],
        "nothing to classify: its 1 input(s) cannot be read.",
    ),
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
    other_variant_export(tmp_path / "other")
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


def test_the_console_script_has_a_help(run_module):
    result = subprocess.run(
        [sys.executable, "-m", f"{PACKAGE}.predict", "--help"],
        capture_output=True,
        text=True,
        env=run_module.env,
        timeout=120,
    )
    assert result.returncode == 0
    assert "batch_size: 64" in result.stdout and "strict: false" in result.stdout
