"""The one place that knows about devices: a tf.distribute strategy from config.

    {{ cookiecutter.package_name }}-train distribute=auto          # mirrored over all GPUs, else one device
    {{ cookiecutter.package_name }}-train distribute=one_device
    {{ cookiecutter.package_name }}-train distribute=mirrored distribute.logical_cpus=2   # no GPU needed

Everything that creates variables is built inside ``strategy.scope()`` by train.py.
"""

import logging
from collections.abc import Sequence

import tensorflow as tf

log = logging.getLogger(__name__)

STRATEGIES = ("auto", "one_device", "mirrored")


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
) -> tf.distribute.Strategy:
    """Returns the strategy named by distribute.name.

    Args:
        name: "auto" (mirrored over several GPUs or logical CPUs, else one device),
            "one_device" or "mirrored".
        devices: devices for "mirrored"; None takes every GPU, or every logical CPU.
        logical_cpus: when above 1, split the CPU into this many logical devices first.
    """
    if name not in STRATEGIES:
        raise ValueError(
            f"distribute={name!r} is not supported; choose one of {', '.join(STRATEGIES)}."
        )
    if logical_cpus > 1:
        split_cpu(logical_cpus)
    gpus = gpu_names()
    cpus = [device.name for device in tf.config.list_logical_devices("CPU")]
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 or (not gpus and len(cpus) > 1) else "one_device"
    if name == "one_device":
        strategy = tf.distribute.OneDeviceStrategy(gpus[0] if gpus else cpus[0])
    else:
        strategy = tf.distribute.MirroredStrategy(list(devices or gpus or cpus))
    log.info(
        "Strategy %s with %d replica(s)", type(strategy).__name__, strategy.num_replicas_in_sync
    )
    return strategy


def mixed_precision_policy(value: object) -> str:
    """The Keras dtype policy for train.mixed_precision (auto/true/false).

    float16 with loss scaling on a GPU, bfloat16 on a CPU (no loss scaling needed), float32
    when off; `auto` turns it on only on a GPU.
    """
    if not resolve_switch(value, "train.mixed_precision"):
        return "float32"
    return "mixed_float16" if has_gpu() else "mixed_bfloat16"
