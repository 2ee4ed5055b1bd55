"""Run folders: a new dated one per run, `latest`, resume only on purpose, the lock, records found
without the data, sweeps, and `make train` with any ARGS. Most work on a copy of the shared run."""

import json
import os
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from helpers import (
    PACKAGE,
    assert_export_serves_evals_accuracy,
    final_weights,
{%- if cookiecutter.model_type == "cnn" %}
    make_folder,
{%- endif %}
    read_events,
    run_bounded,
{%- if cookiecutter.model_type == "cnn" %}
    write_image,
{%- else %}
    write_text_folder,
{%- endif %}
)
from omegaconf import OmegaConf
from tensorboard.plugins.hparams import metadata as hparams_metadata

from {{ cookiecutter.package_name }} import runs, runs_table
from {{ cookiecutter.package_name }}.data import preprocess_data
from {{ cookiecutter.package_name }}.train import train

# The commands of `make train`, by their name's last part, and the module each runs.
MODULES = dict(preprocess="data.preprocess_data", train="train", eval="eval", export="export")


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
    before = {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file()}
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
    # No file changed, or came or went: config.yaml, checkpoints, train.log
    assert {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file()} == before
    resumed = train(OmegaConf.merge(cfg, {"train": {"epochs": done["epochs"] + 1}}))
    assert (resumed["run_dir"], resumed["epochs"]) == (str(run_dir), done["epochs"] + 1)
    assert resumed["steps"] == done["steps"] // done["epochs"] * (done["epochs"] + 1)
    assert runs.load_config(run_dir).train.epochs == done["epochs"] + 1


def test_a_resume_takes_the_runs_own_config_and_only_the_keys_given(make_config, tmp_path):
    """train.resume=DIR train.epochs=N alone goes on with a run trained on other data (nothing
    to type again) to the weights of an uninterrupted run; a key given that a resume may not
    change is refused, listed alone; what is not a run, or no run yet, is explained."""
{%- if cookiecutter.model_type == "cnn" %}
    folder = make_folder(tmp_path / "images", per_class=12)
    data = ["data=image_folder", f"data.path={folder}", "data.image_size=[16,16]"]
{%- else %}
    folder = write_text_folder(tmp_path / "texts", per_class=12)
    data = ["data=text_folder", f"data.path={folder}"]
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
    with pytest.raises(FileNotFoundError, match="no config.yaml"):  # run_dir a file: test_config
        train(make_config("run_dir=null", f"train.resume={tmp_path}"))
    with pytest.raises(FileNotFoundError, match="there is no run yet"):
        train(make_config("run_dir=null", f"runs_root={tmp_path}/none", "train.resume=latest"))


def test_make_train_is_the_documented_commands_and_they_print_no_alarming_lines(
    run_module, tmp_path
):
    """The commands of `make train ARGS=...` (make -n) are docs/platforms.md's commands without
    make; those, as written there, preprocess, train, evaluate, export; then predict. None
    prints a TensorFlow E/W line or absl's note (TF_CPP_MIN_LOG_LEVEL unset)."""
    args = ["train.epochs=1", "train.steps_per_epoch=3", "train.min_steps=0"]
    args += [f"data.records_dir={tmp_path / 'records'}"]  # make's ARGS, each command's too
    outer = ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")  # of a make this test may run under
    env = {key: value for key, value in os.environ.items() if key not in outer}
    make_args = "ARGS=" + " ".join(args)
    make = ["make", "--no-print-directory", "-n", "-o", "install", "train", make_args]
    dry_run = run_bounded(make, 60, cwd=Path(__file__).resolve().parents[1], env=env)
    assert dry_run.returncode == 0, dry_run.stderr
    made = [shlex.split(line)[0].rsplit("-", 1)[-1] for line in dry_run.stdout.splitlines()]
    docs = (Path(__file__).resolve().parents[1] / "docs" / "platforms.md").read_text()
    commands = re.findall(rf"^    python -m {PACKAGE}\.(\S+)$", docs, re.MULTILINE)[:4]
    assert commands == [MODULES[name] for name in made] == list(MODULES.values())
{%- if cookiecutter.model_type == "cnn" %}
    write_image(tmp_path / "inputs" / "a.png", 100)
{%- else %}
    (tmp_path / "inputs").write_text("one two three\nfour five six seven\n")
{%- endif %}
    del run_module.env["TF_CPP_MIN_LOG_LEVEL"]  # as a user's shell has it
    for module, *arguments in [*([c, *args] for c in commands), ["predict", "inputs=inputs"]]:
        result = run_module(module, *arguments)
        assert result.returncode == 0, f"{module} {arguments}:\n{result.stderr[-3000:]}"
        lines = (result.stdout + result.stderr).splitlines()
        noise = ("E0000", "W0000", "WARNING: All log messages")
        assert not [line for line in lines if line.startswith(noise)], f"{module}:\n{lines}"
        if module == "eval":
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
