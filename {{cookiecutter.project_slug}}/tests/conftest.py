"""Shared fixtures: a real config shrunk to a few steps on tiny data under tmp_path."""

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from omegaconf import DictConfig

from {{ cookiecutter.package_name }}.config import register_configs

PACKAGE = "{{ cookiecutter.package_name }}"
# Real data sets for the tests that read them (e.g. MNIST digits as PNG folders, an SMS spam
# CSV): SHARED_DATA_DIR names their folder; without it those tests skip.
SHARED_DATA = os.environ.get("SHARED_DATA_DIR")


def shared_data(relative: str) -> Path:
    """The path of a shared data set, or a skipped test when it is absent."""
    path = Path(SHARED_DATA or "SHARED_DATA_DIR-is-not-set").resolve() / relative
    if not path.exists():
        pytest.skip(f"{path} is absent (set SHARED_DATA_DIR to the shared data folder)")
    return path


def wait_for_first_checkpoint(
    process: subprocess.Popen,
    run_dir: Path,
    timeout: float = 240,
    output: Callable[[], str] = lambda: "",
) -> None:
    """Returns as soon as run_dir's first checkpoint is complete; fails the test when
    `process` ends first or nothing comes within `timeout` seconds (then kills it)."""
    index = Path(run_dir) / "checkpoints" / "checkpoint"
    deadline = time.monotonic() + timeout
    while not index.exists():
        if process.poll() is not None:
            pytest.fail(
                f"the process ended (rc {process.returncode}) before its first checkpoint\n"
                + output()[-5000:]
            )
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("no checkpoint within the time limit")
        time.sleep(0.01)


def smoke_config(tmp_path: Path, *overrides: str) -> DictConfig:
    """The project's config with experiment=smoke, its run and records in tmp_path."""
    register_configs()
    with initialize_config_module(config_module=f"{PACKAGE}.configs", version_base="1.3"):
        return compose(
            config_name="config",
            overrides=[
                "experiment=smoke",
                f"run_dir={tmp_path / 'run'}",
                f"data.records_dir={tmp_path / 'records'}",
                *overrides,
            ],
        )


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., DictConfig]:
    """Returns cfg(*overrides): smoke_config in this test's tmp_path."""
    return lambda *overrides: smoke_config(tmp_path, *overrides)


@pytest.fixture
def run_module(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess]:
    """Returns run(module, *overrides): `python -m <package>.<module>` in tmp_path."""
    source_dir = Path(__file__).resolve().parents[1] / "src"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(source_dir), os.environ.get("PYTHONPATH", "")]),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }

    def run(module: str, *overrides: str, timeout: int = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", f"{PACKAGE}.{module}", *overrides],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    run.env = env  # for tests that start a process of their own
    return run
