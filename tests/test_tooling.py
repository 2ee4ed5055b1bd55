"""What surrounds the code: both CI workflows, template updates with cruft, `make install`'s
Python check and GPU extra, the declared dependencies, and TensorFlow's start-up on a CPU.

    .venv/bin/python -m pytest -q tests/test_tooling.py
"""

import ast
import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10, the oldest that baked projects support (CI bakes on it)
    import tomli as tomllib

import pytest
import yaml
from cookiecutter.main import cookiecutter
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# git without the user's config (hooksPath, signing), and with an author.
GIT_ENV = {
    **os.environ,
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A bake with the default answers."""
    output_dir = tmp_path_factory.mktemp("bake")
    return Path(cookiecutter(str(ROOT), no_input=True, output_dir=str(output_dir)))


def run(*command, cwd: Path, env: dict | None = None, check: bool = True):
    result = subprocess.run(
        [str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True
    )
    if check:
        assert result.returncode == 0, f"{command}:\n{result.stdout}{result.stderr}"
    return result


def load_workflow(path: Path) -> dict:
    workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads `on:` as true
    return workflow


@pytest.mark.parametrize("which", ["template", "baked"])
def test_workflow_is_valid_and_runs_once_per_change(project, which):
    path = (ROOT if which == "template" else project) / ".github" / "workflows" / "ci.yml"
    run(BIN / "check-jsonschema", "--builtin-schema", "vendor.github-workflows", path, cwd=ROOT)
    workflow = load_workflow(path)
    assert set(workflow["on"]["push"]) == {"branches"}  # pull requests: once, not twice
    assert "pull_request" in workflow["on"]
    assert workflow["concurrency"]["cancel-in-progress"] is True
    for name, job in workflow["jobs"].items():
        assert job["timeout-minutes"] <= 90, name
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/setup-python"):
                assert step["with"]["cache"] == "pip"
                assert step["with"]["cache-dependency-path"] == "pyproject.toml"


def test_template_workflow_bakes_on_the_oldest_and_newest_python_and_on_macos():
    jobs = load_workflow(ROOT / ".github" / "workflows" / "ci.yml")["jobs"]
    matrix = jobs["bake"]["strategy"]["matrix"]["include"]
    assert {(row["os"], row["python"]) for row in matrix} >= {
        ("ubuntu-latest", "3.10"),
        ("ubuntu-latest", "3.13"),
    }
    assert any(row["os"].startswith("macos") for row in matrix)
    assert jobs["bake"]["needs"] == "lint"


def test_cruft_update_pulls_a_template_fix_into_an_older_bake(tmp_path):
    template = tmp_path / "template"
    ignore = shutil.ignore_patterns(".git", ".venv", "build", "*_cache", "__pycache__")
    shutil.copytree(ROOT, template, ignore=ignore)
    run("git", "init", "-q", cwd=template, env=GIT_ENV)
    run("git", "add", "-A", cwd=template, env=GIT_ENV)
    run("git", "commit", "-q", "-m", "Template 1", cwd=template, env=GIT_ENV)

    # `cruft create` renders through local_extensions.py too (the filters of _extensions).
    run(BIN / "cruft", "create", "--no-input", "--output-dir", tmp_path, template, cwd=tmp_path)
    project = tmp_path / "my_tf_project"
    assert (project / ".cruft.json").exists()
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "Baked"]):
        run("git", *command, cwd=project, env=GIT_ENV)

    readme = template / "{{cookiecutter.project_slug}}" / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8") + "\nA template fix.\n", "utf-8")
    run("git", "commit", "-q", "-am", "Template 2: a fix", cwd=template, env=GIT_ENV)
    assert run(BIN / "cruft", "check", cwd=project, check=False).returncode != 0

    run(
        BIN / "cruft",
        "update",
        "--skip-apply-ask",
        "--allow-untracked-files",
        cwd=project,
        env=GIT_ENV,
    )
    assert (project / "README.md").read_text(encoding="utf-8").endswith("\nA template fix.\n")
    run(BIN / "cruft", "check", cwd=project)


def fake_python(tmp_path: Path, version: str) -> Path:
    """An executable that answers any question as a Python of `version` would answer the
    Makefile's: it prints the version."""
    path = tmp_path / f"python{version}"
    path.write_text(f"#!/bin/sh\necho {version}\n")
    path.chmod(0o755)
    return path


@pytest.mark.parametrize("version", ["3.9", "3.14"])
def test_make_install_refuses_an_unsupported_python_first(project, tmp_path, version):
    result = run(
        "make", "install", f"PYTHON={fake_python(tmp_path, version)}", cwd=project, check=False
    )
    assert result.returncode != 0
    assert f"is Python {version}; TensorFlow 2.21 needs Python 3.10 to 3.13" in result.stderr
    assert "make install PYTHON=python3.12" in result.stderr
    assert not (project / ".venv").exists()


def test_make_install_gpu_adds_the_cuda_extra(project):
    plain = run("make", "--dry-run", "install", cwd=project).stdout
    gpu = run("make", "--dry-run", "install", "GPU=1", cwd=project).stdout
    assert 'pip install --quiet -e ".[dev]"' in plain and "gpu" not in plain
    assert 'pip install --quiet -e ".[dev,gpu]"' in gpu


def declared_requirements(project: Path) -> dict[str, Requirement]:
    metadata = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = [*metadata["dependencies"]]
    for extra in metadata["optional-dependencies"].values():
        requirements += extra
    return {canonicalize_name(Requirement(text).name): Requirement(text) for text in requirements}


def test_python_range_and_gpu_extra_match_tensorflow(project):
    metadata = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert metadata["requires-python"] == ">=3.10,<3.14"
    base = next(Requirement(text) for text in metadata["dependencies"] if "tensorflow" in text)
    (gpu,) = [Requirement(text) for text in metadata["optional-dependencies"]["gpu"]]
    assert (gpu.name, gpu.extras, gpu.specifier) == (base.name, {"and-cuda"}, base.specifier)


def imported_modules(project: Path) -> set[str]:
    """Top-level names of every module the project's code and tests import."""
    names = set()
    for path in [
        *project.glob("src/**/*.py"),
        *project.glob("scripts/*.py"),
        *project.glob("tests/*.py"),
    ]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names.add(node.module.split(".")[0])
    return names


def test_every_imported_package_is_declared(project):
    local = {path.stem for path in [*project.glob("scripts/*.py"), *project.glob("tests/*.py")]}
    local |= {path.name for path in (project / "src").iterdir()}
    declared = declared_requirements(project)
    distributions = importlib.metadata.packages_distributions()
    for module in sorted(imported_modules(project) - set(sys.stdlib_module_names) - local):
        providers = {canonicalize_name(name) for name in distributions.get(module, [module])}
        assert providers & set(declared), f"{module} (from {providers}) is not declared"


def run_with_tensorflow(project: Path, code: str, path: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(project / "src"), "PATH": path}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the package sets it, as in a user's shell
    return run(sys.executable, "-c", code, cwd=project, env=env)


@pytest.mark.skipif(
    Path("/dev/nvidia0").exists() or shutil.which("nvidia-smi") is not None,
    reason="this machine has an NVIDIA GPU: TensorFlow's CUDA messages are wanted there",
)
def test_no_start_up_alarms_on_a_machine_without_an_nvidia_gpu(project):
    """Importing the package first quiets TensorFlow's import and CUDA's probe; stderr works."""
    code = (
        "import sys; import my_tf_project, tensorflow as tf\n"
        "print(tf.config.list_physical_devices('GPU'))\n"
        "print('stderr works again', file=sys.stderr)\n"
    )
    result = run_with_tensorflow(project, code, os.environ["PATH"])
    assert "cuInit" not in result.stderr and "E0000" not in result.stderr, result.stderr
    assert "All log messages" not in result.stderr and "stderr works again" in result.stderr
    assert result.stdout.strip() == "[]"
