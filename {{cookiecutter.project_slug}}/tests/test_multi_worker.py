"""Several workers on 127.0.0.1 through scripts/launch_local.py (MultiWorkerMirroredStrategy).

Every process is bounded: a subprocess timeout here, and each worker's watchdog
(distribute.worker_timeout_s) ends a worker that waits for a peer.
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
from conftest import wait_for_first_checkpoint
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

LAUNCHER = Path(__file__).resolve().parents[1] / "scripts" / "launch_local.py"
TIMEOUT = "distribute.worker_timeout_s=60"


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


def loss_curve(run_dir):
    events = EventAccumulator(str(run_dir / "tensorboard" / "train"), size_guidance={"tensors": 0})
    events.Reload()
    return [float(tf.make_ndarray(event.tensor_proto)) for event in events.Tensors("loss")]


def done_lines(output):
    return {
        int(worker): line for worker, line in re.findall(r"\[worker (\d+)\] .*?(Done: .*)", output)
    }


@pytest.mark.slow
def test_two_workers_match_one_worker_on_the_same_global_batch(run_module, tmp_path):
    """2 workers x batch 16 against 1 device x batch 32, step by step.

    With data.shard_policy=data both workers read every file and keep alternate batches, so
    each step sees the same 32 examples as the single worker; only the order of float
    additions (all-reduce) differs, hence the same 1e-3 tolerance as the mirrored test.
    Dropout is off: its masks are drawn per replica.
    """
    common = ["experiment=smoke", "train.log_every_steps=1", "model.dropout_rate=0"]
    env, temp_dir = worker_env(run_module, tmp_path)
    run_dir = tmp_path / "workers"
    result = subprocess.run(
        launcher_command(
            2, *common, "train.batch_size=16", "data.shard_policy=data", f"run_dir={run_dir}"
        ),
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-5000:]
    done = done_lines(result.stdout)
    assert sorted(done) == [0, 1] and all(
        "Done: 2 epochs, 10 steps" in line for line in done.values()
    )
    digests = {line.rsplit("weights ", 1)[1] for line in done.values()}
    assert len(digests) == 1  # identical final weights on both workers

    # One set of checkpoints and one TensorBoard log: the chief's; the other worker's are gone.
    assert sorted(path.name for path in run_dir.iterdir()) == [
        "assets",
        "checkpoints",
        "config.yaml",
        "tensorboard",
        "train.log",
    ]
    assert list(temp_dir.iterdir()) == []

    single = run_module(
        "train",
        *common,
        "distribute=one_device",
        "train.batch_size=32",
        f"run_dir={tmp_path / 'one'}",
    )
    assert single.returncode == 0, single.stderr
    np.testing.assert_allclose(loss_curve(run_dir), loss_curve(tmp_path / "one"), rtol=1e-3)


@pytest.mark.slow
def test_a_killed_worker_is_restarted_and_the_job_finishes(run_module, tmp_path):
    env, _ = worker_env(run_module, tmp_path)
    run_dir = tmp_path / "run"
    overrides = [
        "experiment=smoke",
        "train.epochs=8",
        "train.max_steps_per_epoch=null",
        "train.checkpoint_every_steps=5",
        f"run_dir={run_dir}",
    ]
    launcher = subprocess.Popen(
        launcher_command(2, *overrides, max_restarts=2),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(launcher.stdout), daemon=True)
    reader.start()
    try:
        wait_for_first_checkpoint(launcher, run_dir, 240, output=lambda: "".join(lines))
        pid = int(re.search(r"worker 1 started \(pid (\d+)", "".join(lines)).group(1))
        os.kill(pid, signal.SIGKILL)
        assert launcher.wait(timeout=300) == 0, "".join(lines)[-5000:]
    finally:
        launcher.kill()
        reader.join(timeout=10)
    output = "".join(lines)
    assert "worker 1 failed with exit status -9" in output
    assert "restarting all workers from the latest checkpoint (1/2)" in output
    assert "Resuming from" in output
    assert "Done: 8 epochs, 48 steps" in done_lines(output)[0]  # 192 examples // (2 x 16)


@pytest.mark.slow
def test_a_worker_whose_peer_never_comes_stops(run_module, tmp_path):
    ports = []
    for _ in range(2):  # free ports; worker 1 never starts
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    env = {
        **run_module.env,
        "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}}),
    }
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "{{ cookiecutter.package_name }}.train",
            "experiment=smoke",
            "distribute=multi_worker",
            "distribute.worker_timeout_s=5",
            f"run_dir={tmp_path / 'run'}",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and time.monotonic() - started < 100
    assert "made no progress for 5 s: a peer worker did not start or died" in result.stderr
