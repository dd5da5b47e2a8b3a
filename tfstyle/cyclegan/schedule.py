"""The reference's learning-rate schedules, per step: `LinearDecay` (CycleGAN's and pix2pix's default, constant
then linear decay to 0), `StepDecay` and `CosineAnnealing` (`--lr_policy step|cosine`); `from_config` picks one.

Zhu et al. 2017 (implementation details): "keep the same learning rate for the first 100 epochs and
linearly decay the rate to zero over the next 100 epochs". The reference
(junyanz/pytorch-CycleGAN-and-pix2pix, `models/networks.py`, `lr_policy="linear"`) multiplies
the learning rate, for the 0-based epoch e, by

    lambda(e) = 1 - max(0, e + 1 - n_epochs) / (n_epochs_decay + 1),

so e < n_epochs runs at the full rate and the decay epochs run at n_d / (n_d + 1), ...,
1 / (n_d + 1) (0 is reached after the last epoch).

Deviation: this schedule applies the same rule per optimiser step instead of per epoch,

    lr(s) = initial_learning_rate * max(0, 1 - max(0, s + 1 - constant_steps) / (decay_steps + 1)),

with s the 0-based step (`optimizer.iterations` before the update), constant_steps =
n_epochs * steps_per_epoch and decay_steps = n_epochs_decay * steps_per_epoch. The rate is
the full rate for steps 0 .. constant_steps - 1, then falls by a constant amount every step
(rather than every epoch) to initial_learning_rate / (decay_steps + 1) at the last step,
constant_steps + decay_steps - 1, and is 0 from constant_steps + decay_steps on. With one step
per epoch it is the reference's rule exactly; with more, it lies within one epoch's drop,
initial_learning_rate / n_epochs_decay, of it. A step-based rate also lets a run stop and
resume mid-epoch at the exact rate: it depends only on the checkpointed step counter.
"""

from __future__ import annotations

import math

import keras


@keras.saving.register_keras_serializable(package="tfstyle")
class LinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Learning rate constant for `constant_steps` steps, then linearly decayed to 0 over `decay_steps`.

    See the module docstring for the formula and how it relates to the reference's per-epoch
    rule.

    Args:
        initial_learning_rate: the constant rate (2e-4 in the paper), > 0.
        constant_steps: steps at the full rate (epochs * steps_per_epoch), >= 0.
        decay_steps: steps of linear decay (decay_epochs * steps_per_epoch), >= 0; 0 drops the
            rate to 0 right after the constant phase.

    Raises:
        ValueError: a negative step count or a non-positive rate.
    """

    def __init__(self, initial_learning_rate: float, constant_steps: int, decay_steps: int):
        if not initial_learning_rate > 0:
            raise ValueError(f"initial_learning_rate must be > 0, got {initial_learning_rate}")
        if constant_steps < 0 or decay_steps < 0:
            raise ValueError(
                f"constant_steps and decay_steps must be >= 0, got {constant_steps} and {decay_steps}"
            )
        self.initial_learning_rate = float(initial_learning_rate)
        self.constant_steps = int(constant_steps)
        self.decay_steps = int(decay_steps)

    def __call__(self, step):
        """The rate at the 0-based `step` (int or float scalar, tensor or not): float32 scalar."""
        # float32 (exact to 2 ** 24 steps; TPUs have no float64), like Keras's own schedules.
        step = keras.ops.cast(step, "float32")
        decayed = keras.ops.maximum(0.0, step + 1.0 - self.constant_steps) / (self.decay_steps + 1.0)
        factor = keras.ops.maximum(0.0, 1.0 - decayed)
        return self.initial_learning_rate * factor

    def get_config(self) -> dict:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "constant_steps": self.constant_steps,
            "decay_steps": self.decay_steps,
        }


@keras.saving.register_keras_serializable(package="tfstyle")
class StepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """The reference's `--lr_policy step` (`StepLR(step_size=lr_decay_iters, gamma=0.1)`, stepped per epoch),
    per optimiser step: lr(s) = initial_learning_rate * 0.1 ** floor(s / every_steps), every_steps =
    lr_decay_iters * steps_per_epoch. Equal to the reference's rule at every step.

    Raises:
        ValueError: every_steps < 1 or a non-positive rate.
    """

    def __init__(self, initial_learning_rate: float, every_steps: int):
        if not initial_learning_rate > 0 or every_steps < 1:
            raise ValueError(f"need a rate > 0 and every_steps >= 1, got {initial_learning_rate}, {every_steps}")
        self.initial_learning_rate = float(initial_learning_rate)
        self.every_steps = int(every_steps)

    def __call__(self, step):
        drops = keras.ops.floor(keras.ops.cast(step, "float32") / self.every_steps)
        return self.initial_learning_rate * keras.ops.power(0.1, drops)

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate, "every_steps": self.every_steps}


@keras.saving.register_keras_serializable(package="tfstyle")
class CosineAnnealing(keras.optimizers.schedules.LearningRateSchedule):
    """The reference's `--lr_policy cosine` (`CosineAnnealingLR(T_max=n_epochs, eta_min=0)`), per step:

        lr(s) = initial_learning_rate * (1 + cos(pi * s / period_steps)) / 2,   period_steps = n_epochs * steps

    0 at s = period_steps and, as PyTorch's closed form, rising again after it (a run of n_epochs +
    n_epochs_decay epochs spends its decay epochs on the way back up, as the reference's does). The reference
    steps it per epoch; per step it lies within one epoch's change of that.

    Raises:
        ValueError: period_steps < 1 or a non-positive rate.
    """

    def __init__(self, initial_learning_rate: float, period_steps: int):
        if not initial_learning_rate > 0 or period_steps < 1:
            raise ValueError(f"need a rate > 0 and period_steps >= 1, got {initial_learning_rate}, {period_steps}")
        self.initial_learning_rate = float(initial_learning_rate)
        self.period_steps = int(period_steps)

    def __call__(self, step):
        phase = keras.ops.cast(step, "float32") / self.period_steps
        return self.initial_learning_rate * 0.5 * (1.0 + keras.ops.cos(math.pi * phase))

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate, "period_steps": self.period_steps}


def from_config(config, steps_per_epoch: int) -> keras.optimizers.schedules.LearningRateSchedule:
    """The schedule of a CycleGAN or pix2pix config's `lr_policy` ("linear", "step", "cosine")."""
    rate = config.learning_rate
    if config.lr_policy == "step":
        return StepDecay(rate, config.lr_decay_iters * steps_per_epoch)
    if config.lr_policy == "cosine":
        return CosineAnnealing(rate, max(1, config.epochs * steps_per_epoch))
    return LinearDecay(rate, constant_steps=config.epochs * steps_per_epoch,
                       decay_steps=config.decay_epochs * steps_per_epoch)
