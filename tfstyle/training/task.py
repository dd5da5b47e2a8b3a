"""What a trainer is, as the training core (`tfstyle.training.loop`) sees it.

A trainer is a `Task`: its models, its optimisers, any extra state to checkpoint, a per-replica
step and its input pipeline, all described by its frozen config dataclass. The core owns
everything else (strategy scope, run folder, checkpoints, exact resume, signals, preemption,
the NaN stop, TensorBoard, progress), so a task never touches a checkpoint, a signal or a
summary writer. The shape follows tensorflow/models `core/base_task.py`: the task owns model,
inputs, losses and step; the trainer owns the loop.

Order of calls made by `loop.train` (and by `loop.build` for benchmarks):

1. `task.input_pipeline()` -> an `InputPipeline` (reads the data: bad input fails before
   anything is written);
2. `task.total_steps(steps_per_epoch)`: where the schedule ends;
3. inside `strategy.scope()` and the config's dtype policy: `task.build(steps_per_epoch, rng)`
   -> `TaskState`; the core builds every optimiser's slots before restoring a checkpoint;
4. `task.make_replica_step(state)` -> `replica_step(batch) -> {name: scalar}`, run on every
   replica by one `tf.function` around `strategy.run`; each value must already be divided by the
   GLOBAL batch (`average_loss`), so the core sums them over replicas;
5. `task.make_image_summaries(state)` -> `images(batch) -> {tag: float32 [N, H, W, 3] in [0, 1]}`
   or None, called on the chief every `image_every_steps` with the first batch of epoch 0.

The config (a frozen dataclass) must have these fields, read by the core: `model_dir`, `seed`,
`batch_size` (global), `max_steps` (None or a global step), `keep_checkpoints`,
`checkpoint_every_steps`, `log_every_steps`, `image_every_steps`, `jit`, `mixed_precision`
(`distribute.PRECISIONS`), `strategy` (`distribute.STRATEGIES`, used when `train` is given no
strategy), and a `validate()` method raising ValueError. Its class attributes
`INCOMPATIBLE_ON_RESUME` (fields that fix the shape of the saved state or the meaning of the step
counter: resuming with another value is refused) and `FREE_ON_RESUME` (fields that may change
silently) drive the resume check; any other differing field is resumed with a warning.

Learning rates: give optimisers a `LearningRateSchedule` (or another callable) built from the
config. A float rate becomes a variable the optimiser checkpoints, so a resumed run would keep the
saved rate whatever the config says.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import keras
import tensorflow as tf

# Key a replica step may return: 1.0 when its gradients held a NaN/Inf, else 0.0 (see `nonfinite_flag`).
NONFINITE_GRADIENTS = "nonfinite_gradients"

Batch = Any  # a nest of tensors, as the task's dataset yields it (per replica inside the step)


class InputPipeline(Protocol):
    """A task's data, seen by the core as steps per epoch and a dataset per (epoch, position).

    `dataset(epoch, skip_batches)` must yield global batches (`config.batch_size` examples, a
    remainder dropped) of `epoch`, without its first `skip_batches` batches, as a pure function of
    (config.seed, epoch, skip_batches): that is what makes a mid-epoch resume exact.
    """

    steps_per_epoch: int

    def dataset(self, epoch: int, skip_batches: int = 0) -> tf.data.Dataset: ...


@dataclasses.dataclass
class TaskState:
    """Everything of a task that a checkpoint holds, besides the core's own step counter and RNG.

    Attributes:
        models: name -> model (checkpoint key = name; readers restore single models by it).
        optimizers: name -> optimiser (checkpoint key = name).
        trainable: optimiser name -> the variables it updates; the core builds the optimiser's
            slots for them before a restore (a lazily built optimiser would silently drop its saved
            moments).
        extra: name -> any other checkpointable state (tf.Module, tf.Variable), e.g. image pools.
        learning_rate: step -> learning rate used by the update that took the counter from
            `step` to `step + 1` (reported in StepInfo and TensorBoard); default: the first
            optimiser's learning rate (schedule evaluated at `step`).
    """

    models: dict[str, keras.Model]
    optimizers: dict[str, keras.optimizers.Optimizer]
    trainable: dict[str, Sequence[tf.Variable]]
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    learning_rate: Callable[[int], float] | None = None

    def __post_init__(self):
        if set(self.optimizers) != set(self.trainable):
            raise ValueError(f"optimizers {sorted(self.optimizers)} and trainable {sorted(self.trainable)} "
                             "must name the same optimisers")
        names = [*self.models, *self.optimizers, *self.extra]
        clashes = sorted({n for n in names if names.count(n) > 1} | ({"step", "rng"} & set(names)))
        if clashes:
            raise ValueError(f"checkpoint keys used twice or reserved by the core: {', '.join(clashes)}")

    def checkpointed(self) -> dict[str, Any]:
        """name -> object, the task's part of the `tf.train.Checkpoint`."""
        return {**self.models, **self.optimizers, **self.extra}

    def learning_rate_at(self, step: int) -> float:
        if self.learning_rate is not None:
            return float(self.learning_rate(step))
        optimizer = next(iter(self.optimizers.values()))
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer
        rate = optimizer._learning_rate  # noqa: SLF001 - the schedule or value given to the constructor
        if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
            return float(rate(step))
        return float(keras.ops.convert_to_numpy(rate))


class Task(abc.ABC):
    """Base class of a trainer: subclass it, set `name`, implement the abstract methods.

    Args:
        config: the task's frozen config dataclass (see the module docstring for what the core
            reads from it).
    """

    name: str = ""  # written as config.json's "task" key; a run folder of another task is refused

    def __init__(self, config):
        self.config = config

    @abc.abstractmethod
    def input_pipeline(self) -> InputPipeline:
        """Reads (or checks) the data and returns the pipeline; raises ValueError/FileNotFoundError naming bad input."""

    @abc.abstractmethod
    def total_steps(self, steps_per_epoch: int) -> int:
        """The global step at which the schedule ends (training stops there or at `max_steps`)."""

    @abc.abstractmethod
    def build(self, steps_per_epoch: int, rng: tf.random.Generator) -> TaskState:
        """Creates models, optimisers and extra state (called inside `strategy.scope()` and the dtype policy).

        Args:
            steps_per_epoch: for schedules measured in epochs.
            rng: the run's checkpointed generator (seeded from `config.seed`); draw every random
                number of the step from it (or from stateless ops), never from hidden state.
        """

    @abc.abstractmethod
    def make_replica_step(self, state: TaskState) -> Callable[[Batch], dict[str, tf.Tensor]]:
        """Returns the per-replica step: one update on this replica's share of the global batch.

        The returned dict maps each loss term to a float32 scalar already divided by the global
        batch (`self.average_loss`); it may add `NONFINITE_GRADIENTS` (`nonfinite_flag`).
        """

    def make_image_summaries(self, state: TaskState) -> Callable[[Batch], dict[str, tf.Tensor]] | None:
        """Optional: batch -> {tag: float32 [N, H, W, 3] in [0, 1]} image grids for TensorBoard."""
        return None

    def average_loss(self, per_example: tf.Tensor) -> tf.Tensor:
        """float32 [B_replica] per-example loss -> scalar, summed and divided by the GLOBAL batch."""
        return average_loss(per_example, self.config.batch_size)


def average_loss(per_example: tf.Tensor, global_batch_size: int) -> tf.Tensor:
    """Sum of `per_example` ([B_replica], float) divided by `global_batch_size`, as float32.

    Summed over the replicas of a strategy this is the mean over the global batch, so gradients
    summed over replicas equal the single-device gradients (`tf.nn.compute_average_loss`).
    """
    return tf.nn.compute_average_loss(tf.cast(per_example, tf.float32), global_batch_size=global_batch_size)


class DropoutState(tf.Module):
    """The random state of every Dropout layer of some models, as checkpointable extra state.

    Keras' `Dropout` draws its masks from a `SeedGenerator` whose state variable is not one of the model's
    weights; put this in `TaskState.extra` (when `has_dropout`) so a resumed run draws the masks it would have
    drawn had it not stopped.
    """

    def __init__(self, *models: keras.Model):
        super().__init__(name="dropout_state")
        self.states = [layer.seed_generator.state for model in models for layer in model.layers
                       if isinstance(layer, keras.layers.Dropout)]

    @property
    def has_dropout(self) -> bool:
        return bool(self.states)


def nonfinite_flag(gradients: Sequence[tf.Tensor | None]) -> tf.Tensor:
    """float32 scalar: 1.0 when any gradient holds a NaN/Inf, else 0.0 (return it as `NONFINITE_GRADIENTS`).

    Skip it under fp16 loss scaling: LossScaleOptimizer drops non-finite gradients by design.
    """
    finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in gradients if g is not None])
    return 1.0 - tf.cast(finite, tf.float32)
