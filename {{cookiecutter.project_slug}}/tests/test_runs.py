"""A user's second hour: a new folder per run, resume only on purpose, the Makefile's commands
with any ARGS, sweeps. Each test is a step a user takes after the first `make train`."""

import csv
import hashlib
import io
import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assert_export_serves_evals_accuracy
from omegaconf import OmegaConf

from {{ cookiecutter.package_name }} import runs
from {{ cookiecutter.package_name }}.train import train

pytestmark = pytest.mark.slow  # every test here trains

PROJECT = Path(__file__).resolve().parents[1]


def file_digests(folder: Path) -> dict[str, str]:
    """SHA-256 of every file below `folder`, by relative path."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def in_tmp_path(tmp_path, monkeypatch):
    """Runs the test with tmp_path as the working directory, where runs/ is made."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def first_run(make_config, in_tmp_path):
    """One finished smoke run in a new dated folder under runs/ (train without run_dir)."""
    result = train(make_config("run_dir=null"))
    return Path(result["run_dir"]), result


def test_each_training_run_gets_a_new_folder_and_trains(first_run, make_config):
    run_dir, result = first_run
    assert run_dir.parent == Path("runs") / run_dir.parent.name  # runs/<model>-<data>/
    assert runs.resolve_run_dir("latest") == run_dir.resolve()
    assert runs.resolve_run_dir(run_dir.parent / "latest") == run_dir.resolve()
    before = file_digests(run_dir)

    second = train(make_config("run_dir=null", "train.learning_rate=0.003"))
    second_dir = Path(second["run_dir"])
    assert second_dir != run_dir and second_dir.parent == run_dir.parent
    assert second["steps"] == result["steps"] > 0  # it trained, from scratch
    assert second["weights_digest"] != result["weights_digest"]
    assert OmegaConf.load(second_dir / "config.yaml").train.learning_rate == 0.003
    assert file_digests(run_dir) == before  # the first run is untouched
    assert runs.resolve_run_dir("latest") == second_dir.resolve()
    saved = json.loads((second_dir / runs.RESULT_FILE).read_text())
    assert saved["weights_digest"] == second["weights_digest"] and saved["finished"]


def test_resuming_with_another_config_is_refused_and_changes_nothing(first_run, make_config):
    run_dir, _ = first_run
    before = file_digests(run_dir)
    for way in (f"run_dir={run_dir}", "train.resume=latest"):
        cfg = make_config(way, "train.learning_rate=0.02", "model.dropout_rate=0.5")
        if way.startswith("train.resume"):
            cfg.run_dir = None
        with pytest.raises(ValueError) as refused:
            train(cfg)
        message = str(refused.value)
        in_run = make_config().train.learning_rate  # the variant's default
        assert f"train.learning_rate: {in_run} in the run, 0.02 now" in message
        assert "model.dropout_rate" in message and "0.5 now" in message
        assert "train.init_from=" in message and "new run" in message
        assert file_digests(run_dir) == before  # config.yaml, checkpoints, train.log


def test_a_finished_run_asked_again_does_nothing(first_run, make_config):
    run_dir, result = first_run
    before = file_digests(run_dir)
    again = train(make_config("run_dir=null", "train.resume=latest"))
    assert again["epochs"] == result["epochs"]
    assert Path(again["run_dir"]).resolve() == run_dir.resolve()
    assert file_digests(run_dir) == before


def test_resume_with_more_epochs_trains_on_in_the_same_folder(first_run, make_config):
    run_dir, result = first_run
    epochs = result["epochs"] + 1
    resumed = train(
        make_config("run_dir=null", f"train.resume={run_dir}", f"train.epochs={epochs}")
    )
    assert Path(resumed["run_dir"]).resolve() == run_dir.resolve()
    assert resumed["epochs"] == epochs
    assert resumed["steps"] == result["steps"] * epochs // result["epochs"]
    assert OmegaConf.load(run_dir / "config.yaml").train.epochs == epochs
    assert len(list(run_dir.parent.iterdir())) == 2  # the run and the `latest` pointer


def test_resume_of_something_that_is_not_a_run_explains(make_config, in_tmp_path):
    with pytest.raises(FileNotFoundError, match="no config.yaml"):
        train(make_config("run_dir=null", f"train.resume={in_tmp_path}"))
    with pytest.raises(FileNotFoundError, match="there is no run yet"):
        train(make_config("run_dir=null", "train.resume=latest"))


def test_a_locked_run_is_refused_at_once(first_run, make_config):
    run_dir, _ = first_run
    with runs.RunLock(run_dir):
        before = file_digests(run_dir)
        with pytest.raises(RuntimeError, match="in use by another training"):
            train(make_config("run_dir=null", "train.resume=latest", "train.epochs=3"))
        assert file_digests(run_dir) == before
    assert not (run_dir / runs.LOCK_FILE).exists()


def test_the_lock_of_a_killed_process_is_free_at_once(tmp_path, run_module):
    """kill -9 leaves the lock file with its holder in it; the lock itself went with it."""
    take_and_die = (
        f"import os, signal; from {runs.__package__} import runs; "
        f"runs.RunLock(__import__('pathlib').Path({str(tmp_path)!r})).__enter__(); "
        "os.kill(os.getpid(), signal.SIGKILL)"
    )
    killed = subprocess.run([sys.executable, "-c", take_and_die], env=run_module.env, timeout=120)
    assert killed.returncode == -signal.SIGKILL
    assert json.loads((tmp_path / runs.LOCK_FILE).read_text())["pid"] != os.getpid()
    with runs.RunLock(tmp_path) as lock:
        assert json.loads((tmp_path / runs.LOCK_FILE).read_text()) == lock.owner
    assert not (tmp_path / runs.LOCK_FILE).exists()


def test_a_second_lock_is_refused_naming_the_holder_and_free_after(tmp_path):
    refused = f"in use by another training \\(PID {os.getpid()}"
    with runs.RunLock(tmp_path), pytest.raises(RuntimeError, match=refused):
        runs.RunLock(tmp_path).__enter__()
    with runs.RunLock(tmp_path):  # released: taken again at once
        pass


def make_train_commands(args: str) -> list[list[str]]:
    """The commands `make train ARGS=...` runs, read from the Makefile (make -n), each as
    `python -m <package>.<module>`."""
    # Not the flags of a make this test may run under (make test): they add "make[1]:" lines.
    outer = ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")
    dry_run = subprocess.run(
        ["make", "--no-print-directory", "-n", "-o", "install", "train", f"ARGS={args}"],
        cwd=PROJECT,
        env={key: value for key, value in os.environ.items() if key not in outer},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    modules = {
        "preprocess": "data.preprocess_data",
        "train": "train",
        "eval": "eval",
        "export": "export",
    }
    commands = []
    for line in dry_run.stdout.splitlines():
        program, *arguments = shlex.split(line)
        command = Path(program).name.rsplit("-", 1)[-1]
        commands.append([modules[command], *arguments])
    return commands


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [
        "experiment=smoke",
        pytest.param(
            "data=synthetic train.epochs=1 train.max_steps_per_epoch=3", marks=pytest.mark.full
        ),
    ],
)
def test_make_train_with_args_runs_all_four_steps(run_module, tmp_path, args):
    commands = make_train_commands(f"{args} data.records_dir={tmp_path / 'records'}")
    assert [command[0] for command in commands] == [
        "data.preprocess_data",
        "train",
        "eval",
        "export",
    ]
    for module, *arguments in commands:
        result = run_module(module, *arguments)
        assert result.returncode == 0, f"{module} {arguments}:\n{result.stderr[-3000:]}"
    assert "Ignoring" in result.stderr or "data=" not in args  # told, not failed
    metrics = assert_export_serves_evals_accuracy(runs.resolve_run_dir(tmp_path / "runs/latest"))
    assert metrics["num_examples"] > 0


@pytest.mark.slow
def test_a_multirun_gives_every_job_its_own_run(run_module, tmp_path):
    result = run_module(
        "train", "-m", "experiment=smoke", "train.epochs=1", "train.learning_rate=0.001,0.01"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = sorted((tmp_path / "runs").glob("*/multirun/*/[0-9]*"))
    assert [job.name for job in jobs] == ["0", "1"]
    rates = [OmegaConf.load(job / "config.yaml").train.learning_rate for job in jobs]
    assert rates == [0.001, 0.01]
    for job in jobs:
        assert json.loads((job / runs.RESULT_FILE).read_text())["steps"] > 0
        assert (job / "checkpoints" / "checkpoint").exists()

    table = run_module("runs_table", str(tmp_path / "runs"), "--format", "csv")
    assert table.returncode == 0, table.stderr
    rows = list(csv.DictReader(io.StringIO(table.stdout)))
    assert sorted(float(row["train.learning_rate"]) for row in rows) == [0.001, 0.01]


@pytest.mark.full
def test_an_optuna_search_runs_its_trials_as_runs(run_module, tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    result = run_module(
        "train",
        "-m",
        "hparams_search=optuna",
        "hydra.sweeper.n_trials=2",
        "experiment=smoke",
        "train.epochs=1",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = sorted((tmp_path / "runs").glob("*/multirun/*/[0-9]*"))
    assert len(jobs) == 2
    best = next((tmp_path / "runs").glob("*/multirun/*/optimization_results.yaml"))
    assert "best_value" in best.read_text()
