"""What every console script does at its edge: logging, exit codes, signals, foreign overrides.
The work itself (train(cfg), evaluate(...), ...) raises exceptions and never exits."""

import contextlib
import logging
import signal
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import tensorflow as tf

log = logging.getLogger(__name__)
# A bad config or bad data, a missing file, a full disk, a bucket out of reach: a message.
USER_ERRORS = (ValueError, OSError, FloatingPointError, RuntimeError, tf.errors.NotFoundError)
USER_ERRORS += (tf.errors.PermissionDeniedError, tf.errors.ResourceExhaustedError)
USER_ERRORS += (tf.errors.FailedPreconditionError,)  # e.g. gs:// with no network


def setup_logging(log_file: Path | None = None) -> None:
    """Logs INFO and above to stderr and, when given, to `log_file` (appending)."""
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    old = [h for h in root.handlers if getattr(h, "_from_cli", False)]  # removed once replaced:
    console = logging.StreamHandler(sys.stderr)  # a signal meanwhile still finds a handler
    if sys.stdout.isatty():  # the progress bar shows these; the log file keeps them
        console.addFilter(lambda record: not getattr(record, "progress", False))
    for handler in [console] + ([logging.FileHandler(log_file)] if log_file else []):
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._from_cli = True
        root.addHandler(handler)
    for handler in old:
        root.removeHandler(handler)
        handler.close()
    for name in ("absl", "tensorflow"):  # tf.distribute's chatter per epoch and collective op
        logging.getLogger(name).setLevel(logging.WARNING)


@contextlib.contextmanager
def quiet_tensorflow() -> Iterator[None]:
    """Mutes the deprecation notices of TensorFlow's TF1 loaders and tf.lite.Interpreter."""
    level = tf.get_logger().level
    tf.get_logger().setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        tf.get_logger().setLevel(level)


def raise_interrupt(signum: int, frame: object) -> None:
    """SIGTERM raises as Ctrl-C does, so `finally` blocks and context managers clean up."""
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextlib.contextmanager
def exit_on_user_error(kept: Callable[[], str] | None = None) -> Iterator[None]:
    """A USER_ERRORS exception: one line, exit 1. SIGINT/SIGTERM: one line of `kept()`, 130/143."""
    signal.signal(signal.SIGTERM, raise_interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also where a parent ignored it
    try:
        yield
    except USER_ERRORS as error:
        log.error("%s", error)
        sys.exit(1)
    except KeyboardInterrupt as stop:
        name = str(stop) or "SIGINT"  # Ctrl-C, or raise_interrupt's SIGTERM
        note = kept() if kept else "nothing unfinished is used; run it again."
        log.error("Stopped by %s: %s", name, note)
        sys.exit(128 + signal.Signals[name])


def keep_known_overrides(arguments: Sequence[str], known: Sequence[str]) -> list[str]:
    """`arguments` less the overrides of keys not `known`, named in a log line (ARGS of train)."""
    kept, ignored = [], []
    for argument in arguments:
        key = argument.split("=", 1)[0].lstrip("+~")
        flag = argument.startswith("-") or "=" not in argument or key.split(".")[0] == "hydra"
        usable = any(key == name or key.startswith(name + ".") for name in known)
        (kept if flag or usable else ignored).append(argument)
    if ignored:
        log.info("Ignoring %s: this command takes %s", " ".join(ignored), ", ".join(known))
    return kept
