"""What every console script does around its work: logging, exit codes, foreign overrides.

train, eval, export and preprocess call these at their edge only; the work itself (train(cfg),
evaluate(...), ...) raises exceptions and never exits.
"""

import contextlib
import logging
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import tensorflow as tf

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


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
    handlers = [console]
    if log_file is not None:
        handlers.append(logging.FileHandler(log_file))
    for handler in handlers:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler._from_cli = True
        root.addHandler(handler)
    # tf.distribute's chatter: per epoch (absl) and per collective op (tensorflow)
    for name in ("absl", "tensorflow"):
        logging.getLogger(name).setLevel(logging.WARNING)


@contextlib.contextmanager
def quiet_tensorflow() -> Iterator[None]:
    """Mutes the deprecation notices of TensorFlow's TF1 loaders and tf.lite.Interpreter."""
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


@contextlib.contextmanager
def exit_on_user_error() -> Iterator[None]:
    """Turns a bad config or bad data into one clear message and exit status 1."""
    try:
        yield
    except (
        ValueError,
        OSError,  # FileNotFoundError, PermissionError, a full disk, ...
        FloatingPointError,
        RuntimeError,
        tf.errors.PermissionDeniedError,
        tf.errors.ResourceExhaustedError,
    ) as error:
        log.error("%s", error)
        sys.exit(1)


def keep_known_overrides(arguments: Sequence[str], known: Sequence[str]) -> list[str]:
    """The command-line arguments a command with the config keys `known` can use.

    eval and export run after train with the same ARGS (make train ARGS=...); a training
    override such as data=synthetic or train.epochs=5 means nothing to them, so it is dropped
    with one log line instead of failing the command. Flags (--help, -m) and hydra.* stay.
    """
    kept, ignored = [], []
    for argument in arguments:
        key = argument.split("=", 1)[0].lstrip("+~")
        flag = argument.startswith("-") or "=" not in argument or key.split(".")[0] == "hydra"
        usable = any(key == name or key.startswith(name + ".") for name in known)
        (kept if flag or usable else ignored).append(argument)
    if ignored:
        log.info("Ignoring %s: this command takes %s", " ".join(ignored), ", ".join(known))
    return kept
