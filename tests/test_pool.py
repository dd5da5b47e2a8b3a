"""Tests of tfstyle.cyclegan.pool.ImagePool: fill phase, 50/50 rule, graph modes, checkpoints, replicas."""

import json
import textwrap

import helpers
import numpy as np
import pytest
import scipy.stats
import tensorflow as tf

from tfstyle.cyclegan.pool import ImagePool


def _labelled(labels) -> np.ndarray:
    """Images [N, 2, 2, 1] whose every pixel is the label, so outputs can be traced back."""
    labels = np.asarray(labels, np.float32)
    return np.broadcast_to(labels[:, None, None, None], (len(labels), 2, 2, 1)).copy()


def _labels(images) -> np.ndarray:
    images = np.asarray(images)
    assert np.all(images == images[:, :1, :1, :1])  # images come back whole, never mixed
    return images[:, 0, 0, 0]


def test_fill_phase_stores_and_returns_new_images():
    pool = ImagePool(5, (2, 2, 1), seed=0)
    np.testing.assert_array_equal(_labels(pool(_labelled([1, 2]))), [1, 2])
    assert int(pool.count.numpy()) == 2
    np.testing.assert_array_equal(_labels(pool(_labelled([3, 4, 5]))), [3, 4, 5])
    assert int(pool.count.numpy()) == 5
    np.testing.assert_array_equal(_labels(pool.buffer.numpy()), [1, 2, 3, 4, 5])


def test_pool_size_zero_passes_images_through():
    pool = ImagePool(0, (2, 2, 1))
    images = _labelled([7, 8, 9])
    np.testing.assert_array_equal(pool(images).numpy(), images)
    assert int(pool.count.numpy()) == 0 and pool.buffer.shape == (0, 2, 2, 1)


def test_full_pool_follows_the_50_50_rule():
    pool_size, draws = 10, 4000
    pool = ImagePool(pool_size, (2, 2, 1), seed=1)
    pool(_labelled(np.arange(pool_size)))  # fill with labels 0..9
    new = np.arange(pool_size, pool_size + draws)
    # One batch: images go through the rule one after the other, inside tf.function.
    returned = _labels(tf.function(pool.__call__)(tf.constant(_labelled(new))))

    # Replay with a numpy mirror of the pool: a returned image is either the new one, or one that
    # was in the pool at that moment (possibly from earlier in the same batch), which is then
    # replaced by the new one. Count the swaps and the slot each swap used.
    mirror = list(range(pool_size))
    swaps_per_slot = np.zeros(pool_size, int)
    for label, out in zip(new, returned, strict=True):
        if out != label:
            slot = mirror.index(out)
            mirror[slot] = label
            swaps_per_slot[slot] += 1
    np.testing.assert_array_equal(_labels(pool.buffer.numpy()), mirror)
    assert int(pool.count.numpy()) == pool_size

    swap_rate = swaps_per_slot.sum() / draws
    assert abs(swap_rate - 0.5) < 4 * np.sqrt(0.25 / draws)  # 4 sigma = 0.032
    assert scipy.stats.chisquare(swaps_per_slot).pvalue > 1e-3  # slots chosen uniformly
    # Some images were answered with an earlier image of the same batch.
    assert np.any((returned >= pool_size) & (returned != new))


def test_eager_tf_function_and_xla_make_the_same_decisions():
    batches = [_labelled(np.arange(3 * step, 3 * step + 3)) for step in range(8)]
    results = []
    for mode in ("eager", "graph", "xla"):
        pool = ImagePool(4, (2, 2, 1), seed=5)
        call = {"eager": pool, "graph": tf.function(pool.__call__)}.get(mode)
        call = call or tf.function(pool.__call__, jit_compile=True)
        outputs = [_labels(call(tf.constant(batch))) for batch in batches]
        results.append((np.concatenate(outputs), _labels(pool.buffer.numpy())))
    for outputs, buffer in results[1:]:
        np.testing.assert_array_equal(outputs, results[0][0])
        np.testing.assert_array_equal(buffer, results[0][1])
    assert np.any(results[0][0] != np.arange(24))  # the pool did swap some images


def test_checkpoint_round_trip_resumes_exactly(tmp_path):
    pool = ImagePool(3, (2, 2, 1), seed=7)
    for step in range(4):
        pool(_labelled([10 * step + 1, 10 * step + 2]))
    path = tf.train.Checkpoint(pool=pool).save(str(tmp_path / "ckpt"))
    buffer, count = pool.buffer.numpy(), int(pool.count.numpy())
    continued = [_labels(pool(_labelled([100 + step]))) for step in range(20)]

    restored = ImagePool(3, (2, 2, 1), seed=123)  # other seed: the generator state comes from the file
    tf.train.Checkpoint(pool=restored).restore(path).assert_consumed()
    np.testing.assert_array_equal(restored.buffer.numpy(), buffer)
    assert int(restored.count.numpy()) == count == 3
    resumed = [_labels(restored(_labelled([100 + step]))) for step in range(20)]
    np.testing.assert_array_equal(resumed, continued)


def test_external_generator_drives_the_decisions():
    shared = tf.random.Generator.from_seed(11)
    pool = ImagePool(2, (2, 2, 1), generator=shared, seed=999)
    assert pool.generator is shared
    twin = ImagePool(2, (2, 2, 1), generator=tf.random.Generator.from_seed(11))
    images = _labelled(np.arange(40))
    np.testing.assert_array_equal(pool(images).numpy(), twin(images).numpy())
    assert shared.state.numpy()[0] != tf.random.Generator.from_seed(11).state.numpy()[0]  # it advanced


def test_dtype_is_kept_and_bad_shapes_are_refused():
    pool = ImagePool(2, (2, 2, 1))
    assert pool(tf.constant(_labelled([1]), tf.float16)).dtype == tf.float16
    with pytest.raises(ValueError, match=r"\[B, 2, 2, 1\]"):
        pool(np.zeros((1, 4, 4, 1), np.float32))
    with pytest.raises(ValueError, match="pool_size"):
        ImagePool(-1, (2, 2, 1))
    with pytest.raises(ValueError, match="image_shape"):
        ImagePool(2, (2, 2))


_MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from tfstyle.cyclegan.pool import ImagePool

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        pool = ImagePool(3, (2, 2, 1), seed=1)

    @tf.function
    def step(labels):
        def replica_fn():
            replica = tf.distribute.get_replica_context().replica_id_in_sync_group
            # Replica r sees labels + 1000 r: its own images only.
            label = labels + 1000.0 * tf.cast(replica, tf.float32)
            return pool(tf.broadcast_to(label[:, None, None, None], [2, 2, 2, 1]))
        return strategy.run(replica_fn)

    local = strategy.experimental_local_results
    returned = [[], []]
    for index in range(15):
        outputs = step(tf.constant([2.0 * index + 1, 2.0 * index + 2]))
        for replica, images in enumerate(local(outputs)):
            returned[replica].extend(images.numpy()[:, 0, 0, 0].tolist())
    result = {
        "kinds": [type(pool.buffer).__name__, type(pool.count).__name__],
        "returned": returned,
        "buffers": [b.numpy()[:, 0, 0, 0].tolist() for b in local(pool.buffer)],
        "counts": [int(c.numpy()) for c in local(pool.count)],
    }
    path = tf.train.Checkpoint(pool=pool).save(os.path.join(sys.argv[1], "ckpt"))
    with strategy.scope():
        restored = ImagePool(3, (2, 2, 1), seed=2)
    tf.train.Checkpoint(pool=restored).restore(path).assert_consumed()
    result["restored_buffers"] = [b.numpy()[:, 0, 0, 0].tolist() for b in local(restored.buffer)]
    result["restored_counts"] = [int(c.numpy()) for c in local(restored.count)]
    plain = ImagePool(3, (2, 2, 1), seed=2)
    tf.train.Checkpoint(pool=plain).restore(path).assert_consumed()
    result["plain_buffer"] = plain.buffer.numpy()[:, 0, 0, 0].tolist()
    print("RESULT " + json.dumps(result))
    """
)


def test_one_pool_per_replica_under_mirrored_strategy(tmp_path):
    script = tmp_path / "mirrored_pool.py"
    script.write_text(_MIRRORED_SCRIPT)
    process = helpers.run_script(script, tmp_path, extra_env={"CUDA_VISIBLE_DEVICES": ""})
    assert process.returncode == 0, process.stderr[-3000:]
    line = next(line for line in process.stdout.splitlines() if line.startswith("RESULT "))
    result = json.loads(line[len("RESULT ") :])

    assert result["kinds"] == ["SyncOnReadVariable", "SyncOnReadVariable"]
    assert result["counts"] == [3, 3]
    for replica in (0, 1):
        returned = np.array(result["returned"][replica])
        # Each replica's pool holds and returns only its own images (labels 1..30 + 1000 r).
        assert np.all((returned - 1000 * replica >= 1) & (returned - 1000 * replica <= 30))
        buffer = np.array(result["buffers"][replica])
        assert np.all((buffer - 1000 * replica >= 1) & (buffer - 1000 * replica <= 30))
        assert np.any(returned != 1000 * replica + np.arange(1, 31))  # it swapped some
    # Replicas draw from different random streams, so they make different decisions.
    decisions = [np.array(result["returned"][replica]) - 1000 * replica for replica in (0, 1)]
    assert np.any(decisions[0] != decisions[1])
    # A checkpoint holds replica 0's pool; a restore gives it to every replica (and to a plain pool).
    assert result["restored_buffers"] == [result["buffers"][0]] * 2
    assert result["restored_counts"] == [3, 3]
    assert result["plain_buffer"] == result["buffers"][0]
