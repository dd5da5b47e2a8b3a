"""The command line that makes the same picture as the app, for each engine (shown beside every result).

Pure functions: settings in, one shell-quoted line out (`shlex.join`). Each names the real CLI's flags
(`python -m tfstyle.optimize --help` and the others) and gives only the flags whose value is not the CLI's
default, plus the ones a reader wants to see (image size, iterations). File arguments are passed as the caller
wants them shown (the name of the user's own file, not the server's copy).
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Sequence

from tfstyle.optimize.config import OptimizeConfig
from tfstyle.video.settings import VideoArgs

PYTHON = "python"


def flag_value(value) -> str:
    """A field's value as absl parses it back: lists comma separated, floats in Python's shortest exact form."""
    if isinstance(value, (tuple, list)):
        return ",".join(flag_value(item) for item in value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def config_flags(config, defaults, always: Sequence[str] = (), skip: Sequence[str] = ()) -> list[str]:
    """`--name value` for each field of the dataclass `config` that differs from `defaults` (or is in `always`);
    booleans as `--name` / `--noname`, as absl writes them."""
    arguments = []
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if field.name in skip or (value == getattr(defaults, field.name) and field.name not in always):
            continue
        if value is None:
            continue
        if isinstance(value, bool):
            arguments.append(f"--{field.name}" if value else f"--no{field.name}")
        else:
            arguments += [f"--{field.name}", flag_value(value)]
    return arguments


def optimize_command(content: str, styles: Sequence[str], config: OptimizeConfig, output: str) -> str:
    """`python -m tfstyle.optimize ...` for `stylize(content, styles, config)` written to `output`; `config`'s
    mask paths are shown as given. Image size and iterations are always written (their defaults depend on the
    machine)."""
    arguments = [PYTHON, "-m", "tfstyle.optimize", "--content", content, "--style", ",".join(styles)]
    arguments += config_flags(config, OptimizeConfig(), always=("image_size", "iterations"))
    return shlex.join([*arguments, "--output", output])


def fast_command(model_dir: str, content: str, styles: Sequence[str] = (), blend: Sequence[float] = (),
                 alpha: float = 1.0, preserve_colors: str = "none", output: str = "out.png") -> str:
    """`python -m tfstyle.fast.stylize ...`; `model_dir` "" is the bundled network (the CLI's default)."""
    arguments = [PYTHON, "-m", "tfstyle.fast.stylize"]
    if model_dir:
        arguments += ["--model_dir", model_dir]
    arguments += ["--input", content]
    if styles:
        arguments += ["--style", ",".join(styles)]
    if blend:
        arguments += ["--style_blend", flag_value(tuple(blend))]
    if alpha != 1.0:
        arguments += ["--alpha", flag_value(float(alpha))]
    if preserve_colors != "none":
        arguments += ["--preserve_colors", preserve_colors]
    return shlex.join([*arguments, "--output", output])


def translate_command(model_dir: str, direction: str, content: str, output: str) -> str:
    """`python -m tfstyle.cyclegan.translate ...` with one generator of a CycleGAN run."""
    return shlex.join([PYTHON, "-m", "tfstyle.cyclegan.translate", "--model_dir", model_dir, "--direction",
                       direction, "--input", content, "--output", output])


def saved_model_command(saved_model_dir: str, content: str, output: str) -> str:
    """A `python -c` line that runs a SavedModel's `translate_bytes` signature (`tfstyle.export`) on a file and
    writes the PNG it returns: the same call the app makes."""
    code = ("import sys, tensorflow as tf; m = tf.saved_model.load(sys.argv[1]); "
            "f = m.signatures['translate_bytes']; "
            "png = f(image_bytes=tf.constant([open(sys.argv[2], 'rb').read()]))['png_bytes'][0].numpy(); "
            "open(sys.argv[3], 'wb').write(png)")
    return shlex.join([PYTHON, "-c", code, saved_model_dir, content, output])


def video_command(args: VideoArgs) -> str:
    """`python -m tfstyle.video ...` for the job `args` (paths as given)."""
    arguments = [PYTHON, "-m", "tfstyle.video", "--input", args.input, "--output", args.output]
    arguments += config_flags(args, VideoArgs(), skip=("input", "output"))
    return shlex.join(arguments)
