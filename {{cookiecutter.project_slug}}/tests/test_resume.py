"""Kill-and-resume: a run killed with SIGKILL and restarted ends where an uninterrupted one does."""

import subprocess
import sys

import numpy as np
import pytest
from conftest import PACKAGE, kill_group, wait_for_first_checkpoint

from {{ cookiecutter.package_name }} import checkpoints, runs
from {{ cookiecutter.package_name }} import model as model_lib

# 12 steps per epoch on the smoke data, a checkpoint every 4 steps; dropout stays on, so the
# random state must be restored too{{ ", and so does augmentation" if cookiecutter.model_type == "cnn" else "" }}.
OVERRIDES = [
    "experiment=smoke",
    "train.epochs=8",
    "train.max_steps_per_epoch=null",
    "train.checkpoint_every_steps=4",
    "train.log_every_steps=4",
    "train.deterministic=true",
{%- if cookiecutter.model_type == "cnn" %}
    "data.augment.crop_padding=2",
    "data.augment.brightness=0.1",
{%- endif %}
]
PLANNED_STEPS = 8 * 12


def final_weights(run_dir):
    model = model_lib.build_model(runs.load_config(run_dir).model, runs.load_metadata(run_dir))
    checkpoints.restore_model(model, run_dir)
    return model.get_weights()


def kill_after_first_checkpoint(process, run_dir, timeout=120):
    """SIGKILLs the training process as soon as its first checkpoint is complete."""
    wait_for_first_checkpoint(process, run_dir, timeout)
    finished_already = process.poll() is not None
    process.kill()
    process.wait(timeout=30)
    assert not finished_already, "the run finished before it could be killed; give it more steps"


def kill_and_resume(
    run_module, run_dir, overrides: list[str], before_the_kill=(), after_the_kill=()
) -> subprocess.CompletedProcess:
    """Trains into run_dir (with `before_the_kill` too), SIGKILLs it as soon as its first
    checkpoint is complete, then trains again there (with `after_the_kill`); returns that
    resumed run, which must have resumed and finished."""
    process = subprocess.Popen(
        [sys.executable, "-m", f"{PACKAGE}.train", *overrides, *before_the_kill]
        + [f"run_dir={run_dir}"],
        cwd=run_dir.parent,
        env=run_module.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        kill_after_first_checkpoint(process, run_dir)
    finally:
        kill_group(process)
    resumed = run_module("train", *overrides, *after_the_kill, f"run_dir={run_dir}")
    assert resumed.returncode == 0, resumed.stderr
    assert "Resuming from" in resumed.stderr
    return resumed


@pytest.mark.full
def test_killed_run_resumes_to_the_same_weights(run_module, tmp_path):
    """Also: several steps per call (train.steps_per_loop) compute exactly what one step per
    call does, and the setting may change on resume: one step per call uninterrupted, up to 4
    before the kill, up to 2 after it."""
    uninterrupted = run_module(
        "train", *OVERRIDES, "train.steps_per_loop=1", f"run_dir={tmp_path / 'whole'}"
    )
    assert uninterrupted.returncode == 0, uninterrupted.stderr

    run_dir = tmp_path / "killed"
    resumed = kill_and_resume(
        run_module, run_dir, OVERRIDES, ["train.steps_per_loop=4"], ["train.steps_per_loop=2"]
    )
    assert f"Done: 8 epochs, {PLANNED_STEPS} steps" in resumed.stderr

    for whole, killed in zip(
        final_weights(tmp_path / "whole"), final_weights(run_dir), strict=True
    ):
        np.testing.assert_array_equal(whole, killed)
