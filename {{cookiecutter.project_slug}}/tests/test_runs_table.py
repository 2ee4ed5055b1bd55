"""The table of runs, on run folders written by hand (no training): three runs that differ in
the learning rate and the dropout rate."""

import json
import os
import sys
from pathlib import Path

import pytest
from helpers import PACKAGE, run_bounded
from omegaconf import OmegaConf

from {{ cookiecutter.package_name }} import runs_table

# (folder under runs/lenet5-digits/, learning rate, dropout rate, result.json, metrics.json,
#  export versions). The third is a sweep job still training.
RUNS = (
    ("2025-01-01_10-00-00", 0.01, 0.1, {"epochs": 2, "best_val_accuracy": 0.5},
     {"accuracy": 0.45, "macro_f1": 0.4}, ("10", "2")),
    ("2025-01-02_11-00-00", 0.003, 0.1, {"epochs": 2, "best_val_accuracy": 0.7},
     {"accuracy": 0.72, "macro_f1": 0.7}, ("1",)),
    ("multirun/2025-01-03_12-00-00/0", 1e-5, 0.5, None, None, ()),
)  # fmt: skip
COLUMNS = ["run", "started", "model.dropout_rate", "train.learning_rate", "epochs"]
COLUMNS += ["best_val_accuracy", "test_accuracy", "macro_f1", "exports", "stale"]


@pytest.fixture
def runs_root(tmp_path: Path) -> Path:
    """runs/: the RUNS as training, eval and export leave them, `latest`, and an empty folder."""
    root = tmp_path / "runs"
    for folder, learning_rate, dropout_rate, result, metrics, exports in RUNS:
        run_dir = root / "lenet5-digits" / folder
        config = {  # run_dir: bookkeeping that differs in every run, not a column
            "run_dir": str(run_dir),
            "model": {"name": "lenet5", "dropout_rate": dropout_rate},
            "train": {"learning_rate": learning_rate, "monitor": "val_accuracy", "epochs": 2},
        }
        for version in (*exports, ".staging-9"):
            (run_dir / "export" / version).mkdir(parents=True)
        OmegaConf.save(config, run_dir / "config.yaml")
        for name, content in [("result.json", result), ("metrics.json", metrics)]:
            if content is not None:
                (run_dir / name).write_text(json.dumps(content))
        if result:  # train.log's first line: when the run started
            (run_dir / "train.log").write_text(f"{folder[:10]} 10:00:01,234 INFO Run dir\n")
    (root / "latest").write_text(f"{run_dir.relative_to(root)}\n")
    (root / "empty").mkdir()
    return root


def test_the_hyperparameters_that_differ_and_the_metrics_of_each_run_or_why_not(runs_root, capsys):
    columns, rows = runs_table.table(runs_table.collect_runs(runs_root))
    assert columns == COLUMNS
    assert [row["run"] for row in rows] == [f"lenet5-digits/{run[0]}" for run in RUNS]
    expected = {
        "train.learning_rate": [0.01, 0.003, 1e-5], "model.dropout_rate": [0.1, 0.1, 0.5],
        "epochs": [2, 2, None], "best_val_accuracy": [0.5, 0.7, None],
        "test_accuracy": [0.45, 0.72, None], "macro_f1": [0.4, 0.7, None],
        "exports": ["2,10", "1", None], "stale": [None, None, None],
        "started": ["2025-01-01 10:00", "2025-01-02 10:00", None],
    }  # fmt: skip
    assert {column: [row[column] for row in rows] for column in expected} == expected
    assert runs_table.main([str(runs_root / "empty")]) == 0  # no runs: a message, not an error
    assert capsys.readouterr().err.startswith("No runs under")
    assert runs_table.main([str(runs_root / "absent")]) == 1
    assert "is not a folder" in capsys.readouterr().err
    (runs_root / "lenet5-digits" / RUNS[0][0] / "result.json").write_text("{")  # edited by hand
    assert runs_table.main([str(runs_root)]) == 1
    assert f'{RUNS[0][0]}/result.json", line 1' in capsys.readouterr().err


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
    assert lines[2].split()[-4:] == ["0.4500", "0.4000", "2,10", "-"]  # one number format
    assert lines[-1].rstrip().endswith("-")  # the unfinished run: no metrics, no export
