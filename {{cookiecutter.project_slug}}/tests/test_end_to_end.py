"""The commands a user runs, each in its own process, refusing bad input; the benchmark scripts;
the installed commands. (`make train` with any ARGS is in test_runs.py.)"""

import importlib
import os
import re
import sys
from pathlib import Path

import pytest
from helpers import run_bounded

PROJECT = Path(__file__).resolve().parents[1]
UNKNOWN_SOURCE = "train experiment=smoke data.name=nowhere"
BAD_INPUT = [("eval run_dir=missing", "is not a run directory")]  # (command, what stderr says)
BAD_INPUT += [pytest.param(UNKNOWN_SOURCE, "is no data source", marks=pytest.mark.full)]


@pytest.mark.parametrize("command, message", BAD_INPUT, ids=["eval-without-run", "unknown-source"])
def test_bad_input_exits_non_zero_with_a_message(run_module, command, message):
    result = run_module(*command.split())
    assert result.returncode == 1 and message in result.stderr


def run_script(name, *arguments, cwd):
    script = PROJECT / "scripts" / name
    env = {**os.environ, "PYTHONPATH": str(PROJECT / "src")}
    result = run_bounded([sys.executable, str(script), *arguments], 300, cwd=cwd, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.full
def test_the_benchmark_scripts_run_and_their_ratios_are_their_figures(tmp_path):
    """Speeds are printed rounded: each ratio is checked against the printed speeds."""
    arguments = ["--data", "synthetic", "--steps", "3", "experiment=smoke"]
    output = run_script("benchmark_input.py", *arguments, cwd=tmp_path)
    # synthetic  <step>  <decoding> (<ratio>x)  <cached> (<ratio>x), in examples/s
    row = re.search(r"^synthetic +(\S+) +(\S+) \( *(\S+)x\) +(\S+) \( *(\S+)x\)", output, re.M)
    step, decoding, decoding_ratio, cached, cached_ratio = map(float, row.groups())
    assert step > 0 and decoding > 0 and cached > 0
    assert decoding_ratio == pytest.approx(decoding / step, rel=0.05, abs=0.06)
    assert cached_ratio == pytest.approx(cached / step, rel=0.05, abs=0.06)

    arguments = ["--steps", "3", "--settings", "float32,mixed", "experiment=smoke"]
    output = run_script("benchmark_train.py", *arguments, cwd=tmp_path)
    rows = [line.split() for line in output.splitlines()[-2:]]
    assert [row[0] for row in rows] == ["float32", "mixed"] and rows[0][2] == "1.00x"
    float32_speed, mixed_speed = (float(row[1]) for row in rows)
    assert float32_speed > 0 and mixed_speed > 0
    ratio = mixed_speed / float32_speed  # measured in the same process
    assert float(rows[1][2].rstrip("x")) == pytest.approx(ratio, rel=0.02, abs=0.01)


def console_scripts():
    """[project.scripts] of pyproject.toml: {command: "module:function"}."""
    table = (PROJECT / "pyproject.toml").read_text().split("[project.scripts]\n", 1)[1]
    return dict(re.findall(r'^"?([\w.-]+)"? = "([\w.]+:\w+)"', table.split("\n[", 1)[0], re.M))


@pytest.mark.parametrize("target", console_scripts().values(), ids=console_scripts().keys())
def test_each_console_script_runs(target, monkeypatch, capsys):
    """The function each installed command calls, with --help (the tests run uninstalled)."""
    module, function = target.split(":")
    monkeypatch.setattr(sys, "argv", [target, "--help"])
    with pytest.raises(SystemExit) as exit_info:
        getattr(importlib.import_module(module), function)()
    assert exit_info.value.code in (0, None)
    assert capsys.readouterr().out.strip()  # its help
