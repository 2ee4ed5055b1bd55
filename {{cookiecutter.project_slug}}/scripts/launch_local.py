"""Start N multi-worker training processes on this machine (127.0.0.1), like a small cluster.

    python scripts/launch_local.py --workers 2 -- experiment=smoke run_dir=runs/mw
    python scripts/launch_local.py --workers 4 --max-restarts 3 -- train.checkpoint_every_steps=100

Preprocesses once, then starts every worker as `python -m {{ cookiecutter.package_name }}.train
distribute=multi_worker <overrides>` with its own TF_CONFIG (free ports chosen now), and
streams their output with a `[worker i]` prefix. Worker 0 is the chief: it alone writes the
run directory (run_dir=, default a new runs/multi_worker/<date>_<time>). When a worker fails, all are stopped; with --max-restarts left, all are
started again and resume from the latest checkpoint (MultiWorkerMirroredStrategy cannot take
one new worker into a running group). Returns the chief's exit status.
"""

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time

PACKAGE = "{{ cookiecutter.package_name }}"


def free_ports(count: int) -> list[int]:
    """`count` distinct free TCP ports on 127.0.0.1, chosen by the OS."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def tf_config(ports: list[int], index: int) -> str:
    """The TF_CONFIG of worker `index` in a cluster of workers on 127.0.0.1."""
    workers = [f"127.0.0.1:{port}" for port in ports]
    return json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})


def stream(process: subprocess.Popen, prefix: str) -> threading.Thread:
    """Copies a worker's output line by line to ours, each line prefixed."""

    def copy() -> None:
        for line in process.stdout:
            sys.stdout.write(f"{prefix} {line}")
            sys.stdout.flush()

    thread = threading.Thread(target=copy, daemon=True)
    thread.start()
    return thread


def start_workers(count: int, overrides: list[str]) -> list[subprocess.Popen]:
    ports = free_ports(count)
    workers = []
    for index in range(count):
        env = {**os.environ, "TF_CONFIG": tf_config(ports, index)}
        process = subprocess.Popen(
            [sys.executable, "-m", f"{PACKAGE}.train", "distribute=multi_worker", *overrides],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        say(f"worker {index} started (pid {process.pid}, port {ports[index]})")
        workers.append(process)
    return workers


def stop(workers: list[subprocess.Popen]) -> None:
    """Kills every worker still running: one blocked in a collective ignores SIGTERM."""
    for process in workers:
        if process.poll() is None:
            process.kill()
    for process in workers:
        process.wait()


def wait(workers: list[subprocess.Popen]) -> int:
    """Waits until all workers succeed (returns 0) or one fails (returns its exit status)."""
    while True:
        codes = [process.poll() for process in workers]
        failed = [i for i, code in enumerate(codes) if code not in (None, 0)]
        if failed:
            say(f"worker {failed[0]} failed with exit status {codes[failed[0]]}")
            return codes[failed[0]]
        if all(code == 0 for code in codes):
            return 0
        time.sleep(0.2)


def run(count: int, overrides: list[str], max_restarts: int) -> int:
    """Preprocesses, then runs the workers until they succeed or restarts are used up."""
    if not any(item.startswith("run_dir=") for item in overrides):
        # Every worker, and every restart, must use one folder: pick a new dated one now.
        stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
        overrides = [*overrides, f"run_dir=runs/multi_worker/{stamp}"]
        say(f"training into {overrides[-1]}")
    preprocess = subprocess.run(
        [sys.executable, "-m", f"{PACKAGE}.data.preprocess_data", *overrides], check=False
    )
    if preprocess.returncode != 0:
        return preprocess.returncode
    status = 1
    for attempt in range(max_restarts + 1):
        if attempt:
            say(f"restarting all workers from the latest checkpoint ({attempt}/{max_restarts})")
        workers = start_workers(count, overrides)
        threads = [stream(process, f"[worker {i}]") for i, process in enumerate(workers)]
        try:
            status = wait(workers)
        finally:
            stop(workers)
            for thread in threads:
                thread.join(timeout=5)
        if status == 0:
            return 0
    # The chief's status when it failed by itself; else that of the worker that failed.
    chief = workers[0].returncode
    return chief if chief > 0 else (status if status > 0 else 1)


def say(message: str) -> None:
    print(f"[launcher] {message}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        usage="%(prog)s --workers N [--max-restarts R] -- [train overrides ...]",
    )
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument(
        "--max-restarts", type=int, default=0, help="times to restart after a failure"
    )
    parser.add_argument("overrides", nargs="*", help="key=value overrides for every worker")
    args = parser.parse_args()
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(run(args.workers, args.overrides, args.max_restarts))
    sys.exit(130)


if __name__ == "__main__":
    main()
