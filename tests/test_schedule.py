"""Tests of tfstyle.cyclegan.schedule.LinearDecay: boundaries, the reference's epoch rule, serialisation."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfstyle.cyclegan.schedule import LinearDecay


def _reference_factor(epoch: int, n_epochs: int, n_epochs_decay: int) -> float:
    """junyanz/pytorch-CycleGAN-and-pix2pix `lr_policy="linear"`, 0-based epoch."""
    return 1.0 - max(0, epoch + 1 - n_epochs) / float(n_epochs_decay + 1)


def _values(schedule, steps) -> np.ndarray:
    return np.array([float(schedule(step)) for step in steps])


def test_values_at_the_boundaries():
    schedule = LinearDecay(2e-4, constant_steps=6, decay_steps=3)
    steps = [0, 5, 6, 7, 8, 9, 10, 1000]
    expected = 2e-4 * np.array([1.0, 1.0, 3 / 4, 2 / 4, 1 / 4, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(_values(schedule, steps), expected, rtol=1e-6, atol=1e-12)


def test_tensor_steps_and_dtype():
    schedule = LinearDecay(1e-3, constant_steps=10, decay_steps=10)
    rate = tf.function(schedule)(tf.constant(14, tf.int64))
    assert rate.dtype == tf.float32
    assert float(rate) == pytest.approx(1e-3 * _reference_factor(14, 10, 10), rel=1e-6)
    # Exact at large step counts (float32 holds integers up to 2 ** 24).
    long = LinearDecay(1.0, constant_steps=5_000_000, decay_steps=5_000_000)
    assert float(long(tf.constant(7_500_000, tf.int64))) == pytest.approx(
        _reference_factor(7_500_000, 5_000_000, 5_000_000), abs=1e-6)


def test_one_step_per_epoch_is_the_reference_rule():
    n_epochs, n_epochs_decay = 100, 100
    schedule = LinearDecay(2e-4, constant_steps=n_epochs, decay_steps=n_epochs_decay)
    epochs = np.arange(n_epochs + n_epochs_decay)
    reference = 2e-4 * np.array([_reference_factor(e, n_epochs, n_epochs_decay) for e in epochs])
    np.testing.assert_allclose(_values(schedule, epochs), reference, rtol=1e-5)
    assert reference[-1] > 0 and float(schedule(n_epochs + n_epochs_decay)) == 0.0


def test_many_steps_per_epoch_stay_within_one_epoch_drop_of_the_reference():
    n_epochs, n_epochs_decay, steps_per_epoch = 4, 5, 7
    schedule = LinearDecay(1.0, n_epochs * steps_per_epoch, n_epochs_decay * steps_per_epoch)
    steps = np.arange((n_epochs + n_epochs_decay) * steps_per_epoch)
    values = _values(schedule, steps)
    reference = np.array([_reference_factor(s // steps_per_epoch, n_epochs, n_epochs_decay) for s in steps])
    assert np.all(values[: n_epochs * steps_per_epoch] == 1.0)
    assert np.abs(values - reference).max() <= 1.0 / n_epochs_decay
    assert np.all(np.diff(values) <= 0) and values[-1] > 0


def test_zero_decay_steps_drops_to_zero_after_the_constant_phase():
    schedule = LinearDecay(0.5, constant_steps=3, decay_steps=0)
    np.testing.assert_array_equal(_values(schedule, range(5)), [0.5, 0.5, 0.5, 0.0, 0.0])


def test_drives_a_keras_optimizer():
    schedule = LinearDecay(0.1, constant_steps=2, decay_steps=4)
    variable = keras.Variable(np.zeros(3, np.float32))
    optimizer = keras.optimizers.SGD(learning_rate=schedule)
    applied = []
    for _ in range(7):
        applied.append(float(optimizer.learning_rate))  # the rate the next update uses
        optimizer.apply_gradients([(tf.ones(3), variable)])
    np.testing.assert_allclose(applied, 0.1 * np.array([1, 1, 4 / 5, 3 / 5, 2 / 5, 1 / 5, 0]), rtol=1e-6)
    # SGD: the variable moved by minus the sum of the rates.
    np.testing.assert_allclose(variable.numpy(), -np.sum(applied) * np.ones(3), rtol=1e-5)


def test_serialisation_round_trip():
    schedule = LinearDecay(2e-4, constant_steps=100, decay_steps=50)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert isinstance(clone, LinearDecay) and clone.get_config() == schedule.get_config()
    optimizer = keras.optimizers.deserialize(keras.optimizers.serialize(keras.optimizers.Adam(schedule, 0.5)))
    assert float(optimizer.learning_rate) == pytest.approx(2e-4)
    assert optimizer.get_config()["learning_rate"]["config"] == schedule.get_config()


@pytest.mark.parametrize("args", [(0.0, 1, 1), (1e-3, -1, 1), (1e-3, 1, -2)])
def test_invalid_arguments(args):
    with pytest.raises(ValueError):
        LinearDecay(*args)
