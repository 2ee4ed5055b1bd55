"""Bakes every supported variant and checks it as a user would; bad answers fail cleanly.

make test            # or: .venv/bin/python -m pytest tests
"""

import ast
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10, the oldest that baked projects support (CI bakes on it)
    import tomli as tomllib

import black
import numpy as np
import pytest
import yaml
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# Real data sets beside the checkout; the test that reads them skips without.
SHARED_DATA = ROOT.parent / "shared" / "data"
PACKAGE = "my_tf_project"  # of the default answers
SOURCE = "src/{package}"  # the paths below name the package folder of each bake by {package}

COMMON_FILES = {
    ".gitignore",
    ".pre-commit-config.yaml",
    "LICENSE",
    "Makefile",
    "README.md",
    "pyproject.toml",
    "scripts/benchmark_input.py",
    "scripts/benchmark_preprocess.py",
    "scripts/benchmark_train.py",
    "docs/architecture.md",
    "docs/performance.md",
    "docs/results.md",
    "docs/testing.md",
    "docs/training.md",
    "docs/platforms.md",
    "notebooks/quickstart.ipynb",
    f"{SOURCE}/configs/local/example.yaml",
    "tests/test_notebook.py",
    f"{SOURCE}/__init__.py",
    f"{SOURCE}/config.py",
    f"{SOURCE}/configs/__init__.py",
    f"{SOURCE}/configs/config.yaml",
    f"{SOURCE}/configs/data/synthetic.yaml",
    f"{SOURCE}/configs/debug/fast.yaml",
    f"{SOURCE}/configs/debug/limit.yaml",
    f"{SOURCE}/configs/debug/overfit.yaml",
    f"{SOURCE}/configs/distribute/auto.yaml",
    f"{SOURCE}/configs/distribute/mirrored.yaml",
    f"{SOURCE}/configs/distribute/one_device.yaml",
    f"{SOURCE}/configs/eval.yaml",
    f"{SOURCE}/configs/experiment/smoke.yaml",
    f"{SOURCE}/configs/export.yaml",
    f"{SOURCE}/configs/hparams_search/optuna.yaml",
    f"{SOURCE}/configs/predict.yaml",
    f"{SOURCE}/configs/train/default.yaml",
    f"{SOURCE}/data/__init__.py",
    f"{SOURCE}/data/data_loader.py",
    f"{SOURCE}/data/input_ops.py",
    f"{SOURCE}/data/metadata.py",
    f"{SOURCE}/data/preprocess_data.py",
    f"{SOURCE}/data/sources.py",
    f"{SOURCE}/checkpoints.py",
    f"{SOURCE}/cli.py",
    f"{SOURCE}/distribute.py",
    f"{SOURCE}/eval.py",
    f"{SOURCE}/export.py",
    f"{SOURCE}/jsonio.py",
    f"{SOURCE}/model.py",
    f"{SOURCE}/predict.py",
    f"{SOURCE}/report.py",
    f"{SOURCE}/models/__init__.py",
    f"{SOURCE}/runs.py",
    f"{SOURCE}/runs_table.py",
    f"{SOURCE}/summaries.py",
    f"{SOURCE}/train.py",
    f"{SOURCE}/trainer.py",
    f"{SOURCE}/controller.py",
    "tests/conftest.py",
    "tests/test_checkpoints.py",
    "tests/test_config.py",
    "tests/test_data_faults.py",
    "tests/test_data_loader.py",
    "tests/helpers.py",
    "tests/test_distribute.py",
    "tests/test_end_to_end.py",
    "tests/test_eval.py",
    "tests/test_export.py",
    "tests/test_learning.py",
    "tests/test_model.py",
    "tests/test_predict.py",
    "tests/test_preprocess_data.py",
    "tests/test_report.py",
    "tests/test_runs.py",
    "tests/test_run_faults.py",
    "tests/test_runs_table.py",
    "tests/test_train.py",
    "tests/test_trainer.py",
}
VARIANT_FILES = {
    "cnn": {
        f"{SOURCE}/configs/data/digits.yaml",
        f"{SOURCE}/configs/data/image_folder.yaml",
        f"{SOURCE}/configs/data/mnist.yaml",
        f"{SOURCE}/configs/model/lenet5.yaml",
        f"{SOURCE}/configs/model/pretrained.yaml",
        f"{SOURCE}/configs/model/resnet.yaml",
        f"{SOURCE}/configs/experiment/image_folder_digits.yaml",
        f"{SOURCE}/data/image_ops.py",
        f"{SOURCE}/data/image_sources.py",
        f"{SOURCE}/models/lenet5net.py",
        f"{SOURCE}/predict_image.py",
        f"{SOURCE}/serving_image.py",
        f"{SOURCE}/models/pretrainednet.py",
        f"{SOURCE}/models/resnetnet.py",
        "tests/test_image_ops.py",
        "tests/test_image_sources.py",
        "tests/test_lenet5net.py",
        "tests/test_pretrainednet.py",
        "tests/test_resnetnet.py",
    },
    "rnn": {
        "scripts/make_sentiment_csv.py",
        f"{SOURCE}/configs/data/csv.yaml",
        f"{SOURCE}/configs/data/digit_sentences.yaml",
        f"{SOURCE}/configs/data/imdb.yaml",
        f"{SOURCE}/configs/data/text_folder.yaml",
        f"{SOURCE}/configs/model/lstm.yaml",
        f"{SOURCE}/configs/model/transformer.yaml",
        f"{SOURCE}/configs/experiment/csv_spam.yaml",
        f"{SOURCE}/data/text_ops.py",
        f"{SOURCE}/data/text_sources.py",
        f"{SOURCE}/models/embeddings.py",
        f"{SOURCE}/models/lstmnet.py",
        f"{SOURCE}/predict_text.py",
        f"{SOURCE}/serving_text.py",
        f"{SOURCE}/models/transformernet.py",
        "tests/test_embeddings.py",
        "tests/test_text_ops.py",
        "tests/test_text_sources.py",
        "tests/test_lstmnet.py",
        "tests/test_transformernet.py",
    },
}
GITHUB_FILES = {".github/workflows/ci.yml"}
LOGGER_FILES = {  # tracking: the files of each logger (all: both)
    "mlflow": {
        f"{SOURCE}/configs/logger/mlflow.yaml",
        f"{SOURCE}/mlflow_tracking.py",
        "tests/test_mlflow_tracking.py",
    },
    "wandb": {
        f"{SOURCE}/configs/logger/wandb.yaml",
        f"{SOURCE}/wandb_tracking.py",
        "tests/test_wandb_tracking.py",
    },
}
CLUSTER_FILES = {  # the cluster answer: training on several machines
    ".dockerignore",
    "Dockerfile",
    "deploy/README.md",
    "deploy/kubernetes/tfjob.yaml",
    "deploy/vertex_ai.md",
    "scripts/launch_local.py",
    f"{SOURCE}/configs/distribute/multi_worker.yaml",
    f"{SOURCE}/watchdog.py",
    "tests/test_deploy.py",
    "tests/test_multi_worker.py",
}
TFDS_FILES = {  # the tfds answer: data=tfds
    f"{SOURCE}/configs/data/tfds.yaml",
    f"{SOURCE}/data/tfds_source.py",
    "tests/test_tfds_source.py",
}
TFLITE_FILES = {  # the tflite answer: model.tflite for LiteRT
    f"{SOURCE}/tflite.py",
    "tests/test_tflite.py",
}
# The README stays a few screens long; detail belongs in docs/ and deploy/README.md.
README_MAX_BYTES = 8192
QUICKSTART_TARGETS = ("train", "test")  # what a fresh machine runs first, as the README says

# Non-default names, so that the baked projects' own suites also run under another package.
VARIANTS = {
    "cnn-bobs-digit-net-cluster": {
        "model_type": "cnn",
        "project_name": "Bob's Digit Net",
        "cluster": True,
        "tfds": True,
    },
    "rnn-korean-apache-no-actions": {
        "model_type": "rnn",
        "project_name": "손글씨 숫자 인식",
        "package_name": "hangul_digits",
        "license": "Apache-2.0",
        "github_actions": False,
        "tracking": "all",
        "tflite": True,
    },
}


@pytest.fixture(scope="session", params=list(VARIANTS))
def baked(request, cookies_session):
    """(answers, project path) of one supported variant, baked once per session."""
    answers = VARIANTS[request.param]
    result = cookies_session.bake(extra_context=answers)
    assert result.exception is None, result.exception
    assert result.exit_code == 0
    return answers, Path(result.project_path)


def package_of(project: Path) -> str:
    """The name of the bake's package: the one folder under src/."""
    (package,) = [path.name for path in (project / "src").iterdir() if path.is_dir()]
    return package


def project_files(project: Path) -> set[str]:
    """Paths of the project's files, without what running its tests or git adds."""
    caches = {"__pycache__", ".pytest_cache", ".ruff_cache", ".git"}
    outputs = {"runs", "data"}  # top-level folders that training writes
    files = set()
    for path in project.rglob("*"):
        parts = path.relative_to(project).parts
        if path.is_file() and not caches & set(parts) and parts[0] not in outputs:
            files.add("/".join(parts))
    return files


def test_the_file_set_is_exactly_the_variants(baked):
    answers, project = baked
    expected = COMMON_FILES | VARIANT_FILES[answers["model_type"]]
    if answers.get("github_actions", True):
        expected |= GITHUB_FILES
    if answers.get("cluster", False):
        expected |= CLUSTER_FILES
    tracking = answers.get("tracking", "tensorboard")
    for logger, files in LOGGER_FILES.items():
        if tracking in (logger, "all"):
            expected |= files | {f"{SOURCE}/configs/logger/tensorboard.yaml"}
    if answers.get("tflite", False):
        expected |= TFLITE_FILES
    if answers.get("tfds", False):
        expected |= TFDS_FILES
    assert project_files(project) == {
        path.format(package=package_of(project)) for path in expected
    }


def test_readme_is_short_and_its_quickstart_targets_exist(baked):
    _, project = baked
    readme = (project / "README.md").read_text(encoding="utf-8")
    size = len(readme.encode("utf-8"))
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes; move detail to docs/"
    makefile = (project / "Makefile").read_text(encoding="utf-8")
    for target in QUICKSTART_TARGETS:
        assert f"\n    make {target} " in readme, f"the quickstart lacks make {target}"
        assert f"\n{target}: " in makefile, f"the Makefile lacks the {target} target"


def test_no_template_syntax_survives(baked):
    _, project = baked
    for relative in project_files(project):
        text = (project / relative).read_text(encoding="utf-8")
        for marker in ("{{ cookiecutter", "{{cookiecutter", "{%", "cookiecutter."):
            assert marker not in text, f"{relative} still holds {marker!r}"


# Words of one model type that a bake of the other must not hold, as regular expressions.
OTHER_VARIANT_WORDS = {
    "cnn": ["image", "pixel"],
    "rnn": ["tokeni[sz]", "vocab", "sequence_length", "embedding"],
}
# file, word, why: the honest uses of the other model type's words. {package}: the package.
OTHER_VARIANT_WORDS_ALLOWED = """
Dockerfile                              image      a container image
deploy/kubernetes/tfjob.yaml            image      a container image
deploy/vertex_ai.md                     image      a container image
deploy/README.md                        image      a container image
tests/test_deploy.py                    image      a container image
README.md                               image      the container image; TensorBoard's Images tab
src/{package}/summaries.py              image      the confusion matrix as a picture
src/{package}/summaries.py              pixel      the confusion matrix as a picture
src/{package}/report.py                 image      the confusion matrix as a picture
tests/test_train.py                     image      the confusion matrix as a picture
tests/test_report.py                    image      the confusion matrix; data.image_size: merge
tests/test_predict.py                   image      predict refuses the export of an image model
notebooks/quickstart.ipynb              image      the confusion matrix as a picture
tests/test_notebook.py                  image      the confusion matrix as a picture
"""


def test_no_file_holds_the_other_model_types_words(baked):
    """A CNN bake does not speak of vocabularies, an RNN bake not of images: each model type's
    code lives in files of its own, which the post-generation hook removes from the other."""
    answers, project = baked
    model_type = answers["model_type"]
    package = package_of(project)
    rows = [line.split(maxsplit=2) for line in OTHER_VARIANT_WORDS_ALLOWED.strip().splitlines()]
    allowed = {(path.format(package=package), word) for path, word, _ in rows}
    other = {"cnn": "rnn", "rnn": "cnn"}[model_type]
    hits = []
    for relative in sorted(project_files(project)):
        try:
            lines = (project / relative).read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:  # not a text file
            continue
        for word in OTHER_VARIANT_WORDS[other]:
            if (relative, word) in allowed:
                continue
            hits += [
                f"{relative}:{number}: {word}: {line.strip()}"
                for number, line in enumerate(lines, 1)
                if re.search(word, line, re.IGNORECASE)
            ]
    assert not hits, f"words of the {other} model in a {model_type} bake:\n" + "\n".join(hits)


def test_license_and_metadata_follow_the_answers(baked):
    answers, project = baked
    license_text = (project / "LICENSE").read_text()
    metadata = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    if answers.get("license") == "Apache-2.0":
        assert "Apache License" in license_text and metadata["license"] == "Apache-2.0"
    else:
        assert license_text.startswith("MIT License") and metadata["license"] == "MIT"
    assert "Your Name" in license_text
    assert metadata["authors"] == [{"name": "Your Name", "email": "you@example.com"}]
    commands = ("preprocess", "train", "eval", "export", "predict", "runs")
    package = package_of(project)
    assert sorted(metadata["scripts"]) == sorted(f"{package}-{name}" for name in commands)


@pytest.mark.parametrize("command", [["ruff", "check", "."], ["black", "--check", "."]])
def test_baked_code_is_lint_clean(baked, command):
    _, project = baked
    assert_tool_passes(project, command)


def lint_imports(project: Path) -> subprocess.CompletedProcess:
    """lint-imports (import-linter) on the project's [tool.importlinter] contracts."""
    return subprocess.run(
        [str(BIN / "lint-imports")],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(project / "src")},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_layers_hold_and_a_forbidden_import_breaks_them(baked, tmp_path):
    _, project = baked
    result = lint_imports(project)
    assert result.returncode == 0 and "0 broken" in result.stdout, result.stdout + result.stderr
    package = package_of(project)
    copy = tmp_path / "copy"
    shutil.copytree(project / "src", copy / "src")
    shutil.copy(project / "pyproject.toml", copy)
    metadata = copy / "src" / package / "data" / "metadata.py"
    metadata.write_text(metadata.read_text() + f"\nfrom {package} import train  # noqa\n")
    result = lint_imports(copy)
    assert result.returncode != 0, result.stdout
    assert "data imports no training, evaluation, export or run module BROKEN" in result.stdout


def assert_tool_passes(project: Path, command: list[str]) -> None:
    """Runs a dev tool of the template's venv (ruff, black) in `project`; it must pass."""
    result = subprocess.run(
        [str(BIN / command[0]), *command[1:]],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def link_venv(project: Path) -> None:
    """Stands in for the .venv that `make install` builds: this environment's tools, linked."""
    bin_dir = project / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for tool in ("python", "ruff", "black", "pre-commit"):
        (bin_dir / tool).symlink_to(BIN / tool)
    (bin_dir / ".installed").touch()  # newer than pyproject.toml: make install skips pip


def test_git_commit_runs_the_hooks_without_the_venv_on_path(baked, tmp_path):
    """A fresh clone: make install, then a plain `git commit` runs ruff and black offline."""
    project = tmp_path / "clone"
    shutil.copytree(baked[1], project, ignore=shutil.ignore_patterns(".git", "*_cache"))
    link_venv(project)
    tools = {shutil.which(tool) for tool in ("git", "make")}
    path = os.pathsep.join(
        sorted({str(Path(tool).parent) for tool in tools} | {"/usr/bin", "/bin"})
    )
    assert not any(shutil.which(tool, path=path) for tool in ("ruff", "black", "pre-commit"))
    env = {
        **{key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"},
        "PATH": path,
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "GIT_CONFIG_GLOBAL": os.devnull,  # no user hooksPath, signing or templates
        "GIT_CONFIG_NOSYSTEM": "1",
        **{
            f"GIT_{who}_{what}": value
            for who in ("AUTHOR", "COMMITTER")
            for what, value in (("NAME", "Test"), ("EMAIL", "test@example.com"))
        },
    }

    def run(*command: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            command, cwd=project, env=env, capture_output=True, text=True, timeout=600
        )

    for command in (["git", "init", "-q"], ["make", "install"], ["git", "add", "-A"]):
        result = run(*command)
        assert result.returncode == 0, result.stdout + result.stderr
    assert (project / ".git" / "hooks" / "pre-commit").exists()
    first = run("git", "commit", "-q", "-m", "Baked")  # every hook on every file
    assert first.returncode == 0, first.stdout + first.stderr

    (project / "scripts" / "scratch.py").write_text("import os, sys\nx = ( 1,2 )\n")
    run("git", "add", "scripts/scratch.py")
    refused = run("git", "commit", "-q", "-m", "Unformatted")
    assert refused.returncode != 0
    hook_output = refused.stdout + refused.stderr  # git gives a hook's stdout to stderr
    assert "- hook id: ruff" in hook_output and "- hook id: black" in hook_output, hook_output
    assert (project / "scripts" / "scratch.py").read_text() == "x = (1, 2)\n"  # fixed by both
    run("git", "add", "scripts/scratch.py")
    fixed = run("git", "commit", "-q", "-m", "Formatted")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr


def test_baked_project_tests_pass(baked):
    _, project = baked
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    # -rfEs: failures, errors and every skip with its reason. A session of its own, so that
    # a suite that hangs is killed with the processes its tests started.
    # The baked `make test` (its full tier too with BAKED_SUITE=full, as the baked CI runs it).
    tier = [] if os.environ.get("BAKED_SUITE") == "full" else ["-m", "not full"]
    suite = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-rfEs", "-p", "no:cacheprovider", "-n", "2"]
        + ["--dist", "loadfile", *tier],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = suite.communicate(timeout=2400)
    except BaseException:
        os.killpg(suite.pid, signal.SIGKILL)
        suite.communicate()
        raise
    assert suite.returncode == 0, stdout[-6000:] + stderr[-3000:]
    assert " passed" in stdout and "failed" not in stdout


def draw_shapes(root: Path, per_class: int = 80, size: int = 64) -> Path:
    """Circles, squares and triangles of random size and place, light on dark, as PNG files."""
    rng, (y, x) = np.random.default_rng(0), np.mgrid[:size, :size] + 0.5
    for name in ("circle", "square", "triangle"):
        (root / name).mkdir(parents=True)
        for index in range(per_class):
            r = rng.uniform(0.1, 0.25) * size  # the half width
            dx, dy = abs(x - rng.uniform(r, size - r)), y - rng.uniform(r, size - r)
            inside = dict(circle=dx**2 + dy**2 < r**2, square=(dx < r) & (abs(dy) < r))
            inside["triangle"] = (abs(dy) < r) & (dx < (dy + r) / 2)  # apex up
            image = np.where(inside[name], rng.integers(155, 256), rng.integers(0, 100))
            Image.fromarray(image.astype(np.uint8)).save(root / name / f"{index:02d}.png")
    return root


def test_the_defaults_learn_a_small_image_folder(baked, tmp_path):
    """240 drawn shapes, 3 steps an epoch: train.min_steps makes the 30 default epochs enough
    (a CNN bake's docs/training.md has the figures). The commands a user types, nothing else."""
    answers, project = baked
    if answers["model_type"] != "cnn":
        pytest.skip("images: a CNN bake")
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    package, shapes, outputs = package_of(project), draw_shapes(tmp_path / "shapes"), []
    for command in ("train", "data=image_folder", f"data.path={shapes}"), ("eval",):
        arguments = [sys.executable, "-m", f"{package}.{command[0]}", *command[1:]]
        done = subprocess.run(arguments, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-3000:]
        outputs.append(done.stderr)
    assert "167 epochs of 3 steps (at least train.min_steps=500" in outputs[0]
    latest = tmp_path / "runs" / "latest"
    run_dir = latest.parent / latest.read_text().strip()
    assert json.loads((run_dir / "metrics.json").read_text())["accuracy"] >= 0.9


# Per model type: the real data set beside the checkout, what preprocess must count in it.
SHARED_SETS = {
    "cnn": (["data=image_folder", "data.path=mnist-8k"], "9", 8000, 807),
    "rnn": (["data=csv", "data.path=sms-spam/sms_spam.csv"], "spam", 5574, 747),
}


def test_the_baked_preprocess_reads_the_shared_real_data(baked, tmp_path):
    """The MNIST-8k PNG folder (CNN) or the SMS spam CSV (RNN), read by the baked preprocess."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent")
    answers, project = baked
    overrides, name, total, of_name = SHARED_SETS[answers["model_type"]]
    command = [sys.executable, "-m", f"{package_of(project)}.data.preprocess_data", *overrides]
    command += [f"data.records_dir={tmp_path}"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(project / "src")}
    done = subprocess.run(command, cwd=SHARED_DATA, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    (metadata_file,) = tmp_path.glob("*/metadata.json")
    counts = json.loads(metadata_file.read_text())["counts"].values()
    assert sum(count["total"] for count in counts) == total
    assert sum(count["per_class"][name] for count in counts) == of_name


BAD_ANSWERS = {
    "package-with-dash": ({"package_name": "my-pkg"}, "package_name 'my-pkg'"),
    "package-keyword": ({"package_name": "class"}, "package_name 'class'"),
    "package-leading-digit": ({"package_name": "1abc"}, "package_name '1abc'"),
    "package-uppercase": ({"package_name": "MyPkg"}, "package_name 'MyPkg'"),
    "slug-with-space": ({"project_slug": "my project!"}, "project_slug 'my project!'"),
    "slug-with-colon": ({"project_slug": "my:project"}, "project_slug 'my:project'"),
    "bad-version": ({"version": "one"}, "version 'one'"),
    "description-two-lines": ({"description": "two\nlines"}, "description 'two\\nlines'"),
    "author-with-tab": ({"author_name": "A\tB"}, "author_name 'A\\tB'"),
}


@pytest.mark.parametrize("answers, message", BAD_ANSWERS.values(), ids=BAD_ANSWERS.keys())
def test_bad_answers_fail_in_the_hook_and_leave_nothing(tmp_path, capfd, answers, message):
    with pytest.raises(FailedHookException):
        cookiecutter(
            str(ROOT),
            no_input=True,
            output_dir=str(tmp_path),
            extra_context={"package_name": "ok_name", **answers},
        )
    error_output = capfd.readouterr().err
    assert message in error_output and "Example:" in error_output
    assert list(tmp_path.iterdir()) == []


# Answers that once broke the bake: each must land verbatim in pyproject.toml, the package
# docstring, README and LICENSE, and leave code that compiles, parses and is lint-clean.
HOSTILE_ANSWERS = {
    "description-ends-in-quote": {"description": 'A net that says "hi"'},
    "description-ends-in-backslash": {"description": "Paths like C:\\data\\"},
    "description-holds-triple-quotes": {"description": "Holds ''' and \"\"\" and \\n inside"},
    "description-non-ascii-and-emoji": {"description": "Zürich digits, naïve café 🚀"},
    "korean-project-name": {
        "project_name": "손글씨 숫자 인식",
        "project_slug": "hangul_digits",
        "package_name": "hangul_digits",
    },
    "author-apostrophe-and-quotes": {
        "author_name": 'Bob O\'Brien "The Net"',
        "author_email": "o'brien@example.com",
    },
}


def bake_answers(tmp_path: Path, answers: dict) -> tuple[dict, Path]:
    """(every answer, project path) of a bake with `answers` over the defaults."""
    defaults = json.loads((ROOT / "cookiecutter.json").read_text(encoding="utf-8"))
    context = {**defaults, "package_name": PACKAGE, **answers}
    project = cookiecutter(
        str(ROOT), no_input=True, output_dir=str(tmp_path), extra_context=answers
    )
    return context, Path(project)


@pytest.mark.parametrize("answers", HOSTILE_ANSWERS.values(), ids=HOSTILE_ANSWERS.keys())
def test_hostile_answers_land_verbatim_and_the_bake_stays_valid(tmp_path, answers):
    context, project = bake_answers(tmp_path, answers)
    metadata = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert metadata["description"] == context["description"]
    author = {"name": context["author_name"], "email": context["author_email"]}
    assert metadata["authors"] == [author]
    init = project / "src" / context["package_name"] / "__init__.py"
    tree = compile(init.read_text(encoding="utf-8"), str(init), "exec", ast.PyCF_ONLY_AST)
    docstring = ast.get_docstring(tree, clean=False)
    assert docstring.strip() == f"{context['project_name']}: {context['description']}".strip()
    readme = (project / "README.md").read_text(encoding="utf-8")
    assert readme.startswith(f"# {context['project_name']}\n")
    assert context["author_name"] in (project / "LICENSE").read_text(encoding="utf-8")
    for path in [*project.rglob("*.yaml"), *project.rglob("*.yml")]:
        list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    for command in (["ruff", "check", "."], ["black", "--check", "."]):
        assert_tool_passes(project, command)


NASTY_TEXTS = ['"', "'", "\\", '"\'"', "'''", '"""', "a\\", 'x"', "\t\n\x7f", "손글씨 🚀", " pad "]


@pytest.mark.parametrize("text", NASTY_TEXTS)
def test_escape_filters_round_trip_and_are_black_stable(text):
    spec = importlib.util.spec_from_file_location("escape_filters", ROOT / "local_extensions.py")
    filters = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(filters)
    mode = black.Mode(line_length=99)
    assert tomllib.loads(f"value = {filters.toml_string(text)}")["value"] == text
    assert ast.literal_eval(filters.py_string(text)) == text
    docstring = filters.py_docstring("A: " + text)
    assert ast.literal_eval(docstring).strip() == ("A: " + text).strip()
    for source in (f"X = {filters.py_string(text)}\n", f"{docstring}\n"):
        assert black.format_str(source, mode=mode) == source


def test_unknown_model_type_is_refused_and_leaves_nothing(tmp_path):
    with pytest.raises(ValueError, match="model_type"):
        cookiecutter(
            str(ROOT),
            no_input=True,
            output_dir=str(tmp_path),
            extra_context={"model_type": "transformer"},
        )
    assert list(tmp_path.iterdir()) == []


def load_hook(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "hooks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pre_gen_hook_refuses_unsupported_choices_itself():
    check_answers = load_hook("pre_gen_project").check_answers
    good = {
        "project_slug": "ok",
        "package_name": "ok",
        "model_type": "cnn",
        "license": "MIT",
        "tracking": "tensorboard",
        "version": "0.1.0",
        "author_email": "a@b.c",
    }
    assert check_answers(good) == []
    bad = {"model_type": "transformer", "license": "GPL", "tracking": "neptune"}
    errors = check_answers({**good, **bad})
    assert len(errors) == 3
    assert "model_type 'transformer'" in errors[0] and "cnn, rnn" in errors[0]
    assert "license 'GPL'" in errors[1]
    assert "tracking 'neptune'" in errors[2] and "tensorboard, mlflow, wandb, all" in errors[2]


def test_post_gen_hook_removes_the_other_variant(tmp_path):
    hook = load_hook("post_gen_project")
    for paths in hook.VARIANT_PATHS.values():
        for path in paths:
            (tmp_path / path.format(package="pkg")).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / path.format(package="pkg")).write_text("")
    hook.remove_other_variants(tmp_path, "rnn", "pkg")
    assert (tmp_path / "src/pkg/models/lstmnet.py").exists()
    assert not (tmp_path / "src/pkg/models/lenet5net.py").exists()


def test_post_gen_hook_removes_what_only_the_cluster_answer_uses(tmp_path):
    hook = load_hook("post_gen_project")
    for path in hook.CLUSTER_PATHS:
        path = tmp_path / path.format(package="pkg")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    (tmp_path / "deploy").unlink()
    (tmp_path / "deploy" / "kubernetes").mkdir(parents=True)
    (tmp_path / "deploy" / "kubernetes" / "tfjob.yaml").write_text("")
    (tmp_path / "src/pkg/train.py").write_text("")
    hook.remove_paths(tmp_path, "pkg", hook.CLUSTER_PATHS)
    left = [str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*") if path.is_file()]
    assert left == ["src/pkg/train.py"]
    assert not (tmp_path / "deploy").exists()
