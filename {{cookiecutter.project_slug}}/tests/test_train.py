import glob
import json
import os
from pathlib import Path

import numpy as np
import pytest

from {{ cookiecutter.package_name }} import model as model_lib
from {{ cookiecutter.package_name }} import runs
from {{ cookiecutter.package_name }}.eval import evaluate
from {{ cookiecutter.package_name }}.train import train


def test_train_writes_a_complete_run_directory(make_config):
    cfg = make_config()
    result = train(cfg)
    run_dir = cfg.run_dir

    assert result["epochs"] == 2 and result["steps"] == 10
    assert 0.0 <= result["val_accuracy"] <= 1.0 and np.isfinite(result["loss"])
    for name in ("config.yaml", "train.log", "assets/metadata.json"):
        assert os.path.exists(os.path.join(run_dir, name)), name
    assert result["checkpoint"].startswith(os.path.join(run_dir, "checkpoints", "ckpt-"))
    log = Path(run_dir, "train.log").read_text()
    assert "epoch 2/2 step 3/5 - loss" in log and "examples_per_second" in log  # progress
    assert "epoch 2/2 - loss" in log and "Done: 2 epochs, 10 steps" in log  # epoch, summary


def test_train_resumes_from_the_latest_checkpoint(make_config):
    first = train(make_config("train.epochs=1"))
    assert first["steps"] == 5

    resumed = train(make_config("train.epochs=3"))
    assert resumed["epochs"] == 3 and resumed["steps"] == 15
    log = Path(make_config().run_dir, "train.log").read_text()
    assert "Resuming from" in log and "epoch 1/3" not in log and "epoch 3/3" in log
    assert len(glob.glob(os.path.join(make_config().run_dir, "checkpoints", "*.index"))) == 3


def test_an_interrupted_save_leaves_the_latest_checkpoint_readable(make_config):
    """A save killed half-way leaves files that the `checkpoint` index does not name yet."""
    run_dir = make_config().run_dir
    train(make_config("train.epochs=1"))
    checkpoints_dir = Path(run_dir, "checkpoints")
    (checkpoints_dir / "ckpt-99.index").write_bytes(b"\x00truncated")
    (checkpoints_dir / "ckpt-99.data-00000-of-00001").write_bytes(b"")
    (checkpoints_dir / "ckpt-99_temp").mkdir()

    resumed = train(make_config("train.epochs=2"))
    assert resumed["steps"] == 10
    assert f"Resuming from {checkpoints_dir / 'ckpt-5'}" in Path(run_dir, "train.log").read_text()


def test_step_checkpoints_and_the_best_checkpoint(make_config):
    cfg = make_config("train.checkpoint_every_steps=2", "train.keep_checkpoints=10")
    result = train(cfg)
    saved = sorted(
        int(Path(path).stem.split("-")[1])
        for path in glob.glob(os.path.join(cfg.run_dir, "checkpoints", "ckpt-*.index"))
    )
    assert saved == [2, 4, 5, 6, 8, 10]  # every 2 steps and at each epoch's end (5, 10)

    best = json.loads(Path(cfg.run_dir, "checkpoints", "best", "best.json").read_text())
    assert best["metric"] == "val_accuracy" and best["value"] == result["best_val_accuracy"]
    assert best["checkpoint"] == result["best_checkpoint"]
    assert best["step"] in (5, 10) and os.path.exists(best["checkpoint"] + ".index")

    # eval and export load the best with checkpoint=best
    assert evaluate(cfg.run_dir, "best")["checkpoint"] == best["checkpoint"]
    assert evaluate(cfg.run_dir)["checkpoint"] == result["checkpoint"]
    with pytest.raises(ValueError, match="checkpoint='first' must be latest or best"):
        evaluate(cfg.run_dir, "first")


def test_early_stopping_stops_and_stays_stopped(make_config):
    # No epoch can beat the first by more than min_delta=2, so patience 1 ends epoch 2.
    overrides = ("train.epochs=5", "train.patience=1", "train.min_delta=2")
    result = train(make_config(*overrides))
    assert result["epochs"] == 2 and result["steps"] == 10
    best = json.loads(Path(result["run_dir"], "checkpoints", "best", "best.json").read_text())
    assert best["epoch"] == 1 and best["step"] == 5

    again = train(make_config(*overrides))
    assert again["steps"] == 10
    log = Path(result["run_dir"], "train.log").read_text()
    assert "Early stopping: val_accuracy has not improved for 1 epochs" in log


def test_resuming_on_other_data_is_refused(make_config):
    train(make_config("train.epochs=1"))
    with pytest.raises(ValueError, match="trained on other data"):
        train(make_config("train.epochs=2", "data.num_examples=300"))


def test_a_diverging_loss_stops_the_run_at_its_step(make_config):
    cfg = make_config("train.learning_rate=inf", "train.optimizer=sgd")
    # Step 1 computes its loss before the infinite update; step 2's loss is NaN.
    with pytest.raises(FloatingPointError, match="became nan at step 2; the run stopped"):
        train(cfg)
    assert not glob.glob(os.path.join(cfg.run_dir, "checkpoints", "**", "*.index"), recursive=True)


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.batch_size=0", "train.batch_size=0 must be at least 1"),
        ("train.validate_every_steps=-1", "must be 0 \\(off\\) or more"),
        ("train.monitor=f1", "train.monitor='f1' is not supported"),
        ("train.jit_compile=true", "Set train.deterministic=false"),
    ],
)
def test_a_bad_loop_setting_is_refused_before_anything_runs(make_config, override, message):
    with pytest.raises(ValueError, match=message):
        train(make_config(override))
    assert not os.path.exists(make_config().run_dir)


def test_weight_penalties_shrink_the_kernels(make_config, tmp_path):
    def kernel_norm(cfg):
        train(cfg)
        model = model_lib.build_model(cfg.model, runs.load_metadata(cfg.run_dir))
        runs.restore_model(model, cfg.run_dir)
        return float(model_lib.weight_penalty(model, 0.0, 1.0))

    plain = kernel_norm(make_config("train.epochs=1", "train.clip_norm=0.5"))
    penalised = kernel_norm(
        make_config("train.epochs=1", "train.l2=1.0", f"run_dir={tmp_path / 'penalised'}")
    )
    assert penalised < plain


@pytest.mark.slow
def test_mixed_bfloat16_and_xla_on_the_cpu(run_module, tmp_path):
    """The GPU's mixed_precision=true jit_compile=true code path, here in bfloat16.

    In a process of its own: op determinism, once enabled by another test, stays enabled.
    """
    result = run_module(
        "train",
        "experiment=smoke",
        "train.epochs=1",
        "train.mixed_precision=true",
        "train.jit_compile=true",
        "train.deterministic=false",  # XLA has no deterministic MaxPool gradient
        f"run_dir={tmp_path / 'run'}",
    )
    assert result.returncode == 0, result.stderr
    assert "Dtype policy mixed_bfloat16" in result.stderr
    assert "Done: 1 epochs, 5 steps" in result.stderr
