"""Ends a worker that stops making progress, e.g. one waiting for a peer that never started.

A multi-worker TensorFlow process that waits for its peers (in MultiWorkerMirroredStrategy's
constructor, or in a collective op whose peer died) holds the Python interpreter and ignores
SIGTERM, so no thread of its own can stop it. train.py therefore starts this module as a small
child process (it imports no TensorFlow) and writes a byte to its stdin at every step; when
nothing comes for `timeout` seconds, the watchdog says why and SIGKILLs the worker:

    python -m {{ cookiecutter.package_name }}.watchdog <worker pid> <timeout seconds>

The watchdog ends by itself when the worker closes the pipe or dies.
"""

import contextlib
import os
import select
import signal
import subprocess
import sys
import time


def watch(pid: int, timeout_s: float, stream: object) -> int:
    """Kills `pid` when `stream` stays silent for `timeout_s` seconds; returns an exit status."""
    descriptor = stream.fileno()
    last_heartbeat = time.monotonic()
    while True:
        ready, _, _ = select.select([descriptor], [], [], 1.0)
        if ready:
            if not os.read(descriptor, 65536):  # end of file: the worker is done or gone
                return 0
            last_heartbeat = time.monotonic()
        elif time.monotonic() - last_heartbeat > timeout_s:
            print(
                f"watchdog: worker {pid} made no progress for {timeout_s:.0f} s: a peer "
                "worker did not start or died (see distribute.worker_timeout_s). Stopping it.",
                file=sys.stderr,
                flush=True,
            )
            with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                os.kill(pid, signal.SIGKILL)
            return 1


class Watchdog:
    """The worker's side: start() the watchdog process, heartbeat() often, stop() at the end."""

    def __init__(self, timeout_s: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", __name__, str(os.getpid()), str(timeout_s)],
            stdin=subprocess.PIPE,
        )

    def heartbeat(self) -> None:
        try:
            self.process.stdin.write(b".")
            self.process.stdin.flush()
        except BrokenPipeError:  # the watchdog is gone; nothing left to tell it
            pass

    def stop(self) -> None:
        with contextlib.suppress(BrokenPipeError):
            self.process.stdin.close()
        self.process.wait(timeout=10)


def main() -> None:
    pid, timeout_s = int(sys.argv[1]), float(sys.argv[2])
    sys.exit(watch(pid, timeout_s, sys.stdin))


if __name__ == "__main__":
    main()
