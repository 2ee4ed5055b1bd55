"""The answer matrix: every supported combination bakes a project that parses, is lint-clean and
installs; every unsupported answer stops in the pre-generation hook and says what to type.

    .venv/bin/python -m pytest -q tests/test_answers.py        # about 2 minutes on 2 cores

Each name below is baked with both model types, and within each model type the rows walk
through every license x github_actions pair and alternate the cluster answer. Names change only
the Python code and the package folder, the license only LICENSE and pyproject.toml,
github_actions only .github/, so the full product (2 x 4 x 2 x 2 x 2 x 11 bakes) would check
the same files again and again; cluster and tracking alternate so that each pair of them occurs. The baked projects' own test suites run in test_bake.py, on
non-default names of both model types (the CNN with the cluster answer on).
"""

import dataclasses
import difflib
import hashlib
import itertools
import subprocess
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10, the oldest that baked projects support (CI bakes on it)
    import tomli as tomllib

import black
import pytest
import yaml
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MODEL_TYPES = ("cnn", "rnn")
CACHES = {"__pycache__", ".pytest_cache", ".ruff_cache"}
LICENSES = {  # license answer: how LICENSE starts, the license expression in pyproject.toml
    "MIT": ("MIT License", "MIT"),
    "Apache-2.0": ("                                 Apache License", "Apache-2.0"),
    "BSD-3-Clause": ("BSD 3-Clause License", "BSD-3-Clause"),
    "Proprietary": ("Copyright", "LicenseRef-Proprietary"),
}

# id: (answers, the project_slug and package_name they give)
NAMES = {
    "default": ({}, "my_tf_project", "my_tf_project"),
    "short-ab": ({"project_name": "ab"}, "ab", "ab"),
    "long-40": (
        {"project_name": "Handwritten Digit Recognition Experiment"},
        "handwritten_digit_recognition_experiment",
        "handwritten_digit_recognition_experiment",
    ),
    "longest-50": (
        {"project_name": "Handwritten Digit Recognition Experiments for 2026"},
        "handwritten_digit_recognition_experiments_for_2026",
        "handwritten_digit_recognition_experiments_for_2026",
    ),
    "slug-dash-dot": ({"project_slug": "digit-net.v2"}, "digit-net.v2", "digit_net_v2"),
    "apostrophe": ({"project_name": "Bob's Digit Net"}, "bobs_digit_net", "bobs_digit_net"),
    "parentheses": ({"project_name": "My Net (v2)"}, "my_net_v2", "my_net_v2"),
    "non-ascii": ({"project_name": "Zürich Café Net"}, "zurich_cafe_net", "zurich_cafe_net"),
    "korean": (
        {"project_name": "손글씨 숫자 인식"},
        "songeulssi_susja_insig",
        "songeulssi_susja_insig",
    ),
    "punctuation-only": ({"project_name": "!!!"}, "tf_project", "tf_project"),
    "quotes-in-text": (
        {
            "description": "Holds ''' and \"\"\" and a \\ backslash",
            "author_name": 'Bob O\'Brien "The Net"',
        },
        "my_tf_project",
        "my_tf_project",
    ),
}
TRACKINGS = ("tensorboard", "mlflow", "wandb", "all")
LICENSE_AND_ACTIONS = list(itertools.product(LICENSES, (True, False)))


def _fixture_id(context: dict, name: str) -> str:
    actions = "actions" if context["github_actions"] else "no-actions"
    cluster = "-cluster" if context["cluster"] else ""
    tflite = "-tflite" if context["tflite"] else ""
    tfds = "-tfds" if context["tfds"] else ""
    return (
        f"{context['model_type']}-{name}-{context['license']}-{actions}{cluster}"
        f"-{context['tracking']}{tflite}{tfds}"
    )


def supported_combinations() -> list:
    """One row per model type and name; the license x github_actions pairs cycle through."""
    rows = []
    for shift, model_type in enumerate(MODEL_TYPES):
        for index, (name, (answers, slug, package)) in enumerate(NAMES.items()):
            license_name, actions = LICENSE_AND_ACTIONS[(index + 3 * shift) % 8]
            context = {
                "model_type": model_type,
                "license": license_name,
                "github_actions": actions,
                "cluster": bool((index + shift) % 2),
                "tracking": TRACKINGS[(index // 2 + shift) % len(TRACKINGS)],
                "tflite": bool((index + shift + 1) % 2),
                "tfds": bool((index // 3 + shift) % 2),
                **answers,
            }
            # Installing needs a build per row: once per name is enough.
            install = model_type == MODEL_TYPES[0]
            rows.append(
                pytest.param(
                    context,
                    slug,
                    package,
                    install,
                    id=_fixture_id(context, name),
                )
            )
    return rows


SUPPORTED_COMBINATIONS = supported_combinations()

# id: (answers, what the hook's message must hold)
UNSUPPORTED_COMBINATIONS = {
    "package-over-50-characters": (
        {"project_name": "Handwritten Digit Recognition Experiments for Spring 2026"},
        ["has 57 characters", "package_name=handwritten_digit_recognition_experiments_for"],
    ),
    "name-starts-with-a-digit": (
        {"project_name": "3D Net"},
        ["package_name '3d_net'", "package_name=tf_3d_net"],
    ),
    "name-is-a-keyword": ({"project_name": "Class"}, ["package_name 'class'", "tf_class"]),
    "slug-ends-in-a-dash": ({"project_slug": "digits-"}, ["project_slug 'digits-'"]),
    "package-with-a-dot": ({"package_name": "digit.net"}, ["package_name=digit_net"]),
    "name-shadows-keras": ({"project_name": "Keras"}, ["package_name=keras_project"]),
    "name-shadows-the-stdlib": ({"project_name": "JSON"}, ["package_name 'json'"]),
}


def test_the_matrix_covers_every_answer():
    contexts = [param.values[0] for param in SUPPORTED_COMBINATIONS]
    for model_type in MODEL_TYPES:
        pairs = {
            (context["license"], context["github_actions"])
            for context in contexts
            if context["model_type"] == model_type
        }
        assert pairs == set(LICENSE_AND_ACTIONS), model_type
        clusters = {c["cluster"] for c in contexts if c["model_type"] == model_type}
        assert clusters == {True, False}, model_type
        pairs = {(c["cluster"], c["tracking"]) for c in contexts if c["model_type"] == model_type}
        assert len(pairs) == 8, model_type  # each cluster answer with each tracker
        assert {c["tflite"] for c in contexts if c["model_type"] == model_type} == {True, False}
        assert {c["tfds"] for c in contexts if c["model_type"] == model_type} == {True, False}
    assert len(contexts) == len(MODEL_TYPES) * len(NAMES)


@pytest.fixture(scope="session")
def checked_python_files() -> set[str]:
    """Digests of the (black mode, Python file) pairs black has passed: its verdict depends
    on nothing else, so each text is checked once however many bakes hold it."""
    return set()


@pytest.fixture(scope="session")
def build_python(tmp_path_factory) -> Path:
    """A throw-away venv with a setuptools new enough for the baked pyproject.toml."""
    venv = tmp_path_factory.mktemp("build-venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip(python, "install", "--quiet", "setuptools>=77")
    return python


def pip(python: Path, *args: str, cwd: Path | None = None) -> None:
    """Runs this environment's pip on the environment of `python`."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def bake(tmp_path: Path, context: dict) -> Path:
    return Path(
        cookiecutter(str(ROOT), no_input=True, output_dir=str(tmp_path), extra_context=context)
    )


def run_tool(project: Path, *command: str) -> None:
    result = subprocess.run(
        [str(BIN / command[0]), *command[1:]], cwd=project, capture_output=True, text=True
    )
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}{result.stderr}"


def assert_no_template_syntax(project: Path) -> None:
    for path in project.rglob("*"):
        if path.is_file() and not CACHES & set(path.parts):  # a template folder may hold caches
            text = path.read_text(encoding="utf-8")
            for marker in ("{{ cookiecutter", "{{cookiecutter", "{%", "cookiecutter."):
                assert marker not in text, f"{path.relative_to(project)} still holds {marker!r}"


def assert_config_files_parse(project: Path) -> dict:
    for path in [*project.rglob("*.yaml"), *project.rglob("*.yml")]:
        list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    return tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))


def black_mode(project: Path) -> black.Mode:
    """black's mode from the project's [tool.black], as `black --check` there would read it."""
    config = black.parse_pyproject_toml(str(project / "pyproject.toml"))
    assert set(config) <= {"line_length", "target_version"}, f"read {config} here too"
    return black.Mode(
        line_length=config.get("line_length", black.DEFAULT_LINE_LENGTH),
        target_versions={black.TargetVersion[name.upper()] for name in config["target_version"]},
    )


def assert_black_clean(project: Path, checked: set[str]) -> None:
    """`black --check .`, in process: each bake holds 50 files, most of them alike; notebooks
    too (black[jupyter]), whose cells hold the package name as well."""
    python_mode = black_mode(project)
    for path in sorted([*project.rglob("*.py"), *project.rglob("*.ipynb")]):
        mode = dataclasses.replace(python_mode, is_ipynb=path.suffix == ".ipynb")
        source = path.read_text(encoding="utf-8")
        digest = hashlib.sha256(f"{mode}{source}".encode()).hexdigest()
        if digest in checked:
            continue
        try:
            formatted = black.format_file_contents(source, fast=False, mode=mode)
        except black.NothingChanged:
            checked.add(digest)
            continue
        diff = difflib.unified_diff(source.splitlines(), formatted.splitlines(), lineterm="")
        pytest.fail(f"black would reformat {path.relative_to(project)}:\n" + "\n".join(diff))


@pytest.mark.parametrize("context, slug, package, install", SUPPORTED_COMBINATIONS)
def test_supported_combination_bakes_a_clean_project(
    tmp_path, checked_python_files, build_python, context, slug, package, install
):
    project = bake(tmp_path, context)
    assert project.name == slug
    assert (project / "src" / package / "__init__.py").is_file()
    assert_no_template_syntax(project)
    metadata = assert_config_files_parse(project)["project"]
    license_start, expression = LICENSES[context["license"]]
    assert (project / "LICENSE").read_text(encoding="utf-8").startswith(license_start)
    assert metadata["license"] == expression
    assert metadata["description"] == context.get(
        "description", "A TensorFlow 2 project made from the tf-pattern template."
    )
    assert (project / ".github" / "workflows" / "ci.yml").exists() == context["github_actions"]
    assert (project / "Dockerfile").exists() == context["cluster"]
    assert (project / "src" / package / "watchdog.py").exists() == context["cluster"]
    pyproject = (project / "pyproject.toml").read_text(encoding="utf-8")
    for logger in ("mlflow", "wandb"):
        chosen = context["tracking"] in (logger, "all")
        assert (project / "src" / package / f"{logger}_tracking.py").exists() == chosen
        assert (f'"{logger}>=' in pyproject) == chosen
    assert (project / "src" / package / "tflite.py").exists() == context["tflite"]
    assert (project / "tests" / "test_tflite.py").exists() == context["tflite"]
    assert (project / "src" / package / "data" / "tfds_source.py").exists() == context["tfds"]
    run_tool(project, "ruff", "check", "--no-cache", ".")
    assert_black_clean(project, checked_python_files)
    if install:
        pip(
            build_python,
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-e",
            ".",
            cwd=project,
        )
        assert (build_python.parent / f"{package}-train").exists()


@pytest.mark.parametrize(
    "answers, messages",
    UNSUPPORTED_COMBINATIONS.values(),
    ids=UNSUPPORTED_COMBINATIONS.keys(),
)
def test_unsupported_answer_stops_in_the_hook_and_says_what_to_type(
    tmp_path, capfd, answers, messages
):
    with pytest.raises(FailedHookException):
        cookiecutter(str(ROOT), no_input=True, output_dir=str(tmp_path), extra_context=answers)
    error_output = capfd.readouterr().err
    for message in messages:
        assert message in error_output
    assert "Example:" in error_output
    assert list(tmp_path.iterdir()) == []
