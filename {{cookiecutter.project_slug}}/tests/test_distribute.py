import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from {{ cookiecutter.package_name }} import distribute


def test_one_device_strategy():
    strategy = distribute.build_strategy("one_device")
    assert isinstance(strategy, tf.distribute.OneDeviceStrategy)
    assert strategy.num_replicas_in_sync == 1


def test_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="one_device"):
        distribute.build_strategy("parameter_server")


@pytest.mark.parametrize(
    "value, expected", [(True, True), (False, False), ("auto", distribute.has_gpu())]
)
def test_switches(value, expected):
    assert distribute.resolve_switch(value, "train.jit_compile") is expected


def test_bad_switch_is_refused():
    with pytest.raises(ValueError, match="auto, true or false"):
        distribute.resolve_switch("sometimes", "train.jit_compile")


def test_multi_worker_needs_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="distribute=multi_worker needs TF_CONFIG"):
        distribute.build_strategy("multi_worker")


def test_unknown_communication_is_refused():
    with pytest.raises(ValueError, match="distribute.communication='mpi'"):
        distribute.build_strategy("multi_worker", communication="mpi")


def test_mixed_precision_policy():
    assert distribute.mixed_precision_policy(False) == "float32"
    expected = "mixed_float16" if distribute.has_gpu() else "mixed_bfloat16"
    assert distribute.mixed_precision_policy(True) == expected


@pytest.mark.slow
def test_mirrored_training_matches_one_device(run_module, tmp_path):
    """Two replicas of batch 16 see the same 32 examples per step as one device of batch 32.

    Dropout is off: its random masks are drawn per replica, so they cannot match.
    """
    common = [
        "experiment=smoke",
        "train.log_every_steps=1",
        "train.deterministic=true",
        "model.dropout_rate=0",
    ]
    runs = {
        "one_device": ["distribute=one_device", "train.batch_size=32"],
        "mirrored": ["distribute=mirrored", "distribute.logical_cpus=2", "train.batch_size=16"],
    }
    type_names = {"one_device": "OneDeviceStrategy", "mirrored": "MirroredStrategy"}
    curves = {}
    for name, overrides in runs.items():
        result = run_module("train", *common, *overrides, f"run_dir={tmp_path / name}")
        assert result.returncode == 0, result.stderr
        replicas = 2 if name == "mirrored" else 1
        assert f"Strategy {type_names[name]} with {replicas} replica(s)" in result.stderr
        accumulator = EventAccumulator(
            str(tmp_path / name / "tensorboard" / "train"), size_guidance={"tensors": 0}
        )
        accumulator.Reload()
        curves[name] = [
            float(tf.make_ndarray(event.tensor_proto)) for event in accumulator.Tensors("loss")
        ]
    assert len(curves["mirrored"]) == len(curves["one_device"]) == 10
    np.testing.assert_allclose(curves["mirrored"], curves["one_device"], rtol=1e-3)
