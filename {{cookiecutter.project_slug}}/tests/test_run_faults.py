"""The faults of a run's life, one case each: a signal, a start that fails, the lock, eval of a
run still training. Each ends in a correct result or one line, and leaves no half-made run."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import PACKAGE, kill_group
from omegaconf import OmegaConf

from {{ cookiecutter.package_name }} import runs
from {{ cookiecutter.package_name }}.eval import evaluate
from {{ cookiecutter.package_name }}.train import train

LONG_RUN = ("experiment=smoke", "data.num_examples=2000", "train.steps_per_epoch=null")
LONG_RUN += ("train.epochs=100",)  # never over before the signal, however slow the machine
STOPS = [  # (signal, sent once this file exists, what the line says is kept)
    (signal.SIGTERM, "runs/run/config.yaml", "it had saved no checkpoint, so it left no run"),
    (signal.SIGINT, "runs/latest", "keeps its checkpoint at step"),  # moved at the first one
]


@pytest.mark.parametrize("signum, moment, kept", STOPS)
def test_a_signal_ends_a_command_in_one_line_leaving_no_half_made_run(
    run_module, tmp_path, signum, moment, kept
):
    run_dir, stderr = tmp_path / "runs" / "run", tmp_path / "stderr"
    command = [sys.executable, "-m", f"{PACKAGE}.train", *LONG_RUN, f"run_dir={run_dir}"]
    with open(stderr, "w") as output:
        options = dict(cwd=tmp_path, env=run_module.env, stderr=output, start_new_session=True)
        process = subprocess.Popen(command, **options)
        try:
            deadline = time.monotonic() + 240
            while not (tmp_path / moment).exists():
                assert process.poll() is None and time.monotonic() < deadline, stderr.read_text()
                time.sleep(0.01)
            process.send_signal(signum)
            assert process.wait(timeout=60) == 128 + signum
        finally:
            kill_group(process)
    *_, line = stderr.read_text().splitlines()
    assert f"cli: Stopped by {signal.Signals(signum).name}: " in line and kept in line
    assert "Traceback" not in stderr.read_text()
    left = [path for path in tmp_path.rglob("*") if path.name.endswith(("lock", "tmp", "_temp"))]
    assert left == []
    if signum == signal.SIGINT:  # the run and its checkpoints, named as `latest`
        assert f"go on with: make resume RUN_DIR={run_dir}" in line
        assert runs.resolve_run_dir("latest", tmp_path / "runs") == run_dir.resolve()
    else:
        assert list((tmp_path / "runs").iterdir()) == []


def test_a_failed_start_leaves_no_run_and_a_retry_starts_afresh(shared_run_copy, tmp_path):
    cfg, root = shared_run_copy, tmp_path / "runs"
    runs.point_latest(cfg)
    failing = {"train": {"init_from": str(tmp_path / "nosuchrun")}}
    for run_dir in (None, str(root / "named")):  # a new folder, one the user named
        with pytest.raises(FileNotFoundError, match="train.init_from="):
            train(OmegaConf.merge(cfg, failing, {"run_dir": run_dir}))
    assert runs.resolve_run_dir("latest", root) == Path(cfg.run_dir).resolve()  # not moved
    group = root / f"{cfg.model.name}-{cfg.data.name}"  # where the new one was made
    assert sorted(os.listdir(root)) == sorted(["copy", "latest", group.name])
    assert os.listdir(group) == []
    # What a killed start leaves (config.yaml, no checkpoint) takes another config afresh.
    killed = root / "killed"
    shutil.copytree(cfg.run_dir, killed, ignore=shutil.ignore_patterns("checkpoints"))
    quick = {"epochs": 1, "steps_per_epoch": 1, "learning_rate": 0.02}
    result = train(OmegaConf.merge(cfg, {"run_dir": str(killed), "train": quick}))
    assert result["steps"] == 1 and runs.resolve_run_dir("latest", root) == killed.resolve()


def test_the_lock_names_its_holder_to_train_and_eval_and_a_killed_ones_is_taken(
    shared_run_copy, caplog
):
    cfg, run_dir = shared_run_copy, Path(shared_run_copy.run_dir)
    (run_dir / "checkpoints" / "ckpt-999.index").write_bytes(b"")  # a save under way
    newest, holder = runs.latest_checkpoint(run_dir), f"PID {os.getpid()} on "
    with runs.run_lock(run_dir):
        with pytest.raises(RuntimeError, match=f"in use by another training \\({holder}"):
            train(OmegaConf.merge(cfg, {"train": {"epochs": 9}}))
        assert evaluate(run_dir)["checkpoint"] == newest  # the newest complete one, named:
    assert f"{run_dir} is still training ({holder}" in caplog.text and newest in caplog.text
    assert not (run_dir / runs.LOCK_FILE).exists()
    (run_dir / runs.LOCK_FILE).write_text("PID 9 on gone")  # what a killed holder leaves
    assert runs.lock_holder(run_dir) is None  # no process holds its OS lock: taken at once
    with runs.run_lock(run_dir):
        assert holder in (run_dir / runs.LOCK_FILE).read_text()
