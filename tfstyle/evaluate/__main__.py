"""Evaluate style-transfer results or CycleGAN translations; prints a table, --json writes the numbers.

usage:
  python -m tfstyle.evaluate style --output O[,O2|DIR] --content C --style S[,S2] [--blend 0.7,0.3]
      [--pooling max|avg] [--json J]
  python -m tfstyle.evaluate translation --generated DIR --target DIR [--features vgg|inception] [--json J]
  python -m tfstyle.evaluate video --output OUT.mp4 --input IN.mp4 [--style S] [--baseline FBF.mp4]
      [--frame_step N] [--json J]

style: content loss (VGG19 block4_conv2) and style loss (block1_conv1..block5_conv1, equal weights)
  of each output against its content and style images, under a fixed evaluator (ImageNet VGG19,
  max pooling unless --pooling=avg, every output resized to --long_side=512 px), so runs with different settings can
  be compared. With a folder of contents, each output is matched to the content of the same name.
  Lower is closer.

translation: KID (mean +- std over subsets) and FID between the translated images and the real
  target-domain images. --features=vgg (default, offline) uses global-average-pooled VGG19
  block5_conv4 features and reports KID-VGG / FID-VGG; --features=inception uses Keras'
  InceptionV3 ImageNet weights (downloaded once, or --inception_weights=FILE). Every image is
  resized to 224 px (VGG) / 299 px (Inception) square. Lower is closer. Same inputs, same numbers.

video: the warping error (Lai et al. 2018) of the stylised clip --output against the flow of its --input clip
  (lower: less flicker), and with --style the style evaluator's content and style loss of the frames: their mean
  and the worst frame's. With --baseline (the same input painted frame by frame, --temporal none) each frame's
  losses are also divided by the baseline's same frame: the worst ratio shows a carry that smears old paint over
  new content, which the warping error rewards.
"""

from __future__ import annotations

import json
import logging
import os
import sys

from absl import flags

from tfstyle import cli, files
from tfstyle.evaluate.config import MODES, EvaluateConfig

logger = logging.getLogger("tfstyle.evaluate")
FLAGS = flags.FLAGS

_USAGE = ("usage: python -m tfstyle.evaluate style --output O --content C --style S [--json J] | "
          "python -m tfstyle.evaluate translation --generated DIR --target DIR [--features vgg|inception] | "
          "python -m tfstyle.evaluate video --output OUT --input IN [--style S] (see --help)")
_MODE_FLAGS = {
    "style": ("output", "content", "style", "blend", "long_side", "pooling"),
    "translation": ("generated", "target", "features", "inception_weights", "image_size", "max_images",
                    "kid_subsets", "kid_subset_size", "seed"),
    "video": ("output", "input", "style", "blend", "long_side", "pooling", "frame_step", "baseline"),
}


def _check_mode_flags(mode: str) -> None:
    """A flag of another mode is a mistake (e.g. --generated with `style`): say so."""
    foreign = {name for flags_ in _MODE_FLAGS.values() for name in flags_} - set(_MODE_FLAGS[mode])
    given = [f"--{name}" for name in sorted(foreign) if FLAGS[name].present]
    if given:
        raise cli.UserError(f"{', '.join(given)} not used by `{mode}` (see --help)")


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def _expand(paths: tuple[str, ...]) -> list[str]:
    """Files as given, folders replaced by their images (sorted)."""
    from tfstyle import images

    expanded = []
    for path in paths:
        expanded += images.list_images(path) if os.path.isdir(path) else [path]
    return expanded


def _pair_contents(outputs: list[str], content: str) -> list[str]:
    """The content image of each output: the one file, or the file of the same name in a folder."""
    from tfstyle import images

    if not os.path.isdir(content):
        return [content] * len(outputs)
    by_stem = {_stem(path): path for path in images.list_images(content)}
    missing = [output for output in outputs if _stem(output) not in by_stem]
    if missing:
        raise ValueError(f"no content image named like {missing[0]} in {content}")
    return [by_stem[_stem(output)] for output in outputs]


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in [header, *rows]]
    return "\n".join(lines)


def _write_json(path: str | None, result: dict) -> None:
    if path:

        files.write_text(path, json.dumps(result, indent=2) + "\n")
        logger.info("wrote %s", os.path.abspath(path))


def _style(config: EvaluateConfig) -> int:
    from tfstyle import data
    from tfstyle.evaluate import stylization

    if not config.output or not config.content or not config.style:
        raise cli.UserError("style needs --output, --content and --style (see --help)")
    if not os.path.exists(config.content):
        raise FileNotFoundError(f"no such file or folder: {config.content}")
    outputs = _expand(config.output)
    contents = _pair_contents(outputs, config.content)
    styles = list(config.style)
    sizes = dict(zip(outputs + contents + styles, data.validate_image_files(outputs + contents + styles),
                     strict=True))
    for output, content in zip(outputs, contents, strict=True):  # fail before building VGG19
        try:
            stylization.check_sizes(sizes[output], sizes[content], config.long_side)
        except ValueError as error:
            raise ValueError(f"{output}: {error}") from None
    evaluator = stylization.StyleEvaluator(weights=config.weights, long_side=config.long_side,
                                           cache_dir=config.cache_dir, pooling=config.pooling)
    rows = []
    with cli.Progress(len(outputs), "evaluate", unit="image") as progress:
        for output, content in zip(outputs, contents, strict=True):
            rows.append(evaluator.evaluate(output, content, styles, config.blend))
            progress.update(1)
    result = {"mode": "style", "evaluator": evaluator.protocol, "results": rows}
    _write_json(config.json, result)
    print(f"evaluator: {evaluator.protocol['backbone']}, {config.pooling} pooling, long side {config.long_side} px")
    print(_table(["output", "size", "content_loss", "style_loss"],
                 [[row["output"], f"{row['size']['width']}x{row['size']['height']}",
                   f"{row['content_loss']:.6g}", f"{row['style_loss']:.6g}"] for row in rows]))
    return 0


def _translation(config: EvaluateConfig) -> int:
    from tfstyle.evaluate.translation import evaluate_translation

    if not config.generated or not config.target:
        raise cli.UserError("translation needs --generated and --target (see --help)")
    progress = {}

    def report(step) -> None:
        if step.name not in progress:
            progress[step.name] = cli.Progress(step.total, f"features {step.name}", unit="image")
        bar = progress[step.name]
        if step.done == 0:
            return
        bar.update(step.done - bar._count)  # noqa: SLF001 - our own class
        if step.done == step.total:
            bar.close()

    try:
        result = evaluate_translation(
            config.generated, config.target, config.features, max_images=config.max_images,
            kid_subsets=config.kid_subsets, kid_subset_size=config.kid_subset_size, seed=config.seed,
            image_size=config.image_size, weights=config.weights, inception_weights=config.inception_weights,
            batch_size=config.batch_size, cache_dir=config.cache_dir, callback=report)
    finally:
        for bar in progress.values():
            bar.close()
    _write_json(config.json, {"mode": "translation", **result})
    suffix = "VGG" if config.features == "vgg" else "Inception"
    kid_name, fid_name = f"KID-{suffix}", f"FID-{suffix}"
    counts = f"{result['generated']['count']} vs {result['target']['count']}"
    subsets = result["protocol"]["kid"]
    print(_table(["metric", "value", "images", "notes"], [
        [kid_name, f"{result[kid_name]:.6g} +- {result[kid_name + '_std']:.2g}", counts,
         f"{subsets['subsets']} subsets of {subsets['subset_size']}, seed {subsets['seed']}"],
        [fid_name, f"{result[fid_name]:.6g}", counts, "biased upwards for small sets"],
    ]))
    return 0


def _video(config: EvaluateConfig) -> int:
    from tfstyle.evaluate import stylization
    from tfstyle.evaluate.video import evaluate_video

    if len(config.output) != 1 or not config.input:
        raise cli.UserError("video needs --output (the stylised clip) and --input (the clip it was made from)")
    evaluator = None
    if config.style:
        evaluator = stylization.StyleEvaluator(weights=config.weights, long_side=config.long_side,
                                               cache_dir=config.cache_dir, pooling=config.pooling)
    if config.baseline and not config.style:
        raise cli.UserError("--baseline compares per-frame losses: give the --style the clips were painted with")
    result = evaluate_video(config.output[0], config.input, list(config.style), config.blend or None,
                            frame_step=config.frame_step, evaluator=evaluator, baseline=config.baseline)
    _write_json(config.json, {"mode": "video", **({"evaluator": evaluator.protocol} if evaluator else {}), **result})
    rows = [["warping_error", f"{result['warping_error']:.6g}", f"{result['frames']} frames, input's flow"]]
    if config.baseline:
        rows.append(["warping_error_ratio", f"{result['warping_error_ratio']:.3g}", "x the baseline's"])
    if evaluator:
        for name in ("content_loss", "style_loss"):
            worst = result[f"worst_{name.split('_')[0]}"]
            rows += [[name, f"{result[name]:.6g}", f"mean of {result['scored_frames']} frames"],
                     [f"{name} (worst)", f"{worst['value']:.6g}", f"frame {worst['frame'] + 1}"]]
            if config.baseline:
                ratio = result[f"worst_{name.split('_')[0]}_ratio"]
                rows.append([f"{name} ratio (worst)", f"{ratio['value']:.3g}",
                             f"frame {ratio['frame'] + 1}, x the baseline's same frame"])
    print(_table(["metric", "value", "notes"], rows))
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in MODES:
        raise cli.UserError(_USAGE if len(argv) < 2 else f"unknown mode {' '.join(argv[1:])!r}: {_USAGE}")
    mode = argv[1]
    config = cli.config_from_flags(EvaluateConfig)
    cli.setup_logging(config.verbose)
    _check_mode_flags(mode)
    if config.json:
        files.check_writable(config.json)  # fail now, not after the work
    return {"style": _style, "translation": _translation, "video": _video}[mode](config)


def run() -> None:
    """Entry point of `tfstyle-evaluate` / `python -m tfstyle.evaluate`."""
    if "generated" not in FLAGS:
        cli.define_flags(EvaluateConfig)
    cli.main_wrapper(main)()


if __name__ == "__main__":
    sys.exit(run())
