"""`python -m tfstyle.optimize`: neural style transfer from the command line.

With no arguments it stylises the bundled sample photo (NASA's astronaut portrait) in the style of
the bundled sample painting (Van Gogh's Starry Night), offline, with defaults chosen for the machine.

    python -m tfstyle.optimize --content photo.jpg --style a.jpg,b.jpg --style_blend 0.7,0.3 --output out.jpg
    python -m tfstyle.optimize --content photos/ --style painting.jpg --output stylised/
"""

from __future__ import annotations

import logging
import math
import os
import sys

from absl import flags

from tfstyle import cli, files, images
from tfstyle.optimize.config import INITS, OptimizeConfig
from tfstyle.optimize.transfer import DEFAULT_CONTENT, DEFAULT_STYLE, StepInfo, stylize, stylize_files

logger = logging.getLogger("tfstyle.optimize")

flags.DEFINE_string("content", DEFAULT_CONTENT, "content image, or a folder of images (batch mode)")
flags.DEFINE_list("style", [DEFAULT_STYLE], "style image(s), comma separated")
flags.DEFINE_string("output", None, "output image (.jpg/.png), or a folder in batch mode "
                    "(default: <content>_<style>.png in the current folder, or <content folder>_stylized/)")
flags.DEFINE_integer("save_every", 0, "also write the current image every N iterations (0: never)",
                     lower_bound=0)
flags.DEFINE_bool("verbose", False, "debug logging")
cli.define_flags(OptimizeConfig)
FLAGS = flags.FLAGS


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(os.path.normpath(path)))[0]


def _default_output(content: str, styles: list[str]) -> str:
    if os.path.isdir(content):
        return os.path.normpath(content) + "_stylized"
    return f"{_stem(content)}_{_stem(styles[0])}.png"


def _intermediate_path(output: str, step: int) -> str:
    stem, extension = os.path.splitext(output)
    return f"{stem}_{step:05d}{extension or '.png'}"


def _check_inputs(content: str, styles: list[str], init: str) -> None:
    """Fails early, before any model is built or any output written, on missing or undecodable images
    (every image of a content folder is decoded once: a truncated file must not stop a batch run midway)."""
    for style in styles:
        images.read_image_uint8(style)
    for path in images.list_images(content) if os.path.isdir(content) else [content]:
        images.read_image_uint8(path)
    if init not in INITS:
        images.read_image_uint8(os.path.expanduser(init))


class _Reporter:
    """The CLI's callback: progress bar / log lines, and intermediate images every --save_every steps."""

    def __init__(self, description: str, outputs: list[str], save_every: int):
        self.description = description
        self.outputs = outputs
        self.save_every = save_every
        self.progress: cli.Progress | None = None
        self.saved = 0

    def __call__(self, info: StepInfo) -> None:
        if self.progress is None:
            self.progress = cli.Progress(info.total_steps, self.description, already_elapsed_s=info.elapsed_s)
        done = self.progress._count  # noqa: SLF001 - our own class
        height, width = info.size
        self.progress.update(info.step - done, size=f"{width}x{height}", loss=info.loss,
                             **{k: v for k, v in info.terms.items()})
        if self.save_every and info.step % self.save_every == 0 and info.step < info.total_steps:
            for output, image in zip(self.outputs, info.image(), strict=False):
                images.save_image(_intermediate_path(output, info.step), image)
            self.saved += 1

    def close(self) -> None:
        if self.progress is not None:
            self.progress.close()
            self.progress = None


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise cli.UserError(f"unexpected arguments: {' '.join(argv[1:])} (flags need --name=value)")
    cli.setup_logging(FLAGS.verbose)
    styles = [s for s in FLAGS.style if s]
    content = FLAGS.content
    config = cli.config_from_flags(OptimizeConfig)
    config.validate(len(styles))
    if not os.path.exists(content):
        raise FileNotFoundError(f"no such file or folder: {content}")
    _check_inputs(content, styles, config.init)
    output = FLAGS.output or _default_output(content, styles)
    chunk = math.gcd(10, FLAGS.save_every) if FLAGS.save_every else 10

    if os.path.isdir(content):
        return _run_folder(content, styles, output, config, chunk)

    files.check_writable(output)
    images.encode_image(images.to_uint8([[[0.0, 0.0, 0.0]]]), output)  # unknown extension fails now, not later
    reporter = _Reporter("stylize", [output], FLAGS.save_every)
    try:
        result = stylize(content, styles, config, reporter, chunk_size=chunk)
    finally:
        reporter.close()
    images.save_image(output, result)
    logger.info("wrote %s (%dx%d px)", os.path.abspath(output), result.shape[1], result.shape[0])
    print(os.path.abspath(output))
    return 0


def _run_folder(content: str, styles: list[str], output: str, config: OptimizeConfig, chunk: int) -> int:
    paths = images.list_images(content)
    if os.path.exists(output) and not os.path.isdir(output):
        raise ValueError(f"--content is a folder, so --output must be a folder, but {output} is a file")
    parent = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
        raise ValueError(f"cannot create output folder {output}: {parent} is missing or not writable")
    created = not os.path.isdir(output)
    os.makedirs(output, exist_ok=True)
    reporter = _Reporter("stylize", [], FLAGS.save_every)
    written = 0
    try:
        files.check_writable(os.path.join(output, "probe.png"))
        for path, result in stylize_files(paths, styles, config, reporter, chunk_size=chunk):
            extension = os.path.splitext(path)[1].lower()
            target = os.path.join(output, _stem(path) + (extension if extension in (".jpg", ".jpeg", ".png")
                                                          else ".png"))
            images.save_image(target, result)
            written += 1
            reporter.close()
            logger.info("wrote %s (%d/%d)", target, written, len(paths))
    except BaseException:
        if created and not os.listdir(output):  # a run that failed before its first image leaves nothing
            os.rmdir(output)
        raise
    finally:
        reporter.close()
    logger.info("stylised %d images into %s", written, os.path.abspath(output))
    print(os.path.abspath(output))
    return 0


run = cli.main_wrapper(main)

if __name__ == "__main__":
    sys.exit(run())
