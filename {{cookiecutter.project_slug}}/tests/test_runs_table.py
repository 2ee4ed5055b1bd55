"""The table of runs, on run folders written by hand (no training): three runs of the real
config that differ in the learning rate and the dropout rate."""

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PACKAGE, smoke_config
from omegaconf import OmegaConf

from {{ cookiecutter.package_name }} import runs_table

# (folder under runs/<model>-<data>/, learning rate, dropout rate, result.json, metrics.json,
#  checkpoints/best/best.json, export versions). The third is a sweep job that has not finished.
RUNS = (
    (
        "2025-01-01_10-00-00",
        0.001,
        0.1,
        {"epochs": 2, "best_val_accuracy": 0.5, "started": "2025-01-01T10:00:05"},
        {"accuracy": 0.45, "macro_f1": 0.4},
        None,
        ("1", "2"),
    ),
    (
        "2025-01-02_11-00-00",
        0.003,
        0.1,
        {"epochs": 2, "best_val_accuracy": 0.7, "started": "2025-01-02T11:00:05"},
        {"accuracy": 0.72, "macro_f1": 0.7},
        None,
        ("1",),
    ),
    (
        "multirun/2025-01-03_12-00-00/0",
        0.01,
        0.5,
        None,
        None,
        {"metric": "val_accuracy", "value": 0.6, "epoch": 1, "step": 5},
        (),
    ),
)
# (arguments, the order of RUNS they give)
SORTS = [
    (["--sort=-best_val_accuracy"], [1, 2, 0]),
    (["--sort", "-best"], [1, 2, 0]),  # a unique prefix; '-' without '='
    (["--sort", "test_accuracy"], [0, 1, 2]),  # missing last
    (["--sort=-test_accuracy"], [1, 0, 2]),  # missing last also when descending
    (["--sort", "learning_rate"], [0, 1, 2]),  # a unique suffix of train.learning_rate
    (["--sort=-train.learning_rate"], [2, 1, 0]),
    (["--sort", "-date"], [2, 1, 0]),
]
DIFFERING = ["model.dropout_rate", "train.learning_rate"]
FIXED_BEFORE = ["run", "date", "model", "data"]
FIXED_AFTER = ["epochs", "best_val_accuracy", "test_accuracy", "macro_f1", "exports"]


def write_run(run_dir: Path, config, result=None, metrics=None, best=None, exports=()) -> None:
    """A run folder as training, eval and export leave it."""
    (run_dir / "checkpoints" / "best").mkdir(parents=True)
    OmegaConf.save(config, run_dir / "config.yaml", resolve=True)
    for name, content in (("result.json", result), ("metrics.json", metrics)):
        if content is not None:
            (run_dir / name).write_text(json.dumps(content))
    if best is not None:
        (run_dir / "checkpoints" / "best" / "best.json").write_text(json.dumps(best))
    for version in exports:
        (run_dir / "export" / version / "assets").mkdir(parents=True)
    (run_dir / "export").mkdir(exist_ok=True)
    (run_dir / "export" / ".staging-9").mkdir()  # an export cut short: not a version


@pytest.fixture
def runs_root(tmp_path: Path) -> Path:
    """runs/ with the three RUNS, a `latest` pointer and a folder that holds no run."""
    root = tmp_path / "runs"
    for folder, learning_rate, dropout_rate, result, metrics, best, exports in RUNS:
        config = smoke_config(
            tmp_path, f"train.learning_rate={learning_rate}", f"model.dropout_rate={dropout_rate}"
        )
        run_dir = root / f"{config.model.name}-{config.data.name}" / folder
        config.run_dir = str(run_dir)  # bookkeeping that differs in every run: not a column
        write_run(run_dir, config, result, metrics, best, exports)
    (root / "latest").write_text(f"{run_dir.relative_to(root)}\n")
    (root / "empty").mkdir()
    return root


def group(root: Path) -> str:
    return next(path.name for path in root.iterdir() if path.name not in ("latest", "empty"))


def csv_rows(capsys, *arguments: str) -> tuple[list[str], list[dict]]:
    assert runs_table.main([*arguments, "--format", "csv"]) == 0
    reader = csv.DictReader(io.StringIO(capsys.readouterr().out))
    return list(reader.fieldnames), list(reader)


def test_csv_has_the_differing_hyperparameters_and_the_metrics(runs_root, capsys):
    columns, rows = csv_rows(capsys, str(runs_root))
    assert columns == FIXED_BEFORE + DIFFERING + FIXED_AFTER
    name = group(runs_root)
    assert [row["run"] for row in rows] == [f"{name}/{run[0]}" for run in RUNS]
    assert [float(row["train.learning_rate"]) for row in rows] == [0.001, 0.003, 0.01]
    assert [float(row["model.dropout_rate"]) for row in rows] == [0.1, 0.1, 0.5]
    model, data = name.split("-")
    assert {(row["model"], row["data"]) for row in rows} == {(model, data)}
    assert [row["date"] for row in rows] == [
        "2025-01-01 10:00:05",  # result.json's start
        "2025-01-02 11:00:05",
        "2025-01-03 12:00:00",  # the sweep's folder name
    ]
    assert [row["epochs"] for row in rows] == ["2", "2", ""]
    assert [row["best_val_accuracy"] for row in rows] == ["0.5", "0.7", "0.6"]
    assert [row["test_accuracy"] for row in rows] == ["0.45", "0.72", ""]
    assert [row["macro_f1"] for row in rows] == ["0.4", "0.7", ""]
    assert [row["exports"] for row in rows] == ["1,2", "1", ""]


@pytest.mark.parametrize(("arguments", "order"), SORTS, ids=[" ".join(a) for a, _ in SORTS])
def test_sort_by_any_column(runs_root, capsys, arguments, order):
    _, rows = csv_rows(capsys, str(runs_root), *arguments)
    assert [row["run"].split("/", 1)[1] for row in rows] == [RUNS[index][0] for index in order]


def test_sort_by_an_unknown_column_names_the_columns(runs_root, capsys):
    assert runs_table.main([str(runs_root), "--sort", "accuracy_of_nothing"]) == 1
    assert "test_accuracy" in capsys.readouterr().err


def test_json_is_a_list_of_rows_with_native_values(runs_root, capsys):
    assert runs_table.main([str(runs_root), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["train.learning_rate"] for row in rows] == [0.001, 0.003, 0.01]
    assert [row["epochs"] for row in rows] == [2, 2, None]
    assert list(rows[0]) == FIXED_BEFORE + DIFFERING + FIXED_AFTER


def test_all_shows_every_hyperparameter_but_no_bookkeeping(runs_root, capsys):
    columns, _ = csv_rows(capsys, str(runs_root), "--all")
    assert {"train.batch_size", "train.epochs", "seed", *DIFFERING} <= set(columns)
    for key in ("run_dir", "data.records_dir", "train.log_every_steps", "distribute.name"):
        assert key not in columns


def test_a_broken_run_is_listed_with_a_note(runs_root, capsys):
    broken = runs_root / "broken" / "2025-01-04_08-00-00"
    broken.mkdir(parents=True)
    (broken / "config.yaml").write_text("train: [not closed\n")
    (broken / "result.json").write_text("{")
    columns, rows = csv_rows(capsys, str(runs_root))
    assert columns == FIXED_BEFORE + DIFFERING + FIXED_AFTER + ["note"]
    row = next(row for row in rows if row["run"].startswith("broken/"))
    assert "config.yaml unreadable" in row["note"] and "result.json unreadable" in row["note"]
    assert row["model"] == "" and row["date"] == "2025-01-04 08:00:00"
    assert [other["note"] for other in rows if other is not row] == [""] * len(RUNS)


def test_main_prints_an_aligned_table_of_runs_under_runs(runs_root, capsys, monkeypatch):
    monkeypatch.chdir(runs_root.parent)
    assert runs_table.main([]) == 0  # ROOT defaults to runs/
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == FIXED_BEFORE + DIFFERING + FIXED_AFTER
    assert len(lines) == 2 + len(RUNS) and set(lines[1]) <= {"-", " "}
    assert lines[-1].rstrip().endswith("-")  # the unfinished run: no metrics, no export
    assert lines[2].index("0.001") + len("0.001") == lines[3].index("0.003") + len("0.003")


def test_no_runs_is_a_message_not_an_error(tmp_path, capsys):
    assert runs_table.main([str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "No runs under" in captured.err
    assert runs_table.main([str(tmp_path / "absent")]) == 1
    assert "is not a folder" in capsys.readouterr().err


def test_the_command_imports_no_tensorflow(runs_root):
    code = (
        f"import sys; from {PACKAGE} import runs_table; code = runs_table.main([sys.argv[1]]); "
        "assert 'tensorflow' not in sys.modules, 'imported TensorFlow'; sys.exit(code)"
    )
    source_dir = Path(__file__).resolve().parents[1] / "src"
    result = subprocess.run(
        [sys.executable, "-c", code, str(runs_root)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(source_dir)},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "train.learning_rate" in result.stdout
