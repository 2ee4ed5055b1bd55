"""Run folders: a new dated one per run, `latest`, resume only on purpose, the lock, records found
without the data, sweeps, and `make train` with any ARGS. Most work on a copy of the shared run."""

import hashlib
import json
import os
import shlex
from pathlib import Path

import numpy as np
import pytest
from helpers import (
{%- if cookiecutter.model_type == "rnn" %}
    HAM,
    SPAM,
{%- endif %}
    assert_export_serves_evals_accuracy,
    final_weights,
{%- if cookiecutter.model_type == "cnn" %}
    make_folder,
{%- endif %}
    read_events,
    run_bounded,
{%- if cookiecutter.model_type == "cnn" %}
    write_image,
{%- endif %}
)
from omegaconf import OmegaConf
from tensorboard.plugins.hparams import metadata as hparams_metadata

from {{ cookiecutter.package_name }} import runs, runs_table
from {{ cookiecutter.package_name }}.data import preprocess_data
from {{ cookiecutter.package_name }}.train import train

# The commands of `make train`, by their name's last part, and the module each runs.
MODULES = dict(preprocess="data.preprocess_data", train="train", eval="eval", export="export")


def file_digests(folder: Path) -> dict[str, str]:
    """SHA-256 of every file below `folder`, by relative path."""
    files = sorted(path for path in folder.rglob("*") if path.is_file())
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).digest() for p in files}


def test_each_run_gets_a_new_dated_folder_that_latest_names(shared_run, tmp_path, monkeypatch):
    cfg = OmegaConf.merge(shared_run, {"run_dir": None, "runs_root": str(tmp_path / "runs")})
    (first, resume), (second, _) = runs.choose_run_dir(cfg), runs.choose_run_dir(cfg)
    assert not resume and first != second and first.parent == second.parent
    assert first.parent == tmp_path / "runs" / f"{cfg.model.name}-{cfg.data.name}"
    metadata = runs.load_metadata(shared_run.run_dir)
    # eval and export find a run's records without the data (after its folder moved, say)
    monkeypatch.setattr(preprocess_data, "fingerprint", lambda *_: pytest.fail("read the data"))
    records_dir, _ = runs.run_records(runs.load_config(shared_run.run_dir), metadata)
    for run_dir in (first, second):  # as train does: `latest` moves at the first checkpoint
        runs.start_run(OmegaConf.merge(cfg, {"run_dir": str(run_dir)}), records_dir, metadata)
        runs.point_latest(OmegaConf.merge(cfg, {"run_dir": str(run_dir)}))
    assert runs.resolve_run_dir("latest", tmp_path / "runs") == second.resolve()
    assert runs.resolve_run_dir(second.parent / "latest") == second.resolve()
    assert runs.load_config(first).train == shared_run.train
    copied = runs.assets_dir(first) / "metadata.json"
    assert copied.read_bytes() == (Path(records_dir) / "metadata.json").read_bytes()


def test_resume_refuses_another_config_or_data_and_trains_on_with_more_epochs(shared_run_copy):
    cfg, run_dir = shared_run_copy, Path(shared_run_copy.run_dir)
    before = file_digests(run_dir)
    other = {"train": {"learning_rate": 0.02}, "model": {"dropout_rate": 0.25}}
    for way in ({}, {"run_dir": None, "train": {"resume": str(run_dir)}}):
        with pytest.raises(ValueError) as refused:
            train(OmegaConf.merge(cfg, other, way))
        message, rate = str(refused.value), cfg.train.learning_rate
        assert f"train.learning_rate: {rate} in the run, 0.02 now" in message
        assert "model.dropout_rate" in message and "train.init_from=" in message
    saved = run_dir / "assets" / "metadata.json"
    text = saved.read_text()
    saved.write_text(json.dumps({**json.loads(text), "fingerprint": "0"}))  # as if data changed
    with pytest.raises(ValueError, match="trained on other data"):
        train(OmegaConf.merge(cfg, {"train": {"epochs": cfg.train.epochs + 1}}))
    saved.write_text(text)
    done = json.loads((run_dir / runs.RESULT_FILE).read_text())
    again = train(OmegaConf.merge(cfg, {"run_dir": None, "train": {"resume": str(run_dir)}}))
    assert again["epochs"] == done["epochs"]  # a finished run asked again does nothing
    assert file_digests(run_dir) == before  # config.yaml, checkpoints, train.log
    resumed = train(OmegaConf.merge(cfg, {"train": {"epochs": done["epochs"] + 1}}))
    assert (resumed["run_dir"], resumed["epochs"]) == (str(run_dir), done["epochs"] + 1)
    assert resumed["steps"] == done["steps"] // done["epochs"] * (done["epochs"] + 1)
    assert runs.load_config(run_dir).train.epochs == done["epochs"] + 1


def test_a_resume_takes_the_runs_own_config_and_only_the_keys_given(make_config, tmp_path):
    """train.resume=DIR train.epochs=N alone goes on with a run trained on other data (nothing
    to type again) to the weights of an uninterrupted run; a key given that a resume may not
    change is refused, listed alone."""
{%- if cookiecutter.model_type == "cnn" %}
    folder = make_folder(tmp_path / "images", per_class=12)
    data = ["data=image_folder", f"data.path={folder}", "data.image_size=[16,16]"]
{%- else %}
    texts = [(text.replace(",", ""), "ham") for text in HAM]
    texts += [(text.replace(",", ""), "spam") for text in SPAM]
    path = tmp_path / "texts.csv"
    path.write_text("body,topic\n" + "".join(f"{text},{topic}\n" for text, topic in texts * 3))
    data = ["data=csv", f"data.path={path}", "data.text_column=body", "data.label_column=topic"]
{%- endif %}
    data.append("train.lr_schedule=constant")  # cosine's curve ends at the run's last epoch
    stopped, whole = (str(tmp_path / name) for name in ("stopped", "whole"))
    train(make_config(*data, "train.epochs=1", f"run_dir={stopped}"))
    given = [f"train.resume={stopped}", "train.epochs=2"]  # the command line
    assert train(make_config("run_dir=null", *given), given)["epochs"] == 2
    train(make_config(*data, "train.epochs=2", f"run_dir={whole}"))
    for resumed, uninterrupted in zip(final_weights(stopped), final_weights(whole), strict=True):
        np.testing.assert_array_equal(resumed, uninterrupted)
    given += ["train.learning_rate=0.5"]
    with pytest.raises(ValueError) as refused:
        train(make_config("run_dir=null", *given), given)
    listed = [line for line in str(refused.value).splitlines() if " in the run, " in line]
    rate = runs.load_config(stopped).train.learning_rate
    assert listed == [f"  train.learning_rate: {rate} in the run, 0.5 now"]


def test_what_is_not_a_run_explains(make_config, tmp_path):  # run_dir a file: test_config
    with pytest.raises(FileNotFoundError, match="no config.yaml"):
        train(make_config("run_dir=null", f"train.resume={tmp_path}"))
    root = f"runs_root={tmp_path / 'runs'}"
    with pytest.raises(FileNotFoundError, match="there is no run yet"):
        train(make_config("run_dir=null", root, "train.resume=latest"))


def test_make_train_and_predict_on_the_default_data_print_no_alarming_lines(run_module, tmp_path):
    """The commands of `make train ARGS=...` (make -n) preprocess, train, evaluate, export; then
    predict. None prints a TensorFlow E/W line or absl's note (TF_CPP_MIN_LOG_LEVEL unset)."""
    args = "ARGS=train.epochs=1 train.steps_per_epoch=3 train.min_steps=0"
    args += f" data.records_dir={tmp_path / 'records'}"
    outer = ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")  # of a make this test may run under
    env = {key: value for key, value in os.environ.items() if key not in outer}
    make = ["make", "--no-print-directory", "-n", "-o", "install", "train", args]
    dry_run = run_bounded(make, 60, cwd=Path(__file__).resolve().parents[1], env=env)
    assert dry_run.returncode == 0, dry_run.stderr
    commands = [shlex.split(line) for line in dry_run.stdout.splitlines()]
    assert [name.rsplit("-", 1)[-1] for name, *_ in commands] == list(MODULES)
{%- if cookiecutter.model_type == "cnn" %}
    write_image(tmp_path / "inputs" / "a.png", 100)
{%- else %}
    (tmp_path / "inputs").write_text("one two three\nfour five six seven\n")
{%- endif %}
    commands.append(["predict", f"inputs={tmp_path / 'inputs'}"])
    del run_module.env["TF_CPP_MIN_LOG_LEVEL"]  # as a user's shell has it
    for name, *arguments in commands:
        module = name.rsplit("-", 1)[-1]
        result = run_module(MODULES.get(module, module), *arguments)
        assert result.returncode == 0, f"{name} {arguments}:\n{result.stderr[-3000:]}"
        lines = (result.stdout + result.stderr).splitlines()
        noise = ("E0000", "W0000", "WARNING: All log messages")
        assert not [line for line in lines if line.startswith(noise)], f"{name}:\n{lines}"
        if name.endswith("eval"):
            assert "Ignoring train.epochs=1" in result.stderr  # told, not failed
    assert_export_serves_evals_accuracy(runs.resolve_run_dir(tmp_path / "runs/latest"))


OPTUNA = "hparams_search=optuna hydra.sweeper.n_trials=2"
SWEEPS = ["train.learning_rate=0.001,0.01", pytest.param(OPTUNA, marks=pytest.mark.full)]


@pytest.mark.parametrize("sweep", SWEEPS)
def test_a_sweep_gives_every_job_its_own_run(run_module, tmp_path, sweep):
    if sweep == OPTUNA:
        pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    result = run_module("train", "-m", "experiment=smoke", "train.epochs=1", *sweep.split())
    assert result.returncode == 0, result.stderr[-3000:]
    _, rows = runs_table.table(runs_table.collect_runs(tmp_path / "runs"))
    names = [row["run"].rsplit("/", 1)[-1] for row in rows]  # each named by its overrides
    assert [name[:2] for name in names] == ["0_", "1_"]
    assert [row["epochs"] for row in rows] == [1, 1]
    # TensorBoard's HParams tab: a row per job, the swept key first (as _<key>)
    events = read_events(next((tmp_path / "runs").glob("*/multirun/*/0_*")), "validation")
    content = events.SummaryMetadata("_hparams_/session_start_info").plugin_data.content
    info = hparams_metadata.parse_session_start_info_plugin_data(content)
    assert info.group_name.endswith(names[0]) and "_train.learning_rate" in info.hparams
    if sweep == OPTUNA:
        best = next((tmp_path / "runs").glob("*/multirun/*/optimization_results.yaml"))
        assert "best_value" in best.read_text()
    else:
        assert names[1] == "1_train.epochs=1,train.learning_rate=0.01"
        assert sorted(row["train.learning_rate"] for row in rows) == [0.001, 0.01]
