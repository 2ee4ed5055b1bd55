import dataclasses
from pathlib import Path

import numpy as np
import pytest
from conftest import smoke_config

from {{ cookiecutter.package_name }} import checkpoints, runs
from {{ cookiecutter.package_name }} import model as model_lib
from {{ cookiecutter.package_name }}.train import train

pytestmark = pytest.mark.slow  # every test here trains


@pytest.fixture(scope="module")
def source_run(tmp_path_factory):
    """A trained run to start from, and a function that builds fresh models like it."""
    cfg = smoke_config(tmp_path_factory.mktemp("warm_start"), "train.epochs=1")
    train(cfg)
    metadata = runs.load_metadata(cfg.run_dir)

    def build(num_classes=metadata.num_classes):
        return model_lib.build_model(
            cfg.model, dataclasses.replace(metadata, num_classes=num_classes)
        )

    trained = build()
    checkpoints.restore_model(trained, cfg.run_dir)
    return cfg.run_dir, build, trained


def build_from_run(run_dir):
    return model_lib.build_model(runs.load_config(run_dir).model, runs.load_metadata(run_dir))


def weighted_layers(model):
    return [layer.name for layer in model.layers if layer.get_weights()]


def assert_same_weights(model, other, layers):
    for name in layers:
        for mine, theirs in zip(
            model.get_layer(name).get_weights(), other.get_layer(name).get_weights(), strict=True
        ):
            np.testing.assert_array_equal(mine, theirs)


@pytest.mark.parametrize("source", ["run_dir", "checkpoint", ".keras", ".weights.h5"])
def test_warm_start_loads_every_layer_of_the_same_model(source_run, tmp_path, source):
    run_dir, build, trained = source_run
    paths = {
        "run_dir": run_dir,
        "checkpoint": str(Path(run_dir, "checkpoints", "ckpt-5")),
        ".keras": str(tmp_path / "model.keras"),
        ".weights.h5": str(tmp_path / "model.weights.h5"),
    }
    trained.save(paths[".keras"])
    trained.save_weights(paths[".weights.h5"])

    model = build()
    report = checkpoints.warm_start(model, paths[source], False)
    assert report["loaded"] == weighted_layers(model) and report["not_loaded"] == []
    assert_same_weights(model, trained, report["loaded"])


def test_a_shape_mismatch_is_refused_unless_partial(source_run):
    run_dir, build, trained = source_run
    model = build(num_classes=7)  # e.g. fine-tuning on other classes
    with pytest.raises(ValueError, match=r"logits .*differ.*train.init_partial=true"):
        checkpoints.warm_start(model, run_dir, False)

    report = checkpoints.warm_start(model, run_dir, True)
    assert report["loaded"] == weighted_layers(model)[:-1]
    assert report["not_loaded"][0].startswith("logits (source [")
    assert_same_weights(model, trained, report["loaded"])


def final_model(run_dir):
    model = build_from_run(run_dir)
    checkpoints.restore_model(model, run_dir)
    return model


def test_train_warm_starts_from_init_from(source_run, make_config):
    run_dir, _, trained = source_run
    # With a learning rate of 0 the run ends with the weights it started from: the source's.
    still = make_config("train.epochs=1", "train.learning_rate=0", f"train.init_from={run_dir}")
    train(still)
    assert_same_weights(final_model(still.run_dir), trained, weighted_layers(trained))


@pytest.mark.full
def test_a_resumed_warm_started_run_is_not_warm_started_again(source_run, make_config, tmp_path):
    run_dir, _, _ = source_run
    # A constant learning rate: a cosine schedule's length would differ with train.epochs.
    warm = (f"train.init_from={run_dir}", "train.lr_schedule=constant")
    whole = make_config("train.epochs=2", *warm, f"run_dir={tmp_path / 'whole'}")
    train(whole)
    train(make_config("train.epochs=1", *warm))
    resumed = make_config("train.epochs=2", *warm)
    train(resumed)  # trains on from its checkpoint; loading the source again would differ
    final = final_model(resumed.run_dir)
    assert_same_weights(final, final_model(whole.run_dir), weighted_layers(final))


def test_a_source_that_is_not_a_model_is_refused(source_run, tmp_path):
    _, build, _ = source_run
    with pytest.raises(FileNotFoundError, match="is not a run directory, checkpoint"):
        checkpoints.warm_start(build(), str(tmp_path), False)
