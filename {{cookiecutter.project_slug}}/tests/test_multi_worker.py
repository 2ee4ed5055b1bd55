"""Several workers on 127.0.0.1 (MultiWorkerMirroredStrategy): through scripts/launch_local.py,
and laid out as a TFJob lays them out, a `chief` beside the workers.

Every process is bounded: it runs in a session of its own under a timeout and is killed with
all the processes it started when a test fails (helpers.kill_group), and each worker's
watchdog (distribute.worker_timeout_s) ends a worker that waits for a peer.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from helpers import (
    PACKAGE,
    assert_learned,
    kill_group,
    run_bounded,
    wait_for_first_checkpoint,
)
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from {{ cookiecutter.package_name }} import checkpoints, distribute, runs
from {{ cookiecutter.package_name }} import model as model_lib

LAUNCHER = Path(__file__).resolve().parents[1] / "scripts" / "launch_local.py"
TIMEOUT = "distribute.worker_timeout_s=60"
# Runs that must learn the smoke data (3 classes, chance 1/3) in 10 steps. Measured once (seed
# 42, one device, global batch 32, dropout off): val_accuracy 1.0 in both variants, final
# training loss 0.03 (CNN) and 0.65 (RNN) times the first.
LEARNING_RATE = "train.learning_rate=0.01"
MIN_ACCURACY = 0.75
MAX_LOSS_RATIO = 0.8


def test_multi_worker_needs_tf_config(monkeypatch, make_config):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="distribute=multi_worker needs TF_CONFIG"):
        distribute.build_strategy(**make_config("distribute=multi_worker").distribute)


def launcher_command(workers, *overrides, max_restarts=0):
    return [
        sys.executable,
        str(LAUNCHER),
        "--workers",
        str(workers),
        "--max-restarts",
        str(max_restarts),
        "--",
        TIMEOUT,
        *overrides,
    ]


def worker_env(run_module, tmp_path):
    """The test's environment, with a temporary directory we can check is left empty."""
    temp_dir = tmp_path / "tmp"
    temp_dir.mkdir(exist_ok=True)
    return {**run_module.env, "TMPDIR": str(temp_dir)}, temp_dir


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def tf_configs(layout):
    """{task name: TF_CONFIG} of a cluster on 127.0.0.1, e.g. layout {"chief": 1, "worker": 1}."""
    addresses = iter(f"127.0.0.1:{port}" for port in free_ports(sum(layout.values())))
    cluster = {kind: [next(addresses) for _ in range(count)] for kind, count in layout.items()}
    return {
        f"{kind}-{index}": json.dumps({"cluster": cluster, "task": {"type": kind, "index": index}})
        for kind, count in layout.items()
        for index in range(count)
    }


def run_cluster(layout, overrides, cwd, env, timeout=300):
    """Trains with one process per task of `layout`, each with its TF_CONFIG as a TFJob sets
    it; returns {task name: its output} once every task has succeeded."""
    processes = {}
    try:
        for name, tf_config in tf_configs(layout).items():
            with open(cwd / f"{name}.log", "w") as output:  # a file: no pipe to fill up
                processes[name] = subprocess.Popen(
                    [sys.executable, "-m", f"{PACKAGE}.train", "distribute=multi_worker"]
                    + [TIMEOUT, *overrides],
                    cwd=cwd,
                    env={**env, "TF_CONFIG": tf_config},
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        deadline = time.monotonic() + timeout
        for process in processes.values():
            process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for process in processes.values():
            kill_group(process)
    outputs = {name: (cwd / f"{name}.log").read_text() for name in processes}
    for name, process in processes.items():
        assert process.returncode == 0, f"{name} failed:\n{outputs[name][-5000:]}"
    return outputs


def loss_curve(run_dir):
    events = EventAccumulator(str(run_dir / "tensorboard" / "train"), size_guidance={"tensors": 0})
    events.Reload()
    return [float(tf.make_ndarray(event.tensor_proto)) for event in events.Tensors("loss")]


def done_lines(output):
    return {
        int(worker): line for worker, line in re.findall(r"\[worker (\d+)\] .*?(Done: .*)", output)
    }


def weights_digests(done):
    """The weights digest of each Done line."""
    return {line.rsplit("weights ", 1)[1].strip() for line in done}


def result_of(run_dir):
    return json.loads((Path(run_dir) / "result.json").read_text())


def final_weights(run_dir):
    model = model_lib.build_model(runs.load_config(run_dir).model, runs.load_metadata(run_dir))
    checkpoints.restore_model(model, run_dir)
    return model.get_weights()


@pytest.mark.full
def test_a_chief_and_a_worker_match_one_device_on_the_same_global_batch(run_module, tmp_path):
    """A TFJob's layout (TF_CONFIG names a `chief` and a `worker`), 2 x batch 16, against one
    device x batch 32, step by step.

    Both tasks read every file and keep alternate batches, so each step sees the same 32 examples as the single device; only the order of float additions
    (all-reduce) differs, hence the same 1e-3 tolerance as the mirrored test. Dropout is off:
    its masks are drawn per replica.
    """
    common = ["experiment=smoke", "train.log_every_steps=1", "model.dropout_rate=0", LEARNING_RATE]
    env, temp_dir = worker_env(run_module, tmp_path)
    run_dir = tmp_path / "workers"
    outputs = run_cluster(
        {"chief": 1, "worker": 1},
        [*common, "train.batch_size=16", f"run_dir={run_dir}"],
        tmp_path,
        env,
    )
    done = [re.search(r"Done: 2 epochs, 10 steps.*", output) for output in outputs.values()]
    assert all(done), outputs
    assert len(weights_digests(line.group() for line in done)) == 1  # the same final weights

    # One set of checkpoints and one TensorBoard log: the chief's; the worker's are gone.
    assert sorted(path.name for path in run_dir.iterdir()) == [
        "assets",
        "checkpoints",
        "config.yaml",
        "result.json",
        "tensorboard",
        "train.log",
    ]
    assert list(temp_dir.iterdir()) == []
    assert_learned(result_of(run_dir), MIN_ACCURACY, MAX_LOSS_RATIO)

    single = run_module(
        "train",
        *common,
        "distribute=one_device",
        "train.batch_size=32",
        f"run_dir={tmp_path / 'one'}",
    )
    assert single.returncode == 0, single.stderr
    np.testing.assert_allclose(loss_curve(run_dir), loss_curve(tmp_path / "one"), rtol=1e-3)


# Two workers take turns over the batches of one training stream and resume in it.
RESTART_RUN = [
    "experiment=smoke",
    "train.epochs=4",
    "train.steps_per_epoch=null",  # 192 examples // (2 x 16): 6 steps an epoch, 24 in all
    "train.checkpoint_every_steps=5",
    LEARNING_RATE,
]


@pytest.mark.full
def test_a_killed_worker_is_restarted_and_ends_with_the_uninterrupted_weights(
    run_module, tmp_path
):
    env, _ = worker_env(run_module, tmp_path)
    whole_dir = tmp_path / "whole"
    whole = run_bounded(
        launcher_command(2, *RESTART_RUN, f"run_dir={whole_dir}"), 300, cwd=tmp_path, env=env
    )
    assert whole.returncode == 0, whole.stdout[-5000:]
    done = done_lines(whole.stdout)
    assert sorted(done) == [0, 1] and len(weights_digests(done.values())) == 1
    assert_learned(result_of(whole_dir), MIN_ACCURACY, MAX_LOSS_RATIO)

    run_dir = tmp_path / "killed"
    launcher = subprocess.Popen(
        launcher_command(2, *RESTART_RUN, f"run_dir={run_dir}", max_restarts=2),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # kill_group ends the launcher and its workers
    )
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(launcher.stdout), daemon=True)
    reader.start()
    try:
        wait_for_first_checkpoint(launcher, run_dir, 240, output=lambda: "".join(lines))
        started = "".join(lines)
        if launcher.poll() is not None or "Done:" in started:
            pytest.fail("the job finished before a worker could be killed; give it more steps")
        os.kill(int(re.search(r"worker 1 started \(pid (\d+)", started).group(1)), signal.SIGKILL)
        assert launcher.wait(timeout=300) == 0, "".join(lines)[-5000:]
    finally:
        kill_group(launcher)
        reader.join(timeout=10)
    output = "".join(lines)
    assert "worker 1 failed with exit status -9" in output
    assert "restarting all workers from the latest checkpoint (1/2)" in output
    assert result_of(run_dir)["steps"] == 24
    for restarted, uninterrupted in zip(
        final_weights(run_dir), final_weights(whole_dir), strict=True
    ):
        np.testing.assert_array_equal(restarted, uninterrupted)


@pytest.mark.full
def test_a_worker_whose_peer_never_comes_stops(run_module, tmp_path):
    tf_config = tf_configs({"worker": 2})["worker-0"]  # worker 1 never starts
    result = run_bounded(
        [
            sys.executable,
            "-m",
            f"{PACKAGE}.train",
            "experiment=smoke",
            "distribute=multi_worker",
            "distribute.worker_timeout_s=5",
            f"run_dir={tmp_path / 'run'}",
        ],
        120,  # the watchdog's 5 s, with a wide margin for a busy machine
        cwd=tmp_path,
        env={**run_module.env, "TF_CONFIG": tf_config},
    )
    assert result.returncode != 0
    assert "made no progress for 5 s: a peer worker did not start or died" in result.stderr


@pytest.mark.full
def test_two_workers_on_uneven_default_data(run_module, tmp_path):
    """The default data with a last global batch of 1 example for 2 workers: test_distribute's
    checks."""
    from helpers import UNEVEN_RUN, check_uneven_run  # shared with test_distribute

    env, _ = worker_env(run_module, tmp_path)
    run_dir = tmp_path / "run"
    records, run = f"data.records_dir={tmp_path / 'records'}", f"run_dir={run_dir}"
    result = run_bounded(
        launcher_command(2, *UNEVEN_RUN, records, run),
        300,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-5000:]
    assert sorted(done_lines(result.stdout)) == [0, 1]
    check_uneven_run(run_dir, result.stdout, replicas=2)
