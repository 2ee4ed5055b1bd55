"""Checkpoints: the best value, resume (exact, after kill -9), warm start (from shared_run)."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf
from helpers import final_weights, kill_and_resume, smoke_config
from omegaconf import OmegaConf

from {{ cookiecutter.package_name }} import checkpoints, runs
from {{ cookiecutter.package_name }} import model as model_lib
from {{ cookiecutter.package_name }}.train import train


@pytest.mark.parametrize(
    "monitor, better, worse", [("val_accuracy", 0.7, 0.5), ("val_loss", 0.3, 0.5)]
)
def test_the_best_value_is_the_highest_accuracy_or_the_lowest_loss(monitor, better, worse):
    assert checkpoints.is_better(monitor, worse, np.nan)  # the first validation
    assert checkpoints.is_better(monitor, better, worse)
    assert not checkpoints.is_better(monitor, worse, better)
    assert not checkpoints.is_better(monitor, better, better)


def restored(cfg, prefix: str | None, num_classes: int | None = None):
    """A new model of the run `cfg`, with the weights of the checkpoint `prefix` (if any)."""
    metadata = runs.load_metadata(cfg.run_dir)
    metadata = dataclasses.replace(metadata, num_classes=num_classes or metadata.num_classes)
    model = model_lib.build_model(cfg.model, metadata)
    if prefix:
        tf.train.Checkpoint(model=model).restore(prefix).expect_partial()
    return model


def weights(model, layers=None) -> list:
    """The weights of the model's layers (or of those named in `layers`)."""
    names = layers or [layer.name for layer in model.layers]
    return [weight for name in names for weight in model.get_layer(name).get_weights()]


def test_warm_start_from_a_run_or_a_checkpoint_on_other_classes_and_only_in_a_new_run(
    shared_run, tmp_path, caplog
):
    state = tf.train.get_checkpoint_state(str(runs.checkpoints_dir(shared_run.run_dir)))
    oldest, *_, latest = state.all_model_checkpoint_paths
    for source, expected in ((shared_run.run_dir, latest), (oldest, oldest)):
        model = restored(shared_run, None)
        loaded = checkpoints.warm_start(model, str(source))
        assert loaded == [layer.name for layer in model.layers if layer.weights]
        np.testing.assert_equal(weights(model), weights(restored(shared_run, expected)))
    other_classes = restored(shared_run, None, num_classes=7)
    fresh_logits = weights(other_classes, ["logits"])
    with caplog.at_level("INFO"):
        loaded = checkpoints.warm_start(other_classes, shared_run.run_dir)
    assert loaded == [layer.name for layer in other_classes.layers if layer.weights][:-1]
    assert "not loaded: ['logits (source [(" in caplog.text  # named, and left as it was
    np.testing.assert_equal(weights(other_classes, ["logits"]), fresh_logits)
    expected = weights(restored(shared_run, latest), loaded)
    np.testing.assert_equal(weights(other_classes, loaded), expected)
    with pytest.raises(FileNotFoundError, match="neither a run folder with a checkpoint"):
        checkpoints.warm_start(other_classes, str(tmp_path))

    # What train does with a run folder: its latest checkpoint wins over train.init_from.
    train_cfg = OmegaConf.merge(shared_run.train, {"init_from": oldest})
    metadata = runs.load_metadata(shared_run.run_dir)
    records_dir, _ = runs.run_records(shared_run, metadata)
    strategy = tf.distribute.get_strategy()
    for run_dir, source in ((shared_run.run_dir, latest), (tmp_path / "new", oldest)):
        model, optimizer = model_lib.build_for_training(
            shared_run, metadata, records_dir, strategy, steps_per_epoch=1
        )
        checkpoints.restore_state(train_cfg, model, optimizer, strategy, {{ "run_dir, " if cookiecutter.cluster }}run_dir)
        np.testing.assert_equal(weights(model), weights(restored(shared_run, source)))


# 12 steps an epoch on the smoke data, a checkpoint every 4 steps. Dropout stays on{{ ", and so" if cookiecutter.model_type == "cnn" else ":" }}
# {{ "does augmentation: their" if cookiecutter.model_type == "cnn" else "its" }} random states must be restored too.
OVERRIDES = ["experiment=smoke", "train.epochs=4", "train.steps_per_epoch=null"]
OVERRIDES += ["train.checkpoint_every_steps=4", "train.log_every_steps=4"]
OVERRIDES += ["train.deterministic=true"]
{%- if cookiecutter.model_type == "cnn" %}
OVERRIDES += ["data.augment.crop_padding=2", "data.augment.brightness=0.1"]
{%- endif %}
KILL_POINTS = {
    # a save under way after a complete one: the resumed run starts from that one
    "during-a-checkpoint-save": lambda checkpoints_dir: (checkpoints_dir / "checkpoint").exists()
    and any(checkpoints_dir.glob("*_temp*")),
    "after-the-first-epoch": lambda checkpoints_dir: (checkpoints_dir / "best").exists(),
}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The folder of an uninterrupted run with one step per call, and the records it wrote."""
    tmp_path = tmp_path_factory.mktemp("uninterrupted")
    cfg = smoke_config(tmp_path, *OVERRIDES[1:], "train.steps_per_loop=1")
    return train(cfg)["run_dir"], f"data.records_dir={tmp_path / 'records'}"


@pytest.mark.parametrize(
    "moment",
    ["during-a-checkpoint-save", pytest.param("after-the-first-epoch", marks=pytest.mark.full)],
)
def test_a_run_killed_at_any_moment_resumes_to_the_same_weights(
    run_module, tmp_path, uninterrupted, moment
):
    """Also: several steps per call (train.steps_per_loop) compute what one step per call
    does, and the setting may change on resume: 4 before the kill, 2 after it."""
    whole, records = uninterrupted
    run_dir, per_call = tmp_path / "run", (["train.steps_per_loop=4"], ["train.steps_per_loop=2"])
    kill_and_resume(run_module, run_dir, [*OVERRIDES, records], *per_call, KILL_POINTS[moment])
    assert runs.load_config(run_dir).train.steps_per_loop == 2
    np.testing.assert_equal(final_weights(run_dir), final_weights(whole))
