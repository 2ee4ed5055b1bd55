"""The table of runs, on run folders written by hand (no training): three runs of the real
config that differ in the learning rate and the dropout rate."""

import csv
import io
import json
import os
import sys
from pathlib import Path

import pytest
from helpers import PACKAGE, run_bounded, smoke_config
from omegaconf import OmegaConf

from {{ cookiecutter.package_name }} import runs_table

# (folder under runs/<model>-<data>/, learning rate, dropout rate, result.json, metrics.json,
#  checkpoints/best/best.json, export versions). The third is a sweep job still training.
RUNS = (
    ("2025-01-01_10-00-00", 0.001, 0.1, {"epochs": 2, "best_val_accuracy": 0.5,
     "started": "2025-01-01T10:00:05"}, {"accuracy": 0.45, "macro_f1": 0.4}, None, ("1", "2")),
    ("2025-01-02_11-00-00", 0.003, 0.1, {"epochs": 2, "best_val_accuracy": 0.7,
     "started": "2025-01-02T11:00:05"}, {"accuracy": 0.72, "macro_f1": 0.7}, None, ("1",)),
    ("multirun/2025-01-03_12-00-00/0", 0.01, 0.5, None, None,
     {"metric": "val_accuracy", "value": 0.6, "epoch": 1, "step": 5}, ()),
)  # fmt: skip
COLUMNS = ["run", "date", "model", "data", "model.dropout_rate", "train.learning_rate"]
COLUMNS += ["epochs", "best_val_accuracy", "test_accuracy", "macro_f1", "exports"]
SORTS = [  # (--sort=COLUMN, the order of RUNS it gives)
    ("-best_val_accuracy", [1, 2, 0]),
    ("-test_accuracy", [1, 0, 2]),  # missing last, also when descending
    ("train.learning_rate", [0, 1, 2]),
    ("-date", [2, 1, 0]),
]


@pytest.fixture
def runs_root(tmp_path: Path) -> Path:
    """runs/ with the RUNS as training, eval and export leave them (an export cut short too),
    a `latest` pointer and a folder that holds no run."""
    root = tmp_path / "runs"
    for folder, learning_rate, dropout_rate, result, metrics, best, exports in RUNS:
        config = smoke_config(
            tmp_path, f"train.learning_rate={learning_rate}", f"model.dropout_rate={dropout_rate}"
        )
        run_dir = root / f"{config.model.name}-{config.data.name}" / folder
        config.run_dir = str(run_dir)  # bookkeeping that differs in every run: not a column
        (run_dir / "checkpoints" / "best").mkdir(parents=True)
        OmegaConf.save(config, run_dir / "config.yaml", resolve=True)
        for name, content in [("result.json", result), ("metrics.json", metrics)]:
            if content is not None:
                (run_dir / name).write_text(json.dumps(content))
        if best is not None:
            (run_dir / "checkpoints" / "best" / "best.json").write_text(json.dumps(best))
        for version in (*exports, ".staging-9"):
            (run_dir / "export" / version).mkdir(parents=True)
    (root / "latest").write_text(f"{run_dir.relative_to(root)}\n")
    (root / "empty").mkdir()
    return root


def csv_rows(capsys, *arguments: str) -> tuple[list[str], list[dict]]:
    assert runs_table.main([*arguments, "--format", "csv"]) == 0
    reader = csv.DictReader(io.StringIO(capsys.readouterr().out))
    return list(reader.fieldnames), list(reader)


def test_csv_has_the_differing_hyperparameters_and_the_metrics(runs_root, capsys):
    columns, rows = csv_rows(capsys, str(runs_root))
    assert columns == COLUMNS
    group = next(runs_root.glob("*-*")).name
    assert [row["run"] for row in rows] == [f"{group}/{run[0]}" for run in RUNS]
    assert [row["model"] + "-" + row["data"] for row in rows] == [group] * 3
    expected = {  # the date: result.json's start, else the sweep's folder name
        "date": ["2025-01-01 10:00:05", "2025-01-02 11:00:05", "2025-01-03 12:00:00"],
        "train.learning_rate": ["0.001", "0.003", "0.01"], "model.dropout_rate": ["0.1", "0.1", "0.5"],
        "epochs": ["2", "2", ""], "best_val_accuracy": ["0.5", "0.7", "0.6"],  # 0.6: best.json
        "test_accuracy": ["0.45", "0.72", ""], "macro_f1": ["0.4", "0.7", ""],
        "exports": ["1,2", "1", ""],
    }  # fmt: skip
    assert {column: [row[column] for row in rows] for column in expected} == expected


@pytest.mark.parametrize(("key", "order"), SORTS, ids=[key for key, _ in SORTS])
def test_sort_by_any_column(runs_root, capsys, key, order):
    _, rows = csv_rows(capsys, str(runs_root), f"--sort={key}")
    assert [row["run"].split("/", 1)[1] for row in rows] == [RUNS[index][0] for index in order]


def test_all_an_unknown_column_and_no_runs(runs_root, capsys):
    columns, _ = csv_rows(capsys, str(runs_root), "--all")
    assert {"train.batch_size", "train.epochs", "seed", *COLUMNS} <= set(columns)
    for key in ("run_dir", "data.records_dir", "train.log_every_steps", "distribute.name"):
        assert key not in columns  # bookkeeping
    assert runs_table.main([str(runs_root), "--sort", "accuracy"]) == 1  # names no column
    assert "test_accuracy" in capsys.readouterr().err
    assert runs_table.main([str(runs_root / "empty")]) == 0  # a message, not an error
    assert capsys.readouterr().err.startswith("No runs under")
    assert runs_table.main([str(runs_root / "absent")]) == 1
    assert "is not a folder" in capsys.readouterr().err


def test_a_broken_run_is_listed_with_a_note(runs_root, capsys):
    broken = runs_root / "broken" / "2025-01-04_08-00-00"
    broken.mkdir(parents=True)
    (broken / "config.yaml").write_text("train: [not closed\n")
    (broken / "result.json").write_text("{")
    columns, rows = csv_rows(capsys, str(runs_root))
    assert columns == COLUMNS + ["note"]
    row = next(row for row in rows if row["run"].startswith("broken/"))
    assert "config.yaml unreadable" in row["note"] and "result.json unreadable" in row["note"]
    assert row["model"] == "" and row["date"] == "2025-01-04 08:00:00"
    assert [other["note"] for other in rows if other is not row] == [""] * len(RUNS)


def test_an_aligned_table_of_runs_under_runs_without_tensorflow(runs_root):
    code = (
        f"import sys; from {PACKAGE} import runs_table; code = runs_table.main(); "
        "assert 'tensorflow' not in sys.modules, 'imported TensorFlow'; sys.exit(code)"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    result = run_bounded([sys.executable, "-c", code], 60, cwd=runs_root.parent, env=env)
    assert result.returncode == 0, result.stderr  # ROOT defaults to runs/
    lines = result.stdout.splitlines()
    assert lines[0].split() == COLUMNS and set(lines[1]) <= {"-", " "} and len(lines) == 5
    assert lines[-1].rstrip().endswith("-")  # the unfinished run: no metrics, no export
    assert lines[2].index("0.001") + len("0.001") == lines[3].index("0.003") + len("0.003")
