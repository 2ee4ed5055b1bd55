"""Validate the answers before anything is rendered.

Cookiecutter runs this file after rendering it with the user's answers. On a bad answer it
prints what was wrong and what to type instead, and exits 1; cookiecutter then deletes the
half-made project folder, so nothing is left behind.
"""

import json
import keyword
import re
import sys

ANSWERS_JSON = r"""{{ {
    "project_slug": cookiecutter.project_slug,
    "package_name": cookiecutter.package_name,
    "model_type": cookiecutter.model_type,
    "license": cookiecutter.license,
    "tracking": cookiecutter.tracking,
    "version": cookiecutter.version,
    "author_email": cookiecutter.author_email,
    "project_name": cookiecutter.project_name,
    "description": cookiecutter.description,
    "author_name": cookiecutter.author_name,
} | tojson }}"""

MODEL_TYPES = ("cnn", "rnn")
LICENSES = ("MIT", "Apache-2.0", "BSD-3-Clause", "Proprietary")
TRACKINGS = ("tensorboard", "mlflow", "wandb", "all")
SLUG_PATTERN = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$")
PACKAGE_PATTERN = re.compile(r"^[a-z_][a-z0-9_]*$")
# Longer names push `from <package>.models.lenet5net import build_lenet5` past black's 99
# columns, and the baked code would no longer pass its own `make lint`.
MAX_PACKAGE_LENGTH = 50
# A package named like a module the project imports would shadow it.
IMPORTED = {"tensorflow", "keras", "numpy", "hydra", "omegaconf", "sklearn", "tensorboard", "yaml"}
IMPORTED |= {"mlflow", "wandb", "optuna", "pytest", "conftest", *sys.stdlib_module_names}
VERSION_PATTERN = re.compile(r"^\d+(\.\d+)*([abc]|rc|\.post|\.dev)?\d*$")
# Free-text answers: the templates escape them for Python and TOML, but they must stay one line.
TEXT_ANSWERS = ("project_name", "description", "author_name", "author_email")
CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def suggest_package_name(name: str) -> str:
    """A valid package name close to `name`, for the error message."""
    words = re.sub(r"[^a-z0-9]+", " ", name.lower()).split()
    if not words or words[0][0].isdigit() or keyword.iskeyword("_".join(words)):
        words.insert(0, "tf")
    suggestion = words[0][:MAX_PACKAGE_LENGTH]
    for word in words[1:]:  # whole words only, up to the length limit
        if len(suggestion) + 1 + len(word) > MAX_PACKAGE_LENGTH:
            break
        suggestion += "_" + word
    return suggestion


def check_answers(answers: dict) -> list[str]:
    """Returns one message per bad answer; an empty list means all answers are good."""
    errors = []
    package_name = answers["package_name"]
    if not PACKAGE_PATTERN.match(package_name) or keyword.iskeyword(package_name):
        errors.append(
            f"package_name {package_name!r} is not a valid Python package name: it must be a "
            "lowercase identifier (letters, digits and '_', not starting with a digit) and not "
            f"a Python keyword. Example: package_name={suggest_package_name(package_name)}"
        )
    elif len(package_name) > MAX_PACKAGE_LENGTH:
        errors.append(
            f"package_name {package_name!r} has {len(package_name)} characters; keep it to "
            f"{MAX_PACKAGE_LENGTH} or fewer (it is typed in every import). "
            f"Example: package_name={suggest_package_name(package_name)}"
        )
    elif package_name in IMPORTED:
        errors.append(
            f"package_name {package_name!r} is the name of a module the project imports, which "
            f"it would hide. Example: package_name={package_name}_project"
        )
    slug = answers["project_slug"]
    if not SLUG_PATTERN.match(slug):
        errors.append(
            f"project_slug {slug!r} is not a safe folder name: use letters, digits, '_', '-' "
            "and '.', starting and ending with a letter or digit. Example: my_tf_project"
        )
    if answers["model_type"] not in MODEL_TYPES:
        errors.append(
            f"model_type {answers['model_type']!r} is not supported: choose one of "
            f"{', '.join(MODEL_TYPES)}. Example: model_type=cnn"
        )
    if answers["license"] not in LICENSES:
        errors.append(
            f"license {answers['license']!r} is not supported: choose one of "
            f"{', '.join(LICENSES)}. Example: license=MIT"
        )
    if answers["tracking"] not in TRACKINGS:
        errors.append(
            f"tracking {answers['tracking']!r} is not supported: choose one of "
            f"{', '.join(TRACKINGS)}. Example: tracking=mlflow"
        )
    if not VERSION_PATTERN.match(answers["version"]):
        errors.append(f"version {answers['version']!r} is not a PEP 440 version. Example: 0.1.0")
    if "@" not in answers["author_email"]:
        errors.append(
            f"author_email {answers['author_email']!r} is not an e-mail address. "
            "Example: you@example.com"
        )
    for name in TEXT_ANSWERS:
        if CONTROL_CHARACTER.search(answers.get(name, "")):
            errors.append(
                f"{name} {answers[name]!r} holds a line break or another control character: "
                f'type it as one line of text. Example: {name}="A digit classifier"'
            )
    return errors


def main() -> None:
    errors = check_answers(json.loads(ANSWERS_JSON))
    if errors:
        for message in errors:
            print(f"ERROR: {message}", file=sys.stderr)
        print(
            "Nothing was generated; run cookiecutter again with a corrected answer.",
            file=sys.stderr,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
