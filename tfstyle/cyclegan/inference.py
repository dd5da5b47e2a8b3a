"""Load a trained CycleGAN generator from its model_dir and translate full-size images with it.

`load_generator(model_dir, "a2b")` rebuilds G (A -> B, paper: G: X -> Y) or F (B -> A, paper:
F: Y -> X) from `<model_dir>/config.json` with the trainer's builder and restores only that
generator from the newest readable checkpoint, both found by `tfstyle.training.rundir.RunDir`
(the one owner of the run-folder layout, which the trainer uses too).

`translate_images(generator, images)` runs it on uint8 images of any size: each batch is
reflect-padded to the generator's `models.SIZE_MULTIPLE` (4), translated and cropped back by
`tfstyle.export.translate_uint8`, the same graph function the exported SavedModel serves, so
`translate` and TF Serving agree pixel for pixel. Images of the same size are batched together;
batches are split over all replicas of the strategy (the CLI uses
`tfstyle.distribute.make_strategy("auto")`: every local GPU).
"""

from __future__ import annotations

import logging
import os

import keras
import tensorflow as tf

from tfstyle import export, geometry
from tfstyle.cyclegan import config as config_lib
from tfstyle.cyclegan import models

# Running a generator on images of any size is shared with the style networks (`tfstyle.inference`).
from tfstyle.inference import TranslateProgress, Translator, translate_images  # noqa: F401
from tfstyle.pix2pix import config as pix2pix_config
from tfstyle.training import rundir

logger = logging.getLogger(__name__)

# --direction -> the tf.train.Checkpoint attribute the trainer saves that generator under.
DIRECTIONS = {"a2b": "generator_ab", "b2a": "generator_ba"}


def _check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"--direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")


def restore_generator(generator: keras.Model, model_dir: str | os.PathLike, direction: str = "a2b") -> str:
    """Restores `generator`'s weights from the newest readable checkpoint of `model_dir`.

    The checkpoint is found by `RunDir` (the state file and the `ckpt-*.index` files, so a lost
    state file hides nothing); only the one generator is read (`expect_partial`), and an
    unreadable newest checkpoint (truncated by a crash, say) is skipped with a warning in favour
    of the previous one.

    Returns:
        The checkpoint prefix that was restored, e.g. `<model_dir>/checkpoints/ckpt-12`.

    Raises:
        FileNotFoundError: the model_dir has no checkpoint.
        ValueError: unknown direction, or no checkpoint holds weights matching `generator`.
    """
    _check_direction(direction)
    run_dir = rundir.RunDir(model_dir)
    attribute = DIRECTIONS[direction]
    path = run_dir.restore_required(tf.train.Checkpoint(**{attribute: generator}), partial=True,
                                    hint=_train_first(model_dir))
    logger.info("restored %s (%s) from %s", attribute, generator.name, path)
    return path


def _train_first(model_dir: str | os.PathLike) -> str:
    return f"train first with python -m tfstyle.cyclegan.train --model_dir {os.fspath(model_dir)} ..."


def load_run_config(run_dir: rundir.RunDir, direction: str = "a2b") -> config_lib.TrainConfig:
    """The config of a CycleGAN or pix2pix run folder (`Pix2PixConfig` is a `TrainConfig`); a pix2pix run
    has one generator, "a2b" (x -> y).

    Raises:
        FileNotFoundError: no config.json.
        ValueError: a run of another trainer, a bad config, or "b2a" of a pix2pix run.
    """
    if run_dir.task() == pix2pix_config.TASK:
        if direction != "a2b":
            raise ValueError(f"{run_dir.path} is a pix2pix run: it has one generator, --direction a2b (input -> "
                             "target)")
        return run_dir.load_config(pix2pix_config.Pix2PixConfig, task=pix2pix_config.TASK)
    return run_dir.load_config(config_lib.TrainConfig, task=config_lib.TASK)


def size_rule(config: config_lib.TrainConfig) -> tuple[int, int]:
    """(multiple, min_size) px of a run's generator (`geometry.generator_rule`): 4 and 8 for a ResNet
    generator, 256 and 129 for unet_256."""
    return geometry.generator_rule(config.generator)


def translator_for(generator: keras.Model, config: config_lib.TrainConfig,
                   strategy: tf.distribute.Strategy | None = None) -> Translator:
    """A `Translator` running `generator` (from `load_generator`) with its run's size rule."""
    multiple, min_size = size_rule(config)
    return Translator(generator, strategy, multiple=multiple, min_size=min_size)


def load_generator(
    model_dir: str | os.PathLike, direction: str = "a2b", strategy: tf.distribute.Strategy | None = None
) -> tuple[keras.Model, config_lib.TrainConfig]:
    """Rebuilds one trained generator from `model_dir` (config.json + latest checkpoint).

    Args:
        model_dir: a CycleGAN or pix2pix run folder (`config.json`, `checkpoints/`).
        direction: "a2b" for G: A -> B (`generator_ab`), "b2a" for F: B -> A (`generator_ba`; CycleGAN only).
        strategy: the model's variables are created in its scope (default: the current strategy).

    Returns:
        (generator, config): the generator maps float32 [B, H, W, 3] in [-1, 1] (H, W multiples of
        `size_rule(config)`'s) to float32 [B, H, W, 3] in [-1, 1]; built in float32 whatever the run's mixed
        precision; batch norm (pix2pix) uses its running statistics and dropout is off (`training=False`).

    Raises:
        FileNotFoundError: no such model_dir, no config.json, or no checkpoint.
        ValueError: bad direction or config, or checkpoints that do not match the config.
    """
    _check_direction(direction)
    run_dir = rundir.RunDir(model_dir)
    run_dir.check_exists()
    config = load_run_config(run_dir, direction)
    run_dir.check_has_checkpoint(_train_first(model_dir))  # before building the generator: fail at once
    _check_holds(run_dir, direction)
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        generator = models.generator_from_config(config, DIRECTIONS[direction])
        restore_generator(generator, model_dir, direction)
    return generator, config


def _check_holds(run_dir: rundir.RunDir, direction: str) -> None:
    """ValueError when the newest checkpoint has no weights for `direction`'s generator (a run imported from one
    torch file holds only generator_ab)."""
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    attribute = DIRECTIONS[direction]
    try:
        reader = tf.train.load_checkpoint(run_dir.checkpoints()[0])
        graph = trackable_object_graph_pb2.TrackableObjectGraph.FromString(
            reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    except Exception:  # noqa: BLE001 - OpError, IndexError ("Read less bytes"): `restore_generator` falls back
        return
    if attribute not in {child.local_name for child in graph.nodes[0].children}:  # the root's attributes
        raise ValueError(f"{run_dir.path} has no {direction} generator ({attribute}) in its newest checkpoint "
                         "(a run imported from one torch file: import it again with --b2a)")


def export_generator(generator: keras.Model, export_dir: str | os.PathLike, version: int | None = None, *,
                     format: str = "savedmodel", float16: bool = False,
                     rule: tuple[int, int] = (geometry.SIZE_MULTIPLE, geometry.MIN_SIZE)) -> str:
    """`tfstyle.export.export_model` for a CycleGAN or pix2pix generator ([-1, 1] in and out): the export pads
    to the generator's multiple and the SavedModel refuses sides below its minimum (`rule`, from `size_rule`).

    `format` is "savedmodel", "litert" or "onnx"; `float16` (litert only) stores the weights in float16.
    Returns the written version folder (savedmodel) or model file (litert, onnx).
    """
    multiple, min_size = rule
    return export.export_model(generator, export_dir, format, version, multiple=multiple,
                               min_size=min_size, value_range="signed", float16=float16)
