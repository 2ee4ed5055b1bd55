"""Faults a run directory survives, one case each: a second trainer, a kill at any moment, a
run_dir that cannot be one, a data folder moved after training."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import kill_group
from omegaconf import OmegaConf

from {{ cookiecutter.package_name }} import runs

PACKAGE = "{{ cookiecutter.package_name }}"
# 12 steps an epoch on the smoke data, a checkpoint every 4 steps: saves happen often.
OVERRIDES = [
    "experiment=smoke",
    "train.epochs=4",
    "train.max_steps_per_epoch=null",
    "train.checkpoint_every_steps=4",
]


def start_training(run_module, run_dir: Path, *overrides: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", f"{PACKAGE}.train", *OVERRIDES, *overrides, f"run_dir={run_dir}"],
        cwd=run_dir.parent,
        env=run_module.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # kill_group ends it with its children
    )


def wait_for(condition, process: subprocess.Popen, timeout: float = 240) -> bool:
    """Polls `condition` until it holds (True) or the process ends first (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            return False
        if time.monotonic() > deadline:
            kill_group(process)
            pytest.fail("the condition did not come within the time limit")
        time.sleep(0.005)
    return True


def weights_digest(run_dir: Path) -> str:
    return json.loads((run_dir / runs.RESULT_FILE).read_text())["weights_digest"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The digest of the final weights of an uninterrupted run with OVERRIDES."""
    from conftest import smoke_config

    from {{ cookiecutter.package_name }}.train import train

    tmp_path = tmp_path_factory.mktemp("reference")
    cfg = smoke_config(tmp_path, *OVERRIDES[1:])
    return train(cfg)["weights_digest"], tmp_path / "records"


@pytest.mark.slow
def test_a_second_trainer_into_a_busy_run_is_refused_and_the_first_finishes(
    run_module, tmp_path, reference
):
    digest, records = reference
    run_dir = tmp_path / "run"
    first = start_training(run_module, run_dir, f"data.records_dir={records}")
    try:
        assert wait_for(lambda: runs.RunLock(run_dir).read_holder(), first)  # taken, named
        # Paused (alive, holding the lock) while the second starts: on a busy machine the
        # short first run could otherwise finish before the second has imported TensorFlow.
        os.kill(first.pid, signal.SIGSTOP)
        try:
            second = run_module(
                "train", *OVERRIDES, "train.batch_size=8", f"run_dir={run_dir}", timeout=120
            )
        finally:
            os.kill(first.pid, signal.SIGCONT)
        assert second.returncode == 1
        assert "in use by another training" in second.stderr and str(first.pid) in second.stderr
        assert first.wait(timeout=300) == 0, first.stderr.read()[-3000:]
    finally:
        kill_group(first)
    assert OmegaConf.load(run_dir / "config.yaml").train.batch_size == 16
    assert weights_digest(run_dir) == digest  # only the first run's steps
    assert not (run_dir / runs.LOCK_FILE).exists()


def checkpoint_save_in_progress(run_dir: Path) -> bool:
    return any((run_dir / "checkpoints").glob("*_temp*"))


KILL_POINTS = {
    # the lock is the first thing written: nothing else is there yet
    "before-the-first-step": lambda run_dir: (run_dir / runs.LOCK_FILE).exists(),
    "during-a-checkpoint-save": checkpoint_save_in_progress,
    "after-the-first-epoch": lambda run_dir: (run_dir / "checkpoints" / "best").exists(),
}
FULL_ONLY = ("before-the-first-step", "after-the-first-epoch")  # make test kills mid-save


@pytest.mark.slow
@pytest.mark.parametrize(
    "moment",
    [
        pytest.param(moment, id=name, marks=[pytest.mark.full] if name in FULL_ONLY else [])
        for name, moment in KILL_POINTS.items()
    ],
)
def test_a_run_killed_at_any_moment_resumes_to_the_same_weights(
    run_module, tmp_path, reference, moment
):
    digest, records = reference
    run_dir = tmp_path / "run"
    process = start_training(run_module, run_dir, f"data.records_dir={records}")
    try:
        killed = wait_for(lambda: moment(run_dir), process)
    finally:
        kill_group(process)
    assert killed, "the run ended before the moment came; give it more steps"
    resumed = run_module("train", *OVERRIDES, f"data.records_dir={records}", f"run_dir={run_dir}")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert weights_digest(run_dir) == digest


@pytest.mark.parametrize(
    "make_run_dir, message",
    [
        (lambda tmp_path: (tmp_path / "file").write_text("x") and tmp_path / "file", "is a file"),
        (lambda tmp_path: tmp_path, "not a run"),
    ],
    ids=["run-dir-is-a-file", "resume-of-a-folder-that-is-no-run"],
)
def test_a_run_dir_that_cannot_be_one_gives_one_line(run_module, tmp_path, make_run_dir, message):
    path = make_run_dir(tmp_path)
    key = "run_dir" if path.is_file() else "train.resume"
    result = run_module("train", "experiment=smoke", f"{key}={path}")
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr


def write_own_data(folder: Path) -> None:
    """A tiny data set of the kind a user brings, with a few examples of two classes."""
{%- if cookiecutter.model_type == "cnn" %}
    import tensorflow as tf

    for label, value in (("dark", 40), ("light", 215)):
        (folder / label).mkdir(parents=True)
        for index in range(24):
            image = tf.fill([12, 12, 1], tf.constant(value + index, tf.uint8))
            (folder / label / f"{index}.png").write_bytes(tf.io.encode_png(image).numpy())
{%- else %}
    folder.mkdir(parents=True)
    rows = [f"good day number {index},yes" for index in range(24)]
    rows += [f"bad night number {index},no" for index in range(24)]
    (folder / "texts.csv").write_text("text,label\n" + "\n".join(rows) + "\n")
{%- endif %}


def own_data_source(data: Path) -> list[str]:
    """The overrides that read write_own_data's folder."""
{%- if cookiecutter.model_type == "cnn" %}
    return ["data=image_folder", f"data.path={data}"]
{%- else %}
    return ["data=csv", f"data.path={data / 'texts.csv'}"]
{%- endif %}


@pytest.mark.full
def test_eval_and_export_need_only_the_run_when_the_data_folder_moved(run_module, tmp_path):
    data = tmp_path / "data" / "mine"
    write_own_data(data)
    trained = run_module("train", "experiment=smoke", *own_data_source(data), "run_dir=run")
    assert trained.returncode == 0, trained.stderr[-3000:]
    shutil.move(data, tmp_path / "moved")
    for command in ("eval", "export"):
        result = run_module(command, "run_dir=run")
        assert result.returncode == 0, f"{command}:\n{result.stderr[-3000:]}"
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["num_examples"] > 0


@pytest.mark.full
def test_resuming_after_the_data_files_changed_is_refused_and_changes_nothing(
    run_module, tmp_path
):
    data = tmp_path / "data" / "mine"
    write_own_data(data)
    overrides = ["experiment=smoke", *own_data_source(data), "run_dir=run"]
    assert run_module("train", *overrides).returncode == 0
    before = {path: path.read_bytes() for path in (tmp_path / "run").rglob("*") if path.is_file()}
{%- if cookiecutter.model_type == "cnn" %}
    shutil.copy(data / "dark" / "0.png", data / "dark" / "new.png")  # one more image
{%- else %}
    with open(data / "texts.csv", "a") as texts:
        texts.write("good day number 99,yes\n")  # one more row
{%- endif %}
    resumed = run_module("train", *overrides, "train.epochs=3")
    assert resumed.returncode == 1
    assert "trained on other data" in resumed.stderr and "Traceback" not in resumed.stderr
    after = {path: path.read_bytes() for path in (tmp_path / "run").rglob("*") if path.is_file()}
    assert after == before
