"""Shape the rendered project to the chosen answers, then print the next steps.

Cookiecutter runs this file inside the new project folder. Each ``remove_*`` function does
one thing and can be imported and called on its own (the template's tests do).
"""

import json
import shutil
from pathlib import Path

# Rendered by cookiecutter; read through tojson so quotes in answers cannot break the file.
ANSWERS_JSON = r"""{{ {
    "package_name": cookiecutter.package_name,
    "model_type": cookiecutter.model_type,
    "license": cookiecutter.license,
    "github_actions": cookiecutter.github_actions,
    "cluster": cookiecutter.cluster,
    "tracking": cookiecutter.tracking,
    "tflite": cookiecutter.tflite,
    "tfds": cookiecutter.tfds,
} | tojson }}"""

# Paths (relative to the project root) that only one model type uses.
VARIANT_PATHS = {
    "cnn": [
        "src/{package}/data/image_ops.py",
        "src/{package}/data/image_sources.py",
        "src/{package}/serving_image.py",
        "src/{package}/predict_image.py",
        "src/{package}/models/lenet5net.py",
        "src/{package}/models/resnetnet.py",
        "src/{package}/models/pretrainednet.py",
        "src/{package}/configs/data/digits.yaml",
        "src/{package}/configs/data/image_folder.yaml",
        "src/{package}/configs/data/mnist.yaml",
        "src/{package}/configs/model/lenet5.yaml",
        "src/{package}/configs/model/resnet.yaml",
        "src/{package}/configs/model/pretrained.yaml",
        "src/{package}/configs/experiment/image_folder_digits.yaml",
        "tests/test_image_ops.py",
        "tests/test_image_sources.py",
        "tests/test_lenet5net.py",
        "tests/test_resnetnet.py",
        "tests/test_pretrainednet.py",
    ],
    "rnn": [
        "scripts/make_sentiment_csv.py",
        "src/{package}/data/text_ops.py",
        "src/{package}/data/text_sources.py",
        "src/{package}/serving_text.py",
        "src/{package}/predict_text.py",
        "src/{package}/models/lstmnet.py",
        "src/{package}/models/transformernet.py",
        "src/{package}/models/embeddings.py",
        "src/{package}/configs/data/digit_sentences.yaml",
        "src/{package}/configs/data/csv.yaml",
        "src/{package}/configs/data/text_folder.yaml",
        "src/{package}/configs/data/imdb.yaml",
        "src/{package}/configs/model/lstm.yaml",
        "src/{package}/configs/model/transformer.yaml",
        "src/{package}/configs/experiment/csv_spam.yaml",
        "tests/test_text_ops.py",
        "tests/test_text_sources.py",
        "tests/test_lstmnet.py",
        "tests/test_transformernet.py",
        "tests/test_embeddings.py",
    ],
}

# Paths (relative to the project root) that only the cluster answer (training on several
# machines) uses.
CLUSTER_PATHS = [
    ".dockerignore",
    "Dockerfile",
    "deploy",
    "scripts/launch_local.py",
    "src/{package}/watchdog.py",
    "src/{package}/configs/distribute/multi_worker.yaml",
    "tests/test_deploy.py",
    "tests/test_multi_worker.py",
]

# Paths that only some tracking answers use (all: mlflow and wandb).
LOGGER_PATHS = ["src/{package}/configs/logger"]  # the group: tensorboard and the others
MLFLOW_PATHS = [
    "src/{package}/configs/logger/mlflow.yaml",
    "src/{package}/mlflow_tracking.py",
    "tests/test_mlflow_tracking.py",
]
WANDB_PATHS = [
    "src/{package}/configs/logger/wandb.yaml",
    "src/{package}/wandb_tracking.py",
    "tests/test_wandb_tracking.py",
]

# Paths that only the tfds answer (data=tfds: TensorFlow Datasets) uses.
TFDS_PATHS = [
    "src/{package}/data/tfds_source.py",
    "src/{package}/configs/data/tfds.yaml",
    "tests/test_tfds_source.py",
]

# Paths that only the tflite answer (a .tflite for LiteRT beside the SavedModel) uses.
TFLITE_PATHS = [
    "src/{package}/tflite.py",
    "tests/test_tflite.py",
]


def remove_other_variants(root: Path, model_type: str, package: str) -> None:
    """Deletes the files of every model type but `model_type`."""
    for variant, paths in VARIANT_PATHS.items():
        if variant == model_type:
            continue
        for path in paths:
            (root / path.format(package=package)).unlink()


def remove_paths(root: Path, package: str, paths: list[str]) -> None:
    """Deletes `paths` (files or folders), the package folder named as {package}."""
    for path in paths:
        path = root / path.format(package=package)
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def write_license(root: Path, license_name: str) -> None:
    """Moves the chosen license text to LICENSE and drops the others."""
    licenses = root / "licenses"
    shutil.move(licenses / f"{license_name}.txt", root / "LICENSE")
    shutil.rmtree(licenses)


def remove_github_actions(root: Path) -> None:
    """Deletes the GitHub Actions workflow."""
    shutil.rmtree(root / ".github")


def print_next_steps(root: Path, package: str) -> None:
    print(
        f"\nCreated {root.name}. Next steps:\n"
        f"  cd {root.name}\n"
        "  make train   # sets up .venv, preprocesses, trains, evaluates and exports\n"
        "  make test    # runs the project's own tests\n"
        f"  make help    # every target; {package}-train --help for every config value\n"
    )


def main() -> None:
    answers = json.loads(ANSWERS_JSON)
    root = Path.cwd()
    package = answers["package_name"]
    remove_other_variants(root, answers["model_type"], package)
    write_license(root, answers["license"])
    if not answers["github_actions"]:
        remove_github_actions(root)
    if not answers["cluster"]:
        remove_paths(root, package, CLUSTER_PATHS)
    if answers["tracking"] not in ("mlflow", "all"):
        remove_paths(root, package, MLFLOW_PATHS)
    if answers["tracking"] not in ("wandb", "all"):
        remove_paths(root, package, WANDB_PATHS)
    if answers["tracking"] == "tensorboard":
        remove_paths(root, package, LOGGER_PATHS)
    if not answers["tflite"]:
        remove_paths(root, package, TFLITE_PATHS)
    if not answers["tfds"]:
        remove_paths(root, package, TFDS_PATHS)
    print_next_steps(root, package)


if __name__ == "__main__":
    main()
