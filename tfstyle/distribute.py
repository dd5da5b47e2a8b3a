"""Where tfstyle runs: the one owner of strategy names, device queries, cluster roles and dtype policies.

Every command that takes `--strategy` (optimisation, training, translation, export, evaluation)
builds its strategy here, so a name means the same thing on every path:

* `auto`: MirroredStrategy over all local GPUs when there are several, else OneDeviceStrategy on
  the one GPU, else on the CPU;
* `one_device`: OneDeviceStrategy on the first GPU, else on the CPU;
* `mirrored`: MirroredStrategy over all local GPUs, else over all logical CPU devices (one on a
  plain machine; tests split the CPU in two);
* `multi_worker`: MultiWorkerMirroredStrategy from `TF_CONFIG` (create it before any other
  TensorFlow work in the process);
* `tpu`: TPUStrategy on the TPU that `TPUClusterResolver` finds.

`auto`, `one_device` and `multi_worker` look at *physical* devices only: listing logical devices
starts the runtime, after which MultiWorkerMirroredStrategy can no longer set up its collectives.
`mirrored` lists logical devices, because that is how a CPU split into several logical devices
(`tf.config.set_logical_device_configuration`) becomes several replicas.

Importing this module does not import TensorFlow (each function does): configs take their
`--strategy` / `--mixed_precision` choices from here, so a CLI can define and check its flags
before paying for TensorFlow.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker", "tpu")
LOCAL_STRATEGIES = STRATEGIES[:3]  # the names that need no cluster (the optimisation path offers these)

# `--mixed_precision` values -> Keras dtype policies (variables stay float32, layers compute in 16 bits).
PRECISIONS = ("none", "bf16", "fp16")
_POLICIES = {"none": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


def gpus() -> list:
    """The physical GPUs TensorFlow sees (does not start the runtime)."""
    import tensorflow as tf

    return tf.config.list_physical_devices("GPU")


def has_gpu() -> bool:
    """True when TensorFlow sees at least one GPU."""
    return bool(gpus())


# CPU flags (/proc/cpuinfo) of native bfloat16 matrix instructions: AVX512-BF16 dot products, AMX tiles.
FAST_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def fast_bf16() -> tuple[bool, str]:
    """Whether this machine computes bfloat16 faster than float32, and why (for the log line).

    GPUs: compute capability 8.0 or more (Ampere and later have bfloat16 tensor cores) on every
    visible GPU. Without a GPU: the CPU's AVX512-BF16 or AMX-BF16 flags (Linux /proc/cpuinfo;
    elsewhere assumed absent), which oneDNN uses for bfloat16 convolutions.

    Returns:
        (fast, reason), e.g. (True, "CPU has avx512_bf16").
    """
    import tensorflow as tf

    devices = gpus()
    if devices:
        capabilities = [tf.config.experimental.get_device_details(d).get("compute_capability", (0, 0))
                        for d in devices]
        if all(tuple(c) >= (8, 0) for c in capabilities):
            return True, f"GPU compute capability {min(capabilities)[0]}.{min(capabilities)[1]} >= 8.0"
        return False, f"GPU compute capability {min(capabilities)[0]}.{min(capabilities)[1]} < 8.0"
    found = [flag for flag in FAST_BF16_CPU_FLAGS if flag in _cpu_flags()]
    if found:
        return True, f"CPU has {', '.join(found)}"
    return False, "CPU has no avx512_bf16 / amx_bf16"


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """The tf.distribute strategy named `name` (see the module docstring for each name's meaning).

    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    import tensorflow as tf

    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; expected one of {', '.join(STRATEGIES)}")
    if name == "auto":
        if len(gpus()) > 1:
            return tf.distribute.MirroredStrategy()
        return tf.distribute.OneDeviceStrategy("/gpu:0" if has_gpu() else "/cpu:0")
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy("/gpu:0" if has_gpu() else "/cpu:0")
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu="")
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def describe(strategy: tf.distribute.Strategy) -> str:
    """One line for logs, e.g. `OneDeviceStrategy, 1 replica(s)`."""
    return f"{type(strategy).__name__}, {strategy.num_replicas_in_sync} replica(s)"


@dataclasses.dataclass(frozen=True)
class ClusterTask:
    """This process's place in a cluster.

    Attributes:
        task_type: "chief", "worker", ... or None outside a cluster.
        task_id: index within `task_type`, or None outside a cluster.
        is_chief: True for the process that writes checkpoints, logs and configs (every
            single-process run; in a cluster the chief, or worker 0 when there is no chief).
    """

    task_type: str | None
    task_id: int | None
    is_chief: bool

    @property
    def in_cluster(self) -> bool:
        return self.task_type is not None


def cluster_task(strategy: tf.distribute.Strategy) -> ClusterTask:
    """Where this process stands in `strategy`'s cluster (a single process is the chief)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return ClusterTask(None, None, True)
    task_type, task_id = resolver.task_type, resolver.task_id
    jobs = resolver.cluster_spec().as_dict()
    chief = task_type == "chief" or (task_type == "worker" and task_id == 0 and "chief" not in jobs)
    return ClusterTask(task_type, task_id, chief)


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    """True for a MultiWorkerMirroredStrategy that really spans a cluster (TF_CONFIG set)."""
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and cluster_task(strategy).in_cluster


def policy_name(precision: str) -> str:
    """`--mixed_precision` value ("none", "bf16", "fp16") -> Keras dtype policy name.

    Raises:
        ValueError: unknown value.
    """
    if precision not in _POLICIES:
        raise ValueError(f"unknown mixed precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
    return _POLICIES[precision]


@contextlib.contextmanager
def dtype_policy(precision: str) -> Iterator[None]:
    """Sets Keras' global dtype policy while models are built, then puts the previous one back.

    "bf16" -> mixed_bfloat16, "fp16" -> mixed_float16 (variables float32, layers compute in 16
    bits), "none" -> float32. Losses are computed in float32 by their callers.
    """
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy_name(precision))
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def loss_scaled(optimizer: keras.optimizers.Optimizer, precision: str) -> keras.optimizers.Optimizer:
    """`optimizer` wrapped in a LossScaleOptimizer (named `<name>_scaled`) under "fp16", else as it is.

    float16 gradients underflow without loss scaling; bfloat16 has float32's range and needs none.
    A step using it calls `optimizer.scale_loss(loss)` before taking gradients.
    """
    if policy_name(precision) != "mixed_float16":
        return optimizer
    import keras

    return keras.mixed_precision.LossScaleOptimizer(optimizer, name=f"{optimizer.name}_scaled")
