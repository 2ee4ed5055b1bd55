"""The commands a user runs, each in its own process: preprocess, train, eval, export."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tensorflow as tf


@pytest.mark.slow
def test_commands_preprocess_train_evaluate_export(run_module, tmp_path):
    common = ["experiment=smoke", f"data.records_dir={tmp_path / 'records'}"]
    run_dir = f"run_dir={tmp_path / 'run'}"
    for module, overrides in [
        ("data.preprocess_data", common),
        ("train", [*common, run_dir]),
        ("eval", [run_dir]),
        ("export", [run_dir]),
    ]:
        result = run_module(module, *overrides)
        assert result.returncode == 0, f"{module}:\n{result.stderr}"

    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert 0.0 <= metrics["accuracy"] <= 1.0
    classifier = tf.saved_model.load(str(tmp_path / "run" / "export" / "1"))
    assert "serving_default" in classifier.signatures


@pytest.mark.parametrize(
    "module, overrides, message",
    [
        ("eval", ["run_dir=missing"], "is not a run directory"),
        ("train", ["experiment=smoke", "data.name=nowhere"], "not a data source"),
        ("train", ["train.epochs=many"], "epochs"),
    ],
    ids=["eval-without-run", "unknown-source", "bad-type"],
)
def test_bad_input_exits_non_zero_with_a_message(run_module, module, overrides, message):
    result = run_module(module, *overrides)
    assert result.returncode == 1
    assert message in result.stderr


def run_script(name, *arguments, cwd):
    script = Path(__file__).resolve().parents[1] / "scripts" / name
    return subprocess.run(
        [sys.executable, str(script), *arguments],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(script.parents[1] / "src")},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_the_input_benchmark_runs(tmp_path):
    arguments = ["--data", "synthetic", "--steps", "3", "experiment=smoke"]
    result = run_script("benchmark_input.py", *arguments, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "synthetic" in result.stdout and "x)" in result.stdout


@pytest.mark.slow
def test_the_precision_benchmark_runs(tmp_path):
    arguments = ["--steps", "3", "--settings", "float32,mixed", "experiment=smoke"]
    result = run_script("benchmark_train.py", *arguments, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines[-2:]] == ["float32", "mixed"]
    assert lines[-2].endswith("1.00x")
