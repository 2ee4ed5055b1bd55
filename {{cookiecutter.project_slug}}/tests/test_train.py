"""train.py, controller.py: a run folder and its TensorBoard files, resume, early stopping (a
Keras callback), the NaN stop, refused settings, and the callbacks the loop drives."""

import csv
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from helpers import (
    EPOCH_LOGS,
    OTHER_NETS,
    drive,
    keras_outputs,
    logged_scalars,
    net_overrides,
    read_events,
    smoke_config,
    tiny_model,
)
from tensorboard.plugins.hparams import metadata as hparams_metadata

from {{ cookiecutter.package_name }} import runs, runs_table, summaries
from {{ cookiecutter.package_name }}.controller import build_callbacks
from {{ cookiecutter.package_name }}.eval import evaluate
from {{ cookiecutter.package_name }}.train import train

FULL = pytest.mark.full
SMOKE_RUN = ("train.checkpoint_every_steps=2", "train.keep_checkpoints=10")
SMOKE_RUN += ("train.profile_steps=[2,3]",)  # an XProf trace


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """One smoke run: 2 epochs of 5 steps, a checkpoint every 2 (trained on only in a copy)."""
    cfg = smoke_config(tmp_path_factory.mktemp("smoke"), *SMOKE_RUN)
    return cfg, train(cfg)


def checkpoint_steps(run_dir):
    return sorted(int(path.stem[5:]) for path in Path(run_dir, "checkpoints").glob("ckpt-*.index"))


@pytest.mark.slow
def test_train_writes_a_complete_run_directory_and_tensorboard_summaries(smoke_run):
    cfg, result = smoke_run
    run_dir = cfg.run_dir
    assert result["epochs"] == 2 and result["steps"] == 10 and np.isfinite(result["loss"])
    _, labels, probabilities = keras_outputs(cfg, "validation")  # the latest weights' accuracy
    assert np.isclose(result["val_accuracy"], np.mean(probabilities.argmax(-1) == labels))
    for name in ("config.yaml", "train.log", "assets/metadata.json", "result.json"):
        assert os.path.exists(os.path.join(run_dir, name)), name
    log = Path(run_dir, "train.log").read_text()
    assert "epoch 2/2 step 3/5 - loss" in log and "examples_per_second" in log  # progress
    assert "epoch 2/2 - loss" in log and "Done: 2 epochs, 10 steps" in log  # epoch, summary

    # A checkpoint every 2 steps and at each epoch's end (5, 10); the best one apart.
    assert result["checkpoint"] == os.path.join(run_dir, "checkpoints", "ckpt-10")
    assert checkpoint_steps(run_dir) == [2, 4, 5, 6, 8, 10]
    best = json.loads(Path(run_dir, "checkpoints", "best", "best.json").read_text())
    assert best["metric"] == "val_accuracy" and best["value"] == result["best_val_accuracy"]
    assert best["checkpoint"] == result["best_checkpoint"]
    assert best["step"] in (5, 10) and os.path.exists(best["checkpoint"] + ".index")

    # TensorBoard: train/ every logging step, validation/ every epoch, and the hparams
    metadata = runs.load_metadata(run_dir)
    tags = set(read_events(run_dir, "train").Tags()["tensors"])
    assert {"loss", "accuracy", "gradient_norm", "learning_rate", "examples_per_second"} <= tags
    assert list(logged_scalars(run_dir, "train", "loss")) == [2, 4, 5, 6, 8, 10]
    events = read_events(run_dir, "validation")
    assert [event.step for event in events.Tensors("accuracy")] == [5, 10]  # full, per epoch
    # The last picture is exactly the PNG of the matrix logged with it as a table.
    png = tf.make_ndarray(events.Tensors("confusion_matrix")[-1].tensor_proto)[2]
    table = tf.make_ndarray(events.Tensors("confusion_matrix_table")[-1].tensor_proto)
    rows = [line.strip("|").split("|") for line in table.item().decode().splitlines()[2:]]
    class_names = [row[0].strip() for row in rows]
    confusion = np.array([[int(count) for count in row[1:]] for row in rows])
    assert class_names == metadata.class_names
    assert confusion.sum() == metadata.counts["validation"]["total"]
    expected = summaries.figure_image(summaries.confusion_figure(confusion, class_names))
    np.testing.assert_array_equal(tf.io.decode_png(png).numpy(), expected[0])
    content = events.SummaryMetadata("_hparams_/session_start_info").plugin_data
    names = set(hparams_metadata.parse_session_start_info_plugin_data(content.content).hparams)
    assert {"model.name", "data.name", "train.learning_rate", "model.dropout_rate"} <= names
    assert not {"run_dir", "data.records_dir", "data.cache", "train.log_every_steps"} & names
    # train/ and validation/ only: no third run of TensorBoard; an XProf trace for its Profile tab
    root = Path(run_dir, "tensorboard")
    assert not [path for path in root.iterdir() if path.is_file()]
    assert len(list(root.glob("plugins/profile/*/*.xplane.pb"))) == 1


@pytest.mark.slow
def test_eval_and_a_resume_read_the_latest_complete_or_the_best_checkpoint(smoke_run, make_config):
    """A save killed half-way leaves files that the `checkpoint` index does not name yet: eval
    and the resume read the latest complete one, and the resume prunes past keep_checkpoints."""
    smoke_cfg, _ = smoke_run  # trained on in a copy, in this test's folder
    shutil.copytree(smoke_cfg.run_dir, make_config().run_dir)
    records = f"data.records_dir={smoke_cfg.data.records_dir}"
    cfg = make_config(records, *SMOKE_RUN, "train.epochs=3", "train.keep_checkpoints=2")
    checkpoints_dir = Path(cfg.run_dir, "checkpoints")
    (checkpoints_dir / "ckpt-99.index").write_bytes(b"\x00truncated")
    (checkpoints_dir / "ckpt-99.data-00000-of-00001").write_bytes(b"")
    (checkpoints_dir / "ckpt-99_temp").mkdir()
    best = json.loads((checkpoints_dir / "best" / "best.json").read_text())
    assert Path(evaluate(cfg.run_dir, "best")["checkpoint"]).name == Path(best["checkpoint"]).name
    assert Path(evaluate(cfg.run_dir)["checkpoint"]).name == "ckpt-10"
    tested = {  # each checkpoint's results apart; metrics.json is the latest's
        where: Path(json.loads(Path(cfg.run_dir, where).read_text())["checkpoint"]).name
        for where in ("eval/best/metrics.json", "eval/latest/metrics.json", "metrics.json")
    }
    assert list(tested.values()) == [Path(best["checkpoint"]).name, "ckpt-10", "ckpt-10"]
    assert Path(cfg.run_dir, "eval", "best", "report.md").exists()
    with pytest.raises(ValueError, match="checkpoint='first' must be latest or best"):
        evaluate(cfg.run_dir, "first")

    resumed = train(cfg)
    assert resumed["epochs"] == 3 and resumed["steps"] == 15
    log = Path(cfg.run_dir, "train.log").read_text()
    assert f"Resuming from {checkpoints_dir / 'ckpt-10'}" in log
    assert "epoch 3/3" in log and log.count("epoch 1/") == log.count("epoch 1/2")
    assert checkpoint_steps(cfg.run_dir) == [14, 15, 99]  # 2 kept; what it never saved, left
    assert not (checkpoints_dir / "ckpt-99_temp").exists()  # a stopped save's folder: removed
    row = runs_table.read_run(Path(cfg.run_dir), "copy")  # metrics of ckpt-10, older: flagged
    assert row["stale"] == "test" and row["started"] == log[:16]  # not the resume's time


@pytest.mark.slow
def test_a_diverging_loss_stops_the_run_at_its_step(make_config):
    cfg = make_config("train.learning_rate=1e38", "train.optimizer=sgd")
    # Step 1 computes its loss before the overflowing update; a later one's loss is NaN, and
    # the check at the next logging step (every 2) sees it. No checkpoint: no run folder left.
    step = {{ 2 if cookiecutter.model_type == "cnn" else 4 }}  # each net overflows to NaN at its own step
    with pytest.raises(FloatingPointError, match=f"became nan by step {step}; the run stopped"):
        train(cfg)
    assert not os.path.exists(cfg.run_dir)


@pytest.mark.full
def test_mixed_bfloat16_and_xla_on_the_cpu(run_module, tmp_path):
    """The GPU's mixed_precision=true jit_compile=true code path, here in bfloat16, in a process
    of its own: op determinism, once enabled by another test, stays enabled."""
    run_dir = tmp_path / "run"
    options = ("train.epochs=1", "train.mixed_precision=true", "train.jit_compile=true")
    options += ("train.deterministic=false",)  # XLA has no deterministic MaxPool gradient
    result = run_module("train", "experiment=smoke", *options, f"run_dir={run_dir}")
    assert result.returncode == 0, result.stderr
    assert json.loads((run_dir / "result.json").read_text())["steps"] == 5
    assert "Dtype policy mixed_bfloat16" in result.stderr  # test_model: the layers compute in it
{%- if cookiecutter.model_type == "cnn" %}
    assert "Train step with XLA: True" in result.stderr
{%- else %}
    assert "XLA compiles no string op" in result.stderr  # the net takes raw text
{%- endif %}


BAD_CALLBACKS = [  # (an entry of callbacks, what the error says of it)
    ("{patience:3}", r"callbacks\[0\].*made a dict, not a keras"),  # no _target_
    ("{_target_:collections.OrderedDict}", "made a OrderedDict, not a keras"),
    ("{_target_:keras.callbacks.NoSuchCallback}", r"callbacks\[0\] could not"),
]


def test_callbacks_are_made_from_a_target_or_refused_and_a_resume_appends(make_config, tmp_path):
    """The documented CSVLogger line: ${run_dir} resolves, and a resumed run appends rows; a bad
    entry is refused, saying which and how."""
    assert build_callbacks(make_config(), tiny_model()).callbacks == []
    logger = "{_target_:keras.callbacks.CSVLogger,filename:'${run_dir}/metrics.csv',append:true}"
    cfg = make_config("callbacks=[" + logger + ",{_target_:keras.callbacks.History}]")
    Path(cfg.run_dir).mkdir()
    drive(build_callbacks(cfg, tiny_model()), range(0, 2))
    callbacks = build_callbacks(cfg, tiny_model())
    drive(callbacks, range(2, 3))  # resumed
    assert callbacks.callbacks[1].history["val_loss"] == [0.7]  # each callback driven
    assert callbacks.callbacks[1].model is callbacks.model
    rows = list(csv.DictReader(Path(cfg.run_dir, "metrics.csv").read_text().splitlines()))
    assert [int(row["epoch"]) for row in rows] == [0, 1, 2]  # one header, three rows
    assert [float(row["val_accuracy"]) for row in rows] == [0.5, 0.75, 0.8]
    assert set(rows[0]) == {"epoch", *EPOCH_LOGS[0]}
    for entry, message in BAD_CALLBACKS:
        with pytest.raises(ValueError, match=message):
            build_callbacks(make_config(f"callbacks=[{entry}]"), tiny_model())


@pytest.mark.parametrize("net", ["default", *(pytest.param(n, marks=FULL) for n in OTHER_NETS)])
def test_debug_overfit_learns_two_batches_by_heart_with_every_net(make_config, net, caplog):
    files = Path(make_config().run_dir).parent / "files"
    overrides = net_overrides(net, files) if net != "default" else []
{%- if cookiecutter.model_type == "cnn" %}
    # A random backbone's frozen batch norm (a fine-tune's) passes nothing on: from scratch.
    overrides += ["model.weights=null"] if net == "pretrained" else []
{%- endif %}
    result = train(make_config("debug=overfit", *overrides))
    assert result["accuracy"] >= 0.99 and result["steps"] == 500
    assert "debug=overfit: 2 batches learnt (accuracy" in caplog.text


def test_debug_fast_and_limit_check_the_wiring(run_module, make_config, tmp_path):
    """debug=fast: one step, then eval and export, in one command; debug=limit: a tenth, for 3
    epochs, here ended after 2 by the documented early stopping callback."""
    records = f"data.records_dir={tmp_path / 'records'}"
    result = run_module("train", "debug=fast", records)
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = runs.resolve_run_dir("latest", tmp_path / "runs" / "debug")
    assert json.loads((run_dir / "result.json").read_text())["steps"] == 1
    assert (run_dir / "metrics.json").exists() and (run_dir / "export" / "1").is_dir()
    # No epoch can beat the first by more than min_delta=2, so patience 1 ends epoch 2.
    stop = "{_target_:keras.callbacks.EarlyStopping,monitor:val_accuracy,mode:max,patience:1"
    stop += ",min_delta:2}"
    cfg = make_config("debug=limit", records, f"callbacks=[{stop}]")
    values = train(cfg)
    assert values["epochs"] == 2 and values["steps"] == 10
    limited = runs.load_metadata(values["run_dir"]).limited(0.1).counts
    log = Path(cfg.run_dir, "train.log").read_text()
    assert f"({limited['validation']['total']} validation examples)" in log
