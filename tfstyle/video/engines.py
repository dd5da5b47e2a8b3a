"""The per-frame engines of `python -m tfstyle.video`: each maps a uint8 [H, W, 3] frame to a uint8 frame of
the same size, through the library's own inference code (no second implementation):

* `fast`: a per-style network (`tfstyle.fast.inference.load_model`, the bundled one without a folder);
* `adain`: an arbitrary-style network with `--style` paintings and `--alpha` (same loader);
* `cyclegan`: one generator of a CycleGAN run (`tfstyle.cyclegan.inference.load_generator`, `--direction`);
* `optimize`: Gatys et al.'s optimisation (`tfstyle.optimize.transfer.Stylizer`) with Ruder et al.'s temporal
  loss, `OptimizeEngine`: it owns its temporal consistency, the others get `temporal.TemporalBlender`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

ENGINES = ("fast", "adain", "cyclegan", "optimize")

Engine = Callable[[np.ndarray], np.ndarray]

# The optimisation engine's defaults (see OptimizeEngine). experiments/study_video_optimize.py (8 frames of the
# 128 px pan, 2-core AMD EPYC, 2026-12-06): the warped start does most of the work (warping error 0.17x frame by
# frame at lambda 1e4, 0.16x at 1e6, 0.15x at 1e7, style loss 2 % lower at each); 50 iterations a frame
# against 200 for the first.
TEMPORAL_WEIGHT = 1e6
FRAME_ITERATIONS = 50

# Px of reflected photo the network engines paint around each frame and crop off. A network paints the last
# one or two px at an image's border unlike the same content further in (its convolutions see padding there:
# 74-137 levels of 255 mean difference at the outermost two columns against 11-30 further in, the bundled
# network on 240 x 160 crops of the astronaut); frame by frame that border flickers as the camera moves, and a
# temporal carry would drag it inwards as the content moves away from the edge. Painted with this context the
# frame's own border is painted like the inside (experiments/study_temporal_carry.py).
CONTEXT = 16


def in_context(translate: Callable[[np.ndarray], np.ndarray], context: int = CONTEXT) -> Engine:
    """`translate` (uint8 [H, W, 3] -> uint8 [H, W, 3]) run on each frame reflect-padded by `context` px on every
    side (at most the frame's side - 1) and cropped back to the frame."""

    def run(frame: np.ndarray) -> np.ndarray:
        pad = min(context, frame.shape[0] - 1, frame.shape[1] - 1)
        if pad <= 0:
            return translate(frame)
        padded = np.pad(frame, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
        return np.ascontiguousarray(translate(padded)[pad:-pad, pad:-pad])

    return run


def fast_engine(model_dir: str | None = None, styles: Sequence[np.ndarray] = (), alpha: float = 1.0,
                blend: Sequence[float] | None = None, preserve_colors: str = "none", precision: str = "auto",
                context: int = CONTEXT) -> Engine:
    """A feed-forward network as an engine: per-style (no `styles`) or arbitrary-style (`styles`, `alpha`), in
    `precision` (`tfstyle.fast.inference.resolve_precision`), painting each frame in `context` px of reflected
    photo (`in_context`; 0: the bare frame)."""
    from tfstyle.fast import inference

    model = inference.load_model(model_dir, precision=precision)
    inference.check_preserve_colors(preserve_colors)
    # The paintings' statistics are read once here (refusing bad styles or alpha before the first frame), not
    # per frame: every frame runs the same network through one traced translator.
    translator = model.translator(model.stylizer(styles, blend, alpha))

    painted = in_context(lambda frame: translator([frame])[0], context)
    return lambda frame: inference.preserve_colors_of(painted(frame), frame, preserve_colors)


def cyclegan_engine(model_dir: str, direction: str = "a2b", context: int = CONTEXT) -> Engine:
    """One generator of a CycleGAN run as an engine, painting each frame in `context` px of reflected photo."""
    from tfstyle.cyclegan import inference

    generator, config = inference.load_generator(model_dir, direction)
    translator = inference.translator_for(generator, config)
    return in_context(lambda frame: translator([frame])[0], context)


def check_temporal_settings(temporal_weight: float, frame_iterations: int) -> None:
    """Raises ValueError naming the flag when the optimisation engine's temporal settings are out of range."""
    if frame_iterations < 1:
        raise ValueError(f"--frame_iterations must be at least 1, got {frame_iterations}")
    if temporal_weight < 0:
        raise ValueError(f"--temporal_weight must be >= 0, got {temporal_weight}")


class OptimizeEngine:
    """Video by optimisation (Ruder, Dosovitskiy & Brox 2016, "Artistic style transfer for videos").

    Frame 0 runs the full schedule of `tfstyle.optimize` (coarse to fine, `config.iterations`). With `temporal`,
    every later frame t starts from the previous output carried by the flow, w = warp(o_{t-1}, flow(x_t ->
    x_{t-1})), and runs `frame_iterations` at the working size on

        L(x) = L_gatys(x) + lambda * (1 / D) sum_k c_k (x_k - w_k)^2

    with c = `temporal.reliable_flow`'s mask (the forward-backward check of Ruder et al. eq. 6, plus a
    photometric check), lambda = `temporal_weight`. Without `temporal` every frame runs the full schedule from
    its own photo (frame by frame).

    Frames are optimised at `config.image_size` on the long side (default: the frame's, at most the machine
    default of `OptimizeConfig.resolved`) and scaled back to the frame's size.

    Args:
        styles: the paintings, float32 [H, W, 3] in [0, 1].
        config: the optimisation settings (`OptimizeConfig`; `None` fields filled for the machine).
        frame_size: (height, width) of the clip's frames in px.
        temporal: use the temporal loss and the warped start.
        temporal_weight: lambda, in squared [0, 1] pixel units against the content loss's weight.
        frame_iterations: solver iterations of each frame after the first.
        chunk_size: iterations per compiled call.
    """

    def __init__(self, styles: Sequence[np.ndarray], config, frame_size: tuple[int, int], temporal: bool = True,
                 temporal_weight: float = TEMPORAL_WEIGHT, frame_iterations: int = FRAME_ITERATIONS,
                 chunk_size: int = 10):
        from tfstyle import distribute, images
        from tfstyle.optimize import multiscale, transfer

        check_temporal_settings(temporal_weight, frame_iterations)
        height, width = frame_size
        if config.image_size is None:
            machine_default = config.resolved().image_size
            config = dataclasses.replace(config, image_size=min(max(height, width), machine_default))
        config, strategy = transfer.resolve(config, len(styles))
        transfer.check_content_size(height, width, config, "the video's frames")
        self.size = images.scaled_size(height, width, config.image_size)
        multiscale.check_fits(*self.size, 1, distribute.has_gpu())
        self.frame_size = (height, width)
        self.config = config
        self.temporal = temporal
        self.frame_iterations = frame_iterations
        self.chunk_size = chunk_size
        style_masks, preserve_mask = transfer.load_masks(config, self.size)
        self.stylizer = transfer.Stylizer(styles, config, strategy, temporal_weight=temporal_weight,
                                          style_masks=style_masks, preserve_mask=preserve_mask)
        self._previous: tuple[np.ndarray, np.ndarray] | None = None  # (input uint8, output float32) working size

    def _working(self, frame: np.ndarray) -> np.ndarray:
        from tfstyle import images

        if frame.shape[:2] == self.size:
            return frame
        return np.asarray(images.to_uint8(images.resize(images.to_float(frame), self.size)))

    def reset(self, previous_input: np.ndarray | None = None, previous_output: np.ndarray | None = None) -> None:
        """Starts over (a new clip), or from a finished previous frame (uint8 [H, W, 3], a resumed run)."""
        from tfstyle import images

        if previous_input is None:
            self._previous = None
            return
        output = np.asarray(images.to_float(self._working(previous_output)))
        self._previous = (self._working(previous_input), np.asarray(self.stylizer.prepare_content(output)))

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """uint8 [H, W, 3] frame -> uint8 [H, W, 3] painting of it."""
        from tfstyle import images
        from tfstyle.video import flow as flow_lib
        from tfstyle.video import temporal

        small = self._working(frame)
        content = np.asarray(images.to_float(small))[None]
        if not self.temporal or self._previous is None:
            result = self.stylizer.optimize_batch(content, None, self.chunk_size)
        else:
            previous_input, previous_output = self._previous
            forward, reliable = temporal.reliable_flow(small, previous_input)
            warped = np.clip(flow_lib.warp(previous_output, forward), 0.0, 1.0)[None]
            # Where nothing can be carried (content that entered or was uncovered) the warp holds the previous
            # painting's border or an occluder stretched over it: those pixels start as frame 0 did.
            carried = reliable[None, ..., None]
            start = carried * warped + (1.0 - carried) * self.stylizer.initial_images(content)
            # Under --strength a frame keeps the weight the first frame's controller settled on: one look per clip.
            stage = self.stylizer.begin_stage(content, max(self.size), start, temporal=(warped, carried),
                                              style_weight=self.stylizer.last_style_weight
                                              if self.stylizer.config.strength is not None else None)
            done = 0
            while done < self.frame_iterations:
                count = min(self.chunk_size, self.frame_iterations - done)
                stage.run(count)
                done += count
            result = self.stylizer.finish(stage.output(), content)
        self._previous = (small, np.asarray(self.stylizer.prepare_content(result[0])))
        output = images.to_uint8(result[0])
        if self.size != self.frame_size:
            output = images.to_uint8(images.resize(images.to_float(output), self.frame_size))
        return np.asarray(output)
