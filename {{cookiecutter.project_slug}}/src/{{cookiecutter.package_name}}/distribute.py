"""The one place that knows about devices: a tf.distribute strategy from config.

    {{ cookiecutter.package_name }}-train distribute=auto          # mirrored over all GPUs, else one device
    {{ cookiecutter.package_name }}-train distribute=one_device
    {{ cookiecutter.package_name }}-train distribute=mirrored distribute.logical_cpus=2   # no GPU needed
    TF_CONFIG='{...}' {{ cookiecutter.package_name }}-train distribute=multi_worker   # see scripts/launch_local.py
    {{ cookiecutter.package_name }}-train distribute=tpu distribute.tpu=my-tpu     # a Cloud TPU

Everything that creates variables is built inside ``strategy.scope()`` by train.py.
"""

import json
import logging
import os
from collections.abc import Sequence

import tensorflow as tf

log = logging.getLogger(__name__)

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker", "tpu")
COMMUNICATIONS = {
    "auto": tf.distribute.experimental.CommunicationImplementation.AUTO,
    "ring": tf.distribute.experimental.CommunicationImplementation.RING,
    "nccl": tf.distribute.experimental.CommunicationImplementation.NCCL,
}


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
    name: str = "auto",
    devices: Sequence[str] | None = None,
    logical_cpus: int = 0,
    communication: str = "auto",
    worker_timeout_s: int = 300,
    tpu: str | None = None,
) -> tf.distribute.Strategy:
    """Returns the strategy named by distribute.name. Call it before any other TensorFlow op.

    Args:
        name: "auto" (mirrored over several GPUs or logical CPUs, else one device),
            "one_device", "mirrored", "multi_worker" (from the TF_CONFIG environment
            variable) or "tpu".
        devices: devices for "mirrored"; None takes every GPU, or every logical CPU.
        logical_cpus: when above 1, split the CPU into this many logical devices first.
        communication: the all-reduce between workers of "multi_worker": auto, ring or nccl.
        worker_timeout_s: "multi_worker": a collective op waiting longer for a peer fails.
        tpu: the TPU's name or grpc:// address for "tpu"; None finds the local one.
    """
    if name not in STRATEGIES:
        raise ValueError(
            f"distribute={name!r} is not supported; choose one of {', '.join(STRATEGIES)}."
        )
    if logical_cpus > 1:
        split_cpu(logical_cpus)
    if name == "multi_worker":
        strategy = multi_worker_strategy(communication, worker_timeout_s)
    elif name == "tpu":
        strategy = tpu_strategy(tpu)
    else:
        strategy = local_strategy(name, devices)
    log.info(
        "Strategy %s with %d replica(s)", type(strategy).__name__, strategy.num_replicas_in_sync
    )
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


def multi_worker_strategy(communication: str, timeout_s: int) -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy over the cluster that TF_CONFIG describes."""
    if communication not in COMMUNICATIONS:
        raise ValueError(
            f"distribute.communication={communication!r} must be one of "
            f"{', '.join(COMMUNICATIONS)}."
        )
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


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True in the one process that writes the run directory (always, but on multi_worker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type == "chief" or (
        task_type == "worker" and task_id == 0 and "chief" not in resolver.cluster_spec().jobs
    )


def mixed_precision_policy(value: object) -> str:
    """The Keras dtype policy for train.mixed_precision (auto/true/false).

    float16 with loss scaling on a GPU, bfloat16 on a CPU (no loss scaling needed), float32
    when off; `auto` turns it on only on a GPU.
    """
    if not resolve_switch(value, "train.mixed_precision"):
        return "float32"
    return "mixed_float16" if has_gpu() else "mixed_bfloat16"
