"""The cluster files are checked for structure (kubectl and gcloud are not needed): the right
kinds and replica specs, and commands whose overrides are real config values."""

import re
from pathlib import Path

import yaml
from helpers import smoke_config

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "{{ cookiecutter.package_name }}"


def check_overrides(tmp_path, overrides):
    """Composes the config with the overrides: a misspelt key or a bad value fails here."""
    cfg = smoke_config(tmp_path, *overrides)
    assert cfg.distribute.name == "multi_worker"


def test_tfjob_runs_the_train_command_on_a_chief_and_workers(tmp_path):
    job = yaml.safe_load((ROOT / "deploy" / "kubernetes" / "tfjob.yaml").read_text())
    assert job["apiVersion"] == "kubeflow.org/v1" and job["kind"] == "TFJob"
    replicas = job["spec"]["tfReplicaSpecs"]
    assert set(replicas) == {"Chief", "Worker"}
    assert replicas["Chief"]["replicas"] == 1 and replicas["Worker"]["replicas"] >= 1
    for spec in replicas.values():
        assert spec["restartPolicy"] in ("OnFailure", "ExitCode")  # a lost worker comes back
        (container,) = spec["template"]["spec"]["containers"]
        assert container["name"] == "tensorflow"  # the name the operator expects
        command = container["command"]
        assert command[0] == f"{PACKAGE}-train" and "distribute=multi_worker" in command
        run_dir = next(item.split("=", 1)[1] for item in command if item.startswith("run_dir="))
        mounts = [mount["mountPath"] for mount in container["volumeMounts"]]
        assert any(run_dir.startswith(mount + "/") for mount in mounts)  # a shared volume
        check_overrides(tmp_path, command[1:])


def test_vertex_ai_job_spec(tmp_path):
    text = (ROOT / "deploy" / "vertex_ai.md").read_text()
    (spec_text,) = re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)
    spec = yaml.safe_load(spec_text)
    chief, workers = spec["workerPoolSpecs"]
    assert chief["replicaCount"] == 1 and workers["replicaCount"] >= 1
    container = chief["containerSpec"]
    assert container == workers["containerSpec"]
    assert container["command"] == [f"{PACKAGE}-train"]
    assert any(arg.startswith("run_dir=/gcs/") for arg in container["args"])
    check_overrides(tmp_path, container["args"])
    assert "gcloud ai custom-jobs create" in text and "--config=vertex_job.yaml" in text


def test_dockerfile_takes_the_base_image_as_a_build_argument():
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    assert any(line.startswith("ARG BASE_IMAGE=tensorflow/tensorflow:") for line in lines)
    assert "FROM ${BASE_IMAGE}" in lines
    assert "RUN pip install --no-cache-dir ." in lines
    assert f'CMD ["{PACKAGE}-train"]' in lines
    assert f'"{PACKAGE}-train" = ' in (ROOT / "pyproject.toml").read_text()  # a console script
    for copied in ("pyproject.toml", "README.md", "LICENSE", "src", "scripts"):
        assert (ROOT / copied).exists(), copied
