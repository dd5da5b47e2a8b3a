"""The CLI side of the training loop: the `StepInfo` callback as a `tfstyle.cli.Progress` bar or log lines, and
`run_from_cli`, how every training command runs its trainer and exits:

    return run_from_cli(lambda callback: trainer.train(config, strategy=strategy, callback=callback),
                        postfix=lambda info: {"G": info.losses["generator"]})

The bar starts after the first step (which includes tracing), so its rate is the training rate.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from tfstyle.training.loop import CheckpointWriteFailed, StepInfo, TrainingDiverged, TrainResult

EXIT_DIVERGED = 3  # a loss became NaN/Inf; the last good checkpoint is kept


class StepProgress:
    """A `StepInfo` callback that drives a `tfstyle.cli.Progress` (tqdm on a TTY, log lines otherwise).

    Args:
        postfix: StepInfo -> {name: value} shown beside the count (step, epoch and images/s are
            always shown).
        description: the bar's label.
    """

    def __init__(self, postfix: Callable[[StepInfo], dict] | None = None, description: str = "train"):
        self._postfix = postfix
        self._description = description
        self.progress = None

    def __call__(self, info: StepInfo) -> None:
        if self.progress is None:  # from the second step on: the first one includes tracing
            from tfstyle import cli

            self.progress = cli.Progress(total=info.end_step - info.step, description=self._description,
                                         unit="step")
            return
        extra = self._postfix(info) if self._postfix else {}
        self.progress.update(1, step=info.step, epoch=info.epoch, **extra, img_s=info.images_per_second)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.close()

    def __enter__(self) -> StepProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def run_from_cli(train: Callable[[Callable[[StepInfo], None]], TrainResult],
                 postfix: Callable[[StepInfo], dict] | None = None) -> int:
    """Runs `train(callback)` with a progress bar and returns the command's exit code.

    0 when it completed, hit --max_steps or was stopped by SIGTERM after saving (a scheduler's polite stop);
    130 (`cli.EXIT_INTERRUPTED`) after SIGINT / Ctrl-C, saved too, so a chain of shell commands stops. A
    diverged run exits `EXIT_DIVERGED` (3) and a TensorFlow error mid-run (an image that fails to decode, say)
    1, each with one `error:` line (`cli.fail`).
    """
    import tensorflow as tf

    from tfstyle import cli

    progress = StepProgress(postfix)
    try:
        result = train(progress)
    except TrainingDiverged as error:
        cli.fail(str(error), EXIT_DIVERGED)
    except CheckpointWriteFailed as error:
        cli.fail(str(error), 1)
    except tf.errors.OpError as error:
        cli.fail(f"{type(error).__name__}: {error.message}", 1)
    finally:
        progress.close()
    logging.getLogger("tfstyle").info("step %d (epoch %d), %s; checkpoint %s", result.step, result.epoch,
                                      result.stopped, result.checkpoint)
    return cli.EXIT_INTERRUPTED if result.stopped == "SIGINT" else 0
