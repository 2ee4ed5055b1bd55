"""What every console script does at its edge: logging, exit codes, foreign overrides. The
work itself (train(cfg), evaluate(...), ...) raises exceptions and never exits."""

import contextlib
import logging
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import tensorflow as tf

log = logging.getLogger(__name__)
# A bad config or bad data, a missing file or a full disk: a message, not a traceback.
USER_ERRORS = (ValueError, OSError, FloatingPointError, RuntimeError)
USER_ERRORS += (tf.errors.PermissionDeniedError, tf.errors.ResourceExhaustedError)


def setup_logging(log_file: Path | None = None) -> None:
    """Logs INFO and above to stderr and, when given, to `log_file` (appending)."""
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for handler in [h for h in root.handlers if getattr(h, "_from_cli", False)]:
        root.removeHandler(handler)
        handler.close()
    console = logging.StreamHandler(sys.stderr)
    if sys.stdout.isatty():  # the progress bar shows these; the log file keeps them
        console.addFilter(lambda record: not getattr(record, "progress", False))
    for handler in [console] + ([logging.FileHandler(log_file)] if log_file else []):
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._from_cli = True
        root.addHandler(handler)
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


@contextlib.contextmanager
def exit_on_user_error() -> Iterator[None]:
    """Turns a USER_ERRORS exception into one log line and exit status 1."""
    try:
        yield
    except USER_ERRORS as error:
        log.error("%s", error)
        sys.exit(1)


def keep_known_overrides(arguments: Sequence[str], known: Sequence[str]) -> list[str]:
    """The arguments a command with the config keys `known` takes (eval and export run with
    train's ARGS): others are dropped with a log line; flags (--help, -m) and hydra.* stay."""
    kept, ignored = [], []
    for argument in arguments:
        key = argument.split("=", 1)[0].lstrip("+~")
        flag = argument.startswith("-") or "=" not in argument or key.split(".")[0] == "hydra"
        usable = any(key == name or key.startswith(name + ".") for name in known)
        (kept if flag or usable else ignored).append(argument)
    if ignored:
        log.info("Ignoring %s: this command takes %s", " ".join(ignored), ", ".join(known))
    return kept
