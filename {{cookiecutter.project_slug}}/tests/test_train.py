import glob
import os
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from {{ cookiecutter.package_name }} import model as model_lib
from {{ cookiecutter.package_name }} import runs
from {{ cookiecutter.package_name }}.train import train


def scalar_tags(event_dir):
    accumulator = EventAccumulator(event_dir, size_guidance={"tensors": 0})
    accumulator.Reload()
    return set(accumulator.Tags()["tensors"])


def test_train_writes_a_complete_run_directory(make_config):
    cfg = make_config()
    result = train(cfg)
    run_dir = cfg.run_dir

    assert result["epochs"] == 2 and result["steps"] == 10
    assert 0.0 <= result["val_accuracy"] <= 1.0 and np.isfinite(result["loss"])
    for name in ("config.yaml", "train.log", "assets/metadata.json"):
        assert os.path.exists(os.path.join(run_dir, name)), name
    assert result["checkpoint"].startswith(os.path.join(run_dir, "checkpoints"))
    assert "epoch 2/2" in Path(run_dir, "train.log").read_text()
    assert {"loss", "accuracy", "learning_rate", "examples_per_second"} <= scalar_tags(
        os.path.join(run_dir, "tensorboard", "train")
    )
    assert {"loss", "accuracy"} <= scalar_tags(os.path.join(run_dir, "tensorboard", "validation"))


def test_train_resumes_from_the_latest_checkpoint(make_config):
    first = train(make_config("train.epochs=1"))
    assert first["steps"] == 5

    resumed = train(make_config("train.epochs=3"))
    assert resumed["epochs"] == 3 and resumed["steps"] == 15
    log = Path(make_config().run_dir, "train.log").read_text()
    assert "Resuming from" in log and "epoch 1/3" not in log and "epoch 3/3" in log
    assert len(glob.glob(os.path.join(make_config().run_dir, "checkpoints", "*.index"))) == 3


def test_resuming_on_other_data_is_refused(make_config):
    train(make_config("train.epochs=1"))
    with pytest.raises(ValueError, match="trained on other data"):
        train(make_config("train.epochs=2", "data.num_examples=300"))


def test_a_diverging_loss_stops_the_run(make_config):
    with pytest.raises(FloatingPointError, match="step"):
        train(make_config("train.learning_rate=inf", "train.optimizer=sgd"))


def test_a_bad_loop_setting_is_refused_before_anything_runs(make_config):
    with pytest.raises(ValueError, match="train.batch_size=0 must be at least 1"):
        train(make_config("train.batch_size=0"))


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
