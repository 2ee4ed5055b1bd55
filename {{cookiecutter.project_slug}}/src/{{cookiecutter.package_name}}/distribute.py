"""The one place that knows about devices: a tf.distribute strategy from the distribute config.

auto: mirrored over several GPUs (CUDA_VISIBLE_DEVICES) or logical CPUs, else one device.

    {{ cookiecutter.package_name }}-train distribute=mirrored distribute.logical_cpus=2   # no GPU needed
{%- if cookiecutter.cluster %}
    TF_CONFIG='{...}' {{ cookiecutter.package_name }}-train distribute=multi_worker   # see scripts/launch_local.py
{%- endif %}
"""

{% if cookiecutter.cluster -%}
import json
{% endif -%}
import logging
{%- if cookiecutter.cluster %}
import os
{%- endif %}

import tensorflow as tf

log = logging.getLogger(__name__)


def split_cpu(num_logical_cpus: int) -> None:
    """Splits the CPU into logical devices (mirrored without GPUs), before TensorFlow starts."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    if len(tf.config.get_logical_device_configuration(cpu) or []) != num_logical_cpus:
        devices = [tf.config.LogicalDeviceConfiguration()] * num_logical_cpus
        tf.config.set_logical_device_configuration(cpu, devices)  # fails once TF has started


def gpu_names() -> list[str]:
    return [device.name for device in tf.config.list_logical_devices("GPU")]


def resolve_switch(value: object, key: str) -> bool:
    """An `auto`/true/false config value as a bool: `auto` means "on a GPU"."""
    if isinstance(value, bool):
        return value
    if value == "auto":
        return bool(gpu_names())
    raise ValueError(f"{key}={value!r} must be auto, true or false.")


{% if cookiecutter.cluster -%}
def build_strategy(
    *, name: str, logical_cpus: int, communication: str, worker_timeout_s: int
) -> tf.distribute.Strategy:
{%- else -%}
def build_strategy(*, name: str, logical_cpus: int) -> tf.distribute.Strategy:
{%- endif %}
    """The strategy of `build_strategy(**cfg.distribute)`; call it before any other TF op."""
    if logical_cpus > 1:
        split_cpu(logical_cpus)
{%- if cookiecutter.cluster %}
    if name == "multi_worker":  # before anything lists the logical devices (TF starts then)
        strategy = multi_worker_strategy(communication, worker_timeout_s)
    else:
        strategy = local_strategy(name)
{%- else %}
    strategy = local_strategy(name)
{%- endif %}
    devices, replicas = ", ".join(strategy.extended.worker_devices), strategy.num_replicas_in_sync
    log.info("Strategy %s with %d replica(s) on %s", type(strategy).__name__, replicas, devices)
    return strategy


def local_strategy(name: str) -> tf.distribute.Strategy:
    """One device, or mirrored over this machine's GPUs (else its logical CPUs)."""
    gpus, cpus = gpu_names(), [device.name for device in tf.config.list_logical_devices("CPU")]
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 or (not gpus and len(cpus) > 1) else "one_device"
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(gpus[0] if gpus else cpus[0])
    return tf.distribute.MirroredStrategy(gpus or cpus)
{%- if cookiecutter.cluster %}


def multi_worker_strategy(communication: str, timeout_s: int) -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy over the cluster that TF_CONFIG describes."""
    try:
        tf_config = json.loads(os.environ["TF_CONFIG"])
        workers, task = tf_config["cluster"]["worker"], tf_config["task"]
    except (KeyError, TypeError, json.JSONDecodeError) as error:
        raise ValueError(
            "distribute=multi_worker needs TF_CONFIG, e.g. "
            '{"cluster": {"worker": ["host0:port", "host1:port"]}, '
            '"task": {"type": "worker", "index": 0}} '
            "(scripts/launch_local.py sets it for workers on this machine)."
        ) from error
    log.info("Worker %s %s of %d", task.get("type"), task.get("index"), len(workers))
    implementation = tf.distribute.experimental.CommunicationImplementation
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=implementation[communication.upper()], timeout_seconds=timeout_s or None
    )
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True in the one process that writes the run directory: the chief, or worker 0 of a
    cluster without one (always, but on multi_worker)."""
    return strategy.extended.should_checkpoint
{%- endif %}


def mixed_precision_policy(value: object) -> str:
    """train.mixed_precision's Keras dtype policy: float16 on a GPU, bfloat16 on a CPU, or off."""
    if not resolve_switch(value, "train.mixed_precision"):
        return "float32"
    return "mixed_float16" if gpu_names() else "mixed_bfloat16"
