"""Shared fixtures: a real config shrunk to a few steps on tiny data under tmp_path. The
functions the tests share are in helpers.py, imported where used: pytest's own process loads
no TensorFlow (it would print TensorFlow's start-up lines above the results)."""

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig, OmegaConf


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that runs a command in a process of its own or reads the shared trained run is
    slow: make test-fast leaves it out."""
    for item in items:
        if {"run_module", "shared_run", "shared_run_copy"} & set(item.fixturenames):
            item.add_marker(pytest.mark.slow)


# The run that the eval, export, serving and predict tests read: the default data, trained
# and exported (export/1) once per test process. A test that changes it works on a copy.
{%- if cookiecutter.model_type == "cnn" %}
SHARED_RUN = ("data=digits", "train.epochs=3", "train.steps_per_epoch=null")  # ~0.95
{%- else %}
SHARED_RUN = ("data=digit_sentences", "data.num_examples=2000", "train.epochs=2")
{%- endif %}


@pytest.fixture(scope="session")
def shared_run(tmp_path_factory) -> DictConfig:
    """The config of SHARED_RUN, trained and exported."""
    from helpers import smoke_config

    from {{ cookiecutter.package_name }}.export import export
    from {{ cookiecutter.package_name }}.train import train

    cfg = smoke_config(tmp_path_factory.mktemp("shared"), *SHARED_RUN)
    train(cfg)
    export(cfg.run_dir)
    return cfg


@pytest.fixture
def shared_run_copy(shared_run, tmp_path) -> DictConfig:
    """The shared run's config, pointed at a copy of its folder: tmp_path/runs/copy."""
    copy = tmp_path / "runs" / "copy"
    shutil.copytree(shared_run.run_dir, copy)
    return OmegaConf.merge(shared_run, {"run_dir": str(copy), "runs_root": str(copy.parent)})


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., DictConfig]:
    """Returns cfg(*overrides): smoke_config in this test's tmp_path."""
    from helpers import smoke_config

    return lambda *overrides: smoke_config(tmp_path, *overrides)


@pytest.fixture
def run_module(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess]:
    """Returns run(module, *overrides): `python -m <package>.<module>` in tmp_path."""
    from helpers import PACKAGE, run_bounded

    source_dir = Path(__file__).resolve().parents[1] / "src"
    python_path = os.pathsep.join([str(source_dir), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": python_path, "TF_CPP_MIN_LOG_LEVEL": "2"}

    def run(module: str, *overrides: str, timeout: int = 300) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", f"{PACKAGE}.{module}", *overrides]
        return run_bounded(command, timeout, cwd=tmp_path, env=env)

    run.env = env  # for tests that start a process of their own
    return run
