"""The per-frame engines of `python -m tfstyle.video`: each maps a uint8 [H, W, 3] frame to a uint8 frame of
the same size, through the library's own inference code (no second implementation):

* `fast`: a per-style network (`tfstyle.fast.inference.load_model`, the bundled one without a folder);
* `adain`: an arbitrary-style network with `--style` paintings and `--alpha` (same loader);
* `cyclegan`: one generator of a CycleGAN run (`tfstyle.cyclegan.inference.load_generator`, `--direction`).

The optimisation engine (Gatys et al. with Ruder et al.'s temporal loss) is not here yet (issue 11).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

ENGINES = ("fast", "adain", "cyclegan")

Engine = Callable[[np.ndarray], np.ndarray]


def fast_engine(model_dir: str | None = None, styles: Sequence[np.ndarray] = (), alpha: float = 1.0,
                blend: Sequence[float] | None = None, preserve_colors: str = "none", precision: str = "auto") -> Engine:
    """A feed-forward network as an engine: per-style (no `styles`) or arbitrary-style (`styles`, `alpha`), in
    `precision` (`tfstyle.fast.inference.resolve_precision`)."""
    from tfstyle.fast import inference

    model = inference.load_model(model_dir, precision=precision)
    inference.check_preserve_colors(preserve_colors)
    # The paintings' statistics are read once here (refusing bad styles or alpha before the first frame), not
    # per frame: every frame runs the same network through one traced translator.
    translator = model.translator(model.stylizer(styles, blend, alpha))

    def run(frame: np.ndarray) -> np.ndarray:
        return inference.preserve_colors_of(translator([frame])[0], frame, preserve_colors)

    return run


def cyclegan_engine(model_dir: str, direction: str = "a2b") -> Engine:
    """One generator of a CycleGAN run as an engine."""
    from tfstyle import inference as image_inference
    from tfstyle.cyclegan import inference

    generator, _ = inference.load_generator(model_dir, direction)
    translator = image_inference.Translator(generator)
    return lambda frame: translator([frame])[0]
