"""Strategies, and every strategy on the default data with uneven last batches.

    python -m pytest tests/test_distribute.py -m "not slow"    # the quick ones

The slow ones train a few steps with each strategy in a process of its own.
"""

import collections
import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf
from helpers import OTHER_NETS, net_overrides, smoke_config
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from {{ cookiecutter.package_name }} import distribute
from {{ cookiecutter.package_name }} import model as model_lib
from {{ cookiecutter.package_name }}.data import (
    data_loader,
    input_ops,
    preprocess_data,
)
from {{ cookiecutter.package_name }}.trainer import make_evaluator

# The default data, split into 181 validation and 181 test examples: in per-replica batches
# of 30 the last global batch of 1, 2 or 3 replicas holds 1 example, fewer than the replicas.
UNEVEN_DEFAULT_DATA = [
{%- if cookiecutter.model_type == "cnn" %}
    "data=digits",
    "data.validation_fraction=0.1005",
    "data.test_fraction=0.1005",
{%- else %}
    "data=digit_sentences",
    "data.num_examples=1805",
{%- endif %}
]
UNEVEN_BATCH_SIZE = 30


def test_one_device_strategy(make_config):
    strategy = distribute.build_strategy(**make_config("distribute=one_device").distribute)
    assert isinstance(strategy, tf.distribute.OneDeviceStrategy)
    assert strategy.num_replicas_in_sync == 1


def pretend_gpus(monkeypatch, gpus):
    monkeypatch.setattr(distribute, "gpu_names", lambda: ["/device:GPU:0"] if gpus else [])


@pytest.mark.parametrize(
    "value, gpus, expected",
    [
        (True, False, True),
        (False, True, False),
        ("auto", True, True),
        ("auto", False, False),
    ],
)
def test_switches(monkeypatch, value, gpus, expected):
    pretend_gpus(monkeypatch, gpus)
    assert distribute.resolve_switch(value, "train.jit_compile") is expected


def test_has_gpu_sees_the_physical_gpus():
    assert distribute.has_gpu() == bool(tf.config.list_physical_devices("GPU"))


def test_bad_switch_is_refused():
    with pytest.raises(ValueError, match="auto, true or false"):
        distribute.resolve_switch("sometimes", "train.jit_compile")


@pytest.mark.parametrize(
    "value, gpus, expected",
    [
        (False, True, "float32"),
        (True, True, "mixed_float16"),
        (True, False, "mixed_bfloat16"),
        ("auto", True, "mixed_float16"),
        ("auto", False, "float32"),
    ],
)
def test_mixed_precision_policy(monkeypatch, value, gpus, expected):
    pretend_gpus(monkeypatch, gpus)
    assert distribute.mixed_precision_policy(value) == expected


@pytest.fixture(scope="module")
def validation_records(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("records")
    cfg = smoke_config(tmp_path, "data.num_examples=250")  # 25 validation examples, 2 shards
    records_dir, metadata = preprocess_data.ensure_preprocessed(cfg.data, cfg.seed)
    example_fn = input_ops.make_example_fn(metadata, records_dir)
    return data_loader.InputSpec.from_config(cfg, records_dir, metadata, example_fn), cfg.model


@pytest.mark.slow
@pytest.mark.parametrize(
    "pipelines, replicas, shard_policy",
    [(1, 3, "auto"), (2, 4, "file"), (2, 4, "data")],
)
def test_padded_validation_gives_every_replica_full_batches(
    validation_records, pipelines, replicas, shard_policy
):
    """Each pipeline deals its batches to its replicas in turn: each must get the same number
    of full batches, and the weighted examples must be the split's, each once."""
    spec, _ = validation_records
    batch_size = 4
    batches, labels = [], collections.Counter()
    for pipeline_id in range(pipelines):
        context = tf.distribute.InputContext(pipelines, pipeline_id, replicas)
        dataset = data_loader.load_split(
            dataclasses.replace(spec, shard_policy=shard_policy),
            "validation",
            batch_size,
            training=False,
            input_context=context,
            pad_to_full_batches=True,
        )
        pipeline_batches = list(dataset.as_numpy_iterator())
        batches.append(len(pipeline_batches))
        for _, batch_labels, weights in pipeline_batches:
            assert len(batch_labels) == len(weights) == batch_size
            labels.update(batch_labels[weights == 1].tolist())
            assert set(weights.tolist()) <= {0.0, 1.0}
    local_replicas = replicas // pipelines
    assert len(set(batches)) == 1 and batches[0] % local_replicas == 0
    plain = data_loader.load_split(spec, "validation", batch_size, training=False)
    assert labels == collections.Counter(np.concatenate([y for _, y in plain.as_numpy_iterator()]))
    assert sum(labels.values()) == spec.metadata.counts["validation"]["total"]


@pytest.mark.slow
def test_evaluation_leaves_the_padding_out(validation_records):
    spec, model_cfg = validation_records
    metadata = spec.metadata
    model = model_lib.build_model(model_cfg, metadata)
    evaluator = make_evaluator(tf.distribute.get_strategy(), model, metadata.num_classes)

    def evaluate(pad: bool) -> dict:
        dataset = data_loader.load_split(
            spec, "validation", 7, training=False, pad_to_full_batches=pad
        )
        return evaluator(iter(dataset), len(dataset))

    padded, plain = evaluate(True), evaluate(False)
    assert padded["num_examples"] == plain["num_examples"] == 25
    np.testing.assert_array_equal(padded["confusion_matrix"], plain["confusion_matrix"])
    assert padded["loss"] == pytest.approx(plain["loss"], rel=1e-6)


LOSS_OPTIONS = ["train.loss=focal", "train.class_weight=balanced", "train.label_smoothing=0.1"]
# What the mirrored test changes in a net's options, and why.
{%- if cookiecutter.model_type == "cnn" %}
MIRRORED_NET_OPTIONS = {
    # From a random initialisation, so that the backbone's batch norm trains (synchronised over
    # the replicas), at a rate where this deep net does not amplify float32 rounding: a batch
    # summed as 32 or as 16 + 16, or other kernels (TF_ENABLE_ONEDNN_OPTS=0), moved its curve
    # by up to 0.3% at 0.002 (more than the tolerance, on some CPUs) and by 6e-5 at 0.0005,
    # where the loss still falls by half. Unsynchronised batch norm is 5% off from step 1.
    "pretrained": ["model.weights=null", "train.learning_rate=0.0005"],
}
{%- else %}
MIRRORED_NET_OPTIONS = {}
{%- endif %}


def replaced(overrides: list[str], changes: list[str]) -> list[str]:
    """`overrides` with `changes` in place of the ones of the same keys."""
    changed = {change.split("=", 1)[0] for change in changes}
    return [option for option in overrides if option.split("=", 1)[0] not in changed] + changes


@pytest.mark.slow
@pytest.mark.parametrize(
    "net", ["default", *(pytest.param(net, marks=pytest.mark.full) for net in OTHER_NETS)]
)
def test_mirrored_training_matches_one_device(run_module, tmp_path, net):
    """Two replicas of batch 16 see the same 32 examples per step as one device of batch 32,
    with the default net and each of the others (batch norm synchronised over replicas).

    Dropout is off: its random masks are drawn per replica, so they cannot match. Plain SGD,
    whose step scales with the gradient: under Adam a replica that applied only its own half of
    the gradient (no all-reduce) would still take the same steps and match.
    """
    common = [
        # The default net with every loss option: each must be computed alike by 1 and 2.
        *(net_overrides(net, tmp_path / "files") if net != "default" else LOSS_OPTIONS),
        "experiment=smoke",
        "train.log_every_steps=1",
        "train.deterministic=true",
        "model.dropout_rate=0",
        "train.optimizer=sgd",
        "train.learning_rate=0.05",
    ]
    common = replaced(common, MIRRORED_NET_OPTIONS.get(net, []))
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


def uneven_run_overrides(records_dir, run_dir) -> list[str]:
    """One short epoch on the default data split unevenly (UNEVEN_DEFAULT_DATA), with a
    validation subset of one global batch at its last step and the full split at its end."""
    return [
        *UNEVEN_DEFAULT_DATA,
        f"data.records_dir={records_dir}",
        f"train.batch_size={UNEVEN_BATCH_SIZE}",
        "train.epochs=1",
        "train.max_steps_per_epoch=5",
        "train.log_every_steps=1",
        "train.steps_per_loop=1",
        "train.validate_every_steps=5",
        "train.validation_steps=1",
        f"run_dir={run_dir}",
    ]


def check_uneven_run(run_dir, output: str, replicas: int) -> None:
    """The run finished, validation counted every example once and the loss went down."""
    metadata = json.loads((run_dir / "assets" / "metadata.json").read_text())
    size = metadata["counts"]["validation"]["total"]
    global_batch_size = UNEVEN_BATCH_SIZE * replicas
    assert 0 < size % global_batch_size < max(replicas, 2)  # the case this test is about
    assert metadata["counts"]["test"]["total"] % global_batch_size
    result = json.loads((run_dir / "result.json").read_text())
    assert (result["epochs"], result["steps"]) == (1, 5)
    assert f"validation subset of {global_batch_size} examples" in output
    assert f"({size} validation examples)" in output
    events = EventAccumulator(str(run_dir / "tensorboard" / "train"), size_guidance={"tensors": 0})
    events.Reload()
    losses = [float(tf.make_ndarray(event.tensor_proto)) for event in events.Tensors("loss")]
    assert len(losses) == 5 and losses[-1] < losses[0], losses


@pytest.fixture(scope="module")
def default_records(tmp_path_factory):
    """One records folder for every strategy: the first run preprocesses, the others reuse."""
    return tmp_path_factory.mktemp("default_records")


@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides, replicas",
    [
        pytest.param(["distribute=one_device"], 1, id="one_device", marks=pytest.mark.full),
        pytest.param(
            ["distribute=mirrored", "distribute.logical_cpus=2"],
            2,
            id="mirrored-2",
            marks=pytest.mark.full,
        ),
        pytest.param(["distribute=mirrored", "distribute.logical_cpus=3"], 3, id="mirrored-3"),
    ],
)
def test_strategy_on_uneven_default_data(
    run_module, tmp_path, default_records, overrides, replicas
):
    run_dir = tmp_path / "run"
    result = run_module("train", *overrides, *uneven_run_overrides(default_records, run_dir))
    assert result.returncode == 0, result.stderr[-5000:]
    assert f"with {replicas} replica(s)" in result.stderr
    check_uneven_run(run_dir, result.stderr, replicas)
