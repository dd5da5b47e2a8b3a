"""The CLI side of the training loop's `StepInfo` callback: a `tfstyle.cli.Progress` bar or log lines.

Every training CLI reports the same way:

    with StepProgress(lambda info: {"G": info.losses["generator"]}) as progress:
        result = trainer.train(config, strategy=strategy, callback=progress)

The bar starts after the first step (which includes tracing), so its rate is the training rate.
"""

from __future__ import annotations

from collections.abc import Callable

from tfstyle.training.loop import StepInfo


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
