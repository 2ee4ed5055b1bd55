"""The one place that knows about devices: a tf.distribute strategy from config.

    {{ cookiecutter.package_name }}-train distribute=auto          # mirrored over all GPUs, else one device
    {{ cookiecutter.package_name }}-train distribute=one_device
    {{ cookiecutter.package_name }}-train distribute=mirrored distribute.logical_cpus=2   # no GPU needed
{%- if cookiecutter.cluster %}
    TF_CONFIG='{...}' {{ cookiecutter.package_name }}-train distribute=multi_worker   # see scripts/launch_local.py
{%- endif %}
    {{ cookiecutter.package_name }}-train distribute=tpu distribute.tpu=my-tpu     # a Cloud TPU

Everything that creates variables is built inside ``strategy.scope()`` by train.py.
"""

import contextlib
import functools
{%- if cookiecutter.cluster %}
import json
{%- endif %}
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence

import tensorflow as tf

log = logging.getLogger(__name__)
{%- if cookiecutter.cluster %}

# By distribute.communication; the config refuses any other choice (config.Communication).
COMMUNICATIONS = {
    "auto": tf.distribute.experimental.CommunicationImplementation.AUTO,
    "ring": tf.distribute.experimental.CommunicationImplementation.RING,
    "nccl": tf.distribute.experimental.CommunicationImplementation.NCCL,
}
{%- endif %}


def split_cpu(num_logical_cpus: int) -> None:
    """Splits the CPU into logical devices so the mirrored path runs without GPUs.

    Must run before TensorFlow initialises its devices, i.e. first thing in a process.
    """
    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu) or []
    if len(current) == num_logical_cpus:
        return
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * num_logical_cpus
        )
    except RuntimeError as error:
        raise RuntimeError(
            f"distribute.logical_cpus={num_logical_cpus} must be set before TensorFlow starts "
            "its devices; pass it on the command line of a fresh process."
        ) from error


def nvidia_device_present() -> bool:
    """True when the OS shows an NVIDIA GPU: a /dev/nvidia0 device or an nvidia-smi command."""
    return os.path.exists("/dev/nvidia0") or shutil.which("nvidia-smi") is not None


@contextlib.contextmanager
def muted_stderr() -> Iterator[None]:
    """Sends file descriptor 2, where TensorFlow's C++ code logs, to /dev/null for a while."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@functools.cache
def probe_devices() -> tuple[str, ...]:
    """Names of the physical GPUs TensorFlow finds; call it first thing in a command.

    TensorFlow looks for CUDA once per process. On a machine without an NVIDIA device that
    look only prints "E0000 ... failed call to cuInit" (C++ logging, not catchable), so there
    it runs with stderr muted; with an NVIDIA device every message stays.
    """
    if nvidia_device_present():
        return tuple(device.name for device in tf.config.list_physical_devices("GPU"))
    with muted_stderr():
        return tuple(device.name for device in tf.config.list_physical_devices("GPU"))


def warn_if_gpu_unused() -> None:
    """Warns when nvidia-smi lists a GPU that TensorFlow cannot use (a CPU-only install)."""
    if probe_devices() or not shutil.which("nvidia-smi"):
        return
    try:
        listing = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return
    if "GPU" in listing:
        log.warning(
            "nvidia-smi lists %s, but TensorFlow sees no GPU, so this runs on the CPU. "
            "Install TensorFlow's CUDA build: make install GPU=1 (or pip install -e '.[gpu]').",
            listing.strip().splitlines()[0],
        )


def gpu_names() -> list[str]:
    """Names of the logical GPUs TensorFlow can use."""
    return [device.name for device in tf.config.list_logical_devices("GPU")]


def has_gpu() -> bool:
    return bool(gpu_names())


def resolve_switch(value: object, key: str) -> bool:
    """Turns an `auto`/true/false config value into a bool: `auto` means "on a GPU"."""
    if isinstance(value, bool):
        return value
    if value == "auto":
        return has_gpu()
    raise ValueError(f"{key}={value!r} must be auto, true or false.")


def build_strategy(
    *,
    name: str,
    devices: Sequence[str] | None,
    logical_cpus: int,
{%- if cookiecutter.cluster %}
    communication: str,
    worker_timeout_s: int,
{%- endif %}
    tpu: str | None,
) -> tf.distribute.Strategy:
    """Returns the strategy named by distribute.name. Call it before any other TensorFlow op.

    Takes the values of the distribute config (`build_strategy(**cfg.distribute)`), which
    refuses a name{{ " or communication" if cookiecutter.cluster else "" }} that is not one of its choices when it is composed.

    Args:
        name: "auto" (mirrored over several GPUs or logical CPUs, else one device),
{%- if cookiecutter.cluster %}
            "one_device", "mirrored", "multi_worker" (from the TF_CONFIG environment
            variable) or "tpu".
{%- else %}
            "one_device", "mirrored" or "tpu".
{%- endif %}
        devices: devices for "mirrored"; None takes every GPU, or every logical CPU.
        logical_cpus: when above 1, split the CPU into this many logical devices first.
{%- if cookiecutter.cluster %}
        communication: the all-reduce between workers of "multi_worker": auto, ring or nccl.
        worker_timeout_s: "multi_worker": a collective op waiting longer for a peer fails.
{%- endif %}
        tpu: the TPU's name or grpc:// address for "tpu"; None finds the local one.
    """
    probe_devices()
    if logical_cpus > 1:
        split_cpu(logical_cpus)
{%- if cookiecutter.cluster %}
    if name == "multi_worker":
        strategy = multi_worker_strategy(communication, worker_timeout_s)
    elif name == "tpu":
        strategy = tpu_strategy(tpu)
    else:
        strategy = local_strategy(name, devices)
{%- else %}
    strategy = tpu_strategy(tpu) if name == "tpu" else local_strategy(name, devices)
{%- endif %}
    log.info(
        "Strategy %s with %d replica(s) on %s",
        type(strategy).__name__,
        strategy.num_replicas_in_sync,
        ", ".join(strategy.extended.worker_devices),
    )
    warn_if_gpu_unused()
    return strategy


def local_strategy(name: str, devices: Sequence[str] | None) -> tf.distribute.Strategy:
    """One device or mirrored over this machine's GPUs (or logical CPUs)."""
    gpus = gpu_names()
    cpus = [device.name for device in tf.config.list_logical_devices("CPU")]
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 or (not gpus and len(cpus) > 1) else "one_device"
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(gpus[0] if gpus else cpus[0])
    return tf.distribute.MirroredStrategy(list(devices or gpus or cpus))
{%- if cookiecutter.cluster %}


def multi_worker_strategy(communication: str, timeout_s: int) -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy over the cluster that TF_CONFIG describes."""
    try:
        tf_config = json.loads(os.environ["TF_CONFIG"])
        workers = tf_config["cluster"]["worker"]
        task = tf_config["task"]
    except (KeyError, TypeError, json.JSONDecodeError) as error:
        raise ValueError(
            "distribute=multi_worker needs TF_CONFIG, e.g. "
            '{"cluster": {"worker": ["host0:port", "host1:port"]}, '
            '"task": {"type": "worker", "index": 0}} '
            "(scripts/launch_local.py sets it for workers on this machine)."
        ) from error
    log.info("Worker %s %s of %d", task.get("type"), task.get("index"), len(workers))
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=COMMUNICATIONS[communication], timeout_seconds=timeout_s or None
    )
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
{%- endif %}


def tpu_strategy(tpu: str | None) -> tf.distribute.Strategy:
    """TPUStrategy on the TPU named `tpu` (or the local one); connects and initialises it."""
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, tf.errors.OpError) as error:
        raise RuntimeError(
            f"distribute=tpu found no TPU ({error}). Run on a TPU VM, or set distribute.tpu "
            "to the TPU's name or grpc:// address."
        ) from error
    return tf.distribute.TPUStrategy(resolver)
{%- if cookiecutter.cluster %}


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True in the one process that writes the run directory (always, but on multi_worker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type == "chief" or (
        task_type == "worker" and task_id == 0 and "chief" not in resolver.cluster_spec().jobs
    )
{%- endif %}


def use_jit_compile(value: object, deterministic: bool) -> bool:
    """train.jit_compile as a bool: `auto` is XLA on a GPU, unless the run must be
    deterministic (XLA has no deterministic MaxPool gradient)."""
    wanted = resolve_switch(value, "train.jit_compile")
    return wanted and (value is True or not deterministic)


def mixed_precision_policy(value: object) -> str:
    """The Keras dtype policy for train.mixed_precision (auto/true/false).

    float16 with loss scaling on a GPU, bfloat16 on a CPU (no loss scaling needed), float32
    when off; `auto` turns it on only on a GPU.
    """
    if not resolve_switch(value, "train.mixed_precision"):
        return "float32"
    return "mixed_float16" if has_gpu() else "mixed_bfloat16"
