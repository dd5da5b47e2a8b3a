"""Tests of the strategy owner (`tfstyle.distribute`): what each `--strategy` name builds, cluster roles,
dtype policies and fp16 loss scaling.

Splitting the CPU into logical devices must happen before TensorFlow initialises its runtime, so the
tests that need two CPUs run one script in a subprocess.
"""

from __future__ import annotations

import json
import os
import platform
import textwrap
import types

import helpers
import keras
import pytest
import tensorflow as tf

from tfstyle import distribute


def _devices(strategy) -> list[str]:
    return [device.split("/")[-1] for device in strategy.extended.worker_devices]


def test_one_device_and_auto_on_this_machine():
    expected = "device:GPU:0" if distribute.has_gpu() else "device:CPU:0"
    strategy = distribute.make_strategy("one_device")
    assert isinstance(strategy, tf.distribute.OneDeviceStrategy) and _devices(strategy) == [expected]
    assert distribute.describe(strategy) == "OneDeviceStrategy, 1 replica(s)"
    if len(distribute.gpus()) <= 1:  # auto = one_device unless there are several GPUs
        auto = distribute.make_strategy("auto")
        assert isinstance(auto, tf.distribute.OneDeviceStrategy) and _devices(auto) == [expected]
    assert distribute.has_gpu() == bool(distribute.gpus())


def test_unknown_names_list_the_known_ones():
    with pytest.raises(ValueError, match="unknown strategy 'gpus'; expected one of auto, one_device, mirrored, "
                                         "multi_worker, tpu"):
        distribute.make_strategy("gpus")
    with pytest.raises(ValueError, match="unknown mixed precision 'fp8'; expected one of none, bf16, fp16"):
        distribute.policy_name("fp8")


_TWO_CPUS = textwrap.dedent("""
    import json, os
    os.environ.pop("TF_CONFIG", None)
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from tfstyle import distribute
    out = {}
    for name in ("mirrored", "auto", "one_device", "multi_worker"):
        strategy = distribute.make_strategy(name)
        out[name] = {"type": type(strategy).__name__, "replicas": strategy.num_replicas_in_sync,
                     "devices": [d.split("/")[-1] for d in strategy.extended.worker_devices],
                     "multi_worker": distribute.is_multi_worker(strategy),
                     "chief": distribute.cluster_task(strategy).is_chief}
        if name == "mirrored":  # a value summed over the two replicas
            total = strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(lambda: tf.constant(1.0)), axis=None)
            out[name]["sum_of_ones"] = float(total)
    print("RESULT " + json.dumps(out))
""")


def test_each_name_with_two_logical_cpus(tmp_path):
    """mirrored spans both logical CPUs; auto and one_device stay on one device (they look at GPUs only);
    multi_worker without TF_CONFIG is a one-process MultiWorkerMirroredStrategy, not a cluster."""
    script = tmp_path / "two_cpus.py"
    script.write_text(_TWO_CPUS)
    proc = helpers.run_script(script, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.split("RESULT ", 1)[1])
    assert out["mirrored"]["type"] == "MirroredStrategy"
    assert (out["mirrored"]["replicas"], out["mirrored"]["sum_of_ones"]) == (2, 2.0)
    assert out["mirrored"]["devices"] == ["device:CPU:0", "device:CPU:1"]
    for name in ("auto", "one_device"):
        assert (out[name]["type"], out[name]["replicas"], out[name]["devices"]) == (
            "OneDeviceStrategy", 1, ["device:CPU:0"]), name
    assert out["multi_worker"]["type"] == "CollectiveAllReduceStrategy"  # tf.distribute.MultiWorkerMirroredStrategy
    assert not out["multi_worker"]["multi_worker"] and out["multi_worker"]["chief"]
    assert not any(out[name]["multi_worker"] for name in out)


def _in_cluster(cluster: dict, task_type: str, task_id: int):
    """A stand-in strategy carrying a real cluster resolver (a cluster strategy needs its peers running)."""
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
        tf.train.ClusterSpec(cluster), task_type=task_type, task_id=task_id)
    return types.SimpleNamespace(cluster_resolver=resolver)


@pytest.mark.parametrize("cluster, task_type, task_id, chief", [
    ({"worker": ["a:1", "b:1"]}, "worker", 0, True),              # no chief job: worker 0 writes
    ({"worker": ["a:1", "b:1"]}, "worker", 1, False),
    ({"chief": ["c:1"], "worker": ["a:1"]}, "chief", 0, True),
    ({"chief": ["c:1"], "worker": ["a:1"]}, "worker", 0, False),  # a chief job exists: worker 0 does not write
    ({"chief": ["c:1"], "worker": ["a:1"], "evaluator": ["e:1"]}, "evaluator", 0, False),
])
def test_cluster_roles(cluster, task_type, task_id, chief):
    task = distribute.cluster_task(_in_cluster(cluster, task_type, task_id))
    assert (task.task_type, task.task_id, task.is_chief, task.in_cluster) == (task_type, task_id, chief, True)


def test_a_single_process_is_the_chief():
    for strategy in (tf.distribute.OneDeviceStrategy("/cpu:0"), types.SimpleNamespace()):
        assert distribute.cluster_task(strategy) == distribute.ClusterTask(None, None, True)
        assert not distribute.cluster_task(strategy).in_cluster
    assert not distribute.is_multi_worker(tf.distribute.OneDeviceStrategy("/cpu:0"))


@pytest.mark.parametrize("precision, policy, compute", [
    ("none", "float32", "float32"), ("bf16", "mixed_bfloat16", "bfloat16"), ("fp16", "mixed_float16", "float16")])
def test_dtype_policy_applies_while_building_then_restores(precision, policy, compute):
    before = keras.config.dtype_policy().name
    with distribute.dtype_policy(precision):
        assert keras.config.dtype_policy().name == policy
        layer = keras.layers.Dense(2)
        layer.build((None, 3))
    assert keras.config.dtype_policy().name == before
    assert (layer.compute_dtype, layer.variable_dtype) == (compute, "float32")  # variables stay float32
    with pytest.raises(RuntimeError), distribute.dtype_policy("bf16"):
        raise RuntimeError("a failed build")
    assert keras.config.dtype_policy().name == before


def test_loss_scaling_only_under_fp16():
    adam = keras.optimizers.Adam(name="optimizer_g")
    assert distribute.loss_scaled(adam, "none") is adam and distribute.loss_scaled(adam, "bf16") is adam
    scaled = distribute.loss_scaled(adam, "fp16")
    assert isinstance(scaled, keras.mixed_precision.LossScaleOptimizer) and scaled.name == "optimizer_g_scaled"
    assert scaled.inner_optimizer is adam
    assert float(scaled.scale_loss(tf.constant(1.0))) > 1.0  # the loss is scaled up before the gradients


@pytest.mark.parametrize("flags, fast", [
    ({"avx2", "avx512f", "avx512_bf16"}, True),
    ({"avx2", "amx_bf16", "amx_tile"}, True),
    ({"avx2", "avx512f", "avx512_vnni"}, False),
    (set(), False),
])
def test_fast_bf16_on_a_cpu_follows_its_bf16_flags(monkeypatch, flags, fast):
    monkeypatch.setattr(distribute, "gpus", lambda: [])
    monkeypatch.setattr(distribute, "_cpu_flags", lambda: flags)
    found, reason = distribute.fast_bf16()
    assert found is fast
    assert ("CPU has " + ", ".join(f for f in distribute.FAST_BF16_CPU_FLAGS if f in flags)) == reason if fast \
        else "no avx512_bf16" in reason


def test_cpu_flags_reads_this_machine():
    """On Linux the flags line of /proc/cpuinfo is read (every x86-64 CPU has sse2); elsewhere nothing."""
    flags = distribute._cpu_flags()
    if os.path.exists("/proc/cpuinfo") and platform.machine() in ("x86_64", "AMD64"):
        assert "sse2" in flags
    assert isinstance(flags, set)
