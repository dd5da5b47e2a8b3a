"""Renders the results gallery that the README shows, from the shared data, into `docs/gallery/`.

    python experiments/make_gallery.py                        # all four sections, ~22 min on 2 CPU cores
    python experiments/make_gallery.py --only grid,colour     # some of them (the others are kept)
    python experiments/make_gallery.py --quick --weights random --out /tmp/gallery   # smoke run, seconds

Sections (`--only`), each calling tfstyle's public API only:

* ``grid``: content photos x paintings, Gatys style transfer (`tfstyle.optimize.stylize`) with the
  default objective weights, read from `OptimizeConfig()` when the script runs -> ``grid.jpg``;
* ``colour``: one photo and one painting with ``preserve_colors`` none / luminance / histogram ->
  ``colour.jpg``;
* ``highres``: a coarse-to-fine result at 768 px (``highres.jpg``, the crop marked in red) and a 1:1
  crop of it beside the same crop of a 256 px result upscaled x3 (``highres_crop.jpg``);
* ``cyclegan``: a short CPU run of `tfstyle.cyclegan.trainer.train` on ``unpaired/photo2painting``
  (narrow ResNet-6 generator, a few photos held out of domain A), then `load_generator` +
  `translate_images` on the held-out photos -> ``cyclegan.jpg``.

Beside the pictures go ``commands.json`` and ``CREDITS.md``. ``commands.json`` maps each picture to
the command that made it (``command``), the command that remakes only its section (``rerun``), the
settings used (the resolved `OptimizeConfig` / `TrainConfig`), its input files (relative to the shared
data), equivalent single-image ``tfstyle`` commands (``equivalent``) and the seconds it took; entries
of sections not run this time are kept. ``CREDITS.md`` gives title, author and licence of every input
from the shared data's ``SOURCES.csv`` (CC-BY / CC-BY-SA inputs need that attribution). The entries
written by a run are also printed, as JSON, on stdout.

Measured on 2 CPU cores (tf 2.21): grid 263 s, colour 119 s, highres 202 s, cyclegan 729 s (900 steps at
~1.3 steps/s); about twice that when other jobs share the cores.

`--quick` shrinks every size and step count (tiny pictures, a few iterations) and, unless `--out`
is given, writes into a new temporary folder instead of `docs/gallery/`.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import json
import logging
import math
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import flags
from PIL import Image, ImageDraw, ImageFont

# tfstyle.cli before anything imports TensorFlow: it keeps TensorFlow's start-up lines off stderr.
from tfstyle import cli, distribute, files, images

logger = logging.getLogger("tfstyle.gallery")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.relpath(os.path.abspath(__file__), REPO)
DEFAULT_SHARED = os.path.join(os.path.dirname(REPO), "shared", "data")
DEFAULT_OUT = os.path.join(REPO, "docs", "gallery")
SECTIONS = ("grid", "colour", "highres", "cyclegan")
COMMANDS_FILE = "commands.json"
CREDITS_FILE = "CREDITS.md"
SOURCES_FILE = "SOURCES.csv"
JPEG_QUALITY = 88
SIZE_BUDGET_BYTES = 2_000_000  # all pictures together: the README should stay light
MIN_CELL = 96  # px: the smallest cell a picture shows (captions need the room)
PHOTO_DOMAIN = "unpaired/photo2painting/A"
PAINTING_DOMAIN = "unpaired/photo2painting/B"

flags.DEFINE_string("shared", DEFAULT_SHARED, "tfstyle's shared data folder (content/, style/, unpaired/, "
                    "SOURCES.csv)")
flags.DEFINE_string("out", None, f"output folder (default: {os.path.relpath(DEFAULT_OUT, REPO)}, or a new "
                    "temporary folder with --quick)")
flags.DEFINE_list("only", list(SECTIONS), f"sections to render, comma separated: {', '.join(SECTIONS)}")
flags.DEFINE_bool("quick", False, "smoke run: tiny sizes and step counts")
flags.DEFINE_string("weights", "auto", "VGG weights for style transfer (OptimizeConfig.weights): auto, "
                    "imagenet, random or a weights file")
flags.DEFINE_integer("cyclegan_steps", None, "CycleGAN training steps (default: 900, 4 with --quick)",
                     lower_bound=1)
flags.DEFINE_string("cyclegan_model_dir", None, "keep the CycleGAN run here (resumed if it exists); "
                    "default: a temporary folder, removed at the end")
flags.DEFINE_bool("verbose", False, "debug logging")
FLAGS = flags.FLAGS


@dataclasses.dataclass(frozen=True)
class GallerySettings:
    """What each picture is made from and how large and long each run is.

    Paths are relative to the shared data folder. Style-transfer sizes are the long side in px;
    iteration counts are L-BFGS iterations (of the coarsest stage for coarse-to-fine runs). The
    objective weights are deliberately absent: they come from `OptimizeConfig()` at run time.
    """

    grid_photos: tuple[str, ...] = (
        "content/chelsea_cat.png", "content/astronaut.png", "content/china_summer_palace.jpg")
    grid_paintings: tuple[str, ...] = (
        "style/vangogh_starry_night.jpg", "style/hokusai_great_wave_off_kanagawa.jpg",
        "style/leonardo_mona_lisa.jpg")
    grid_size: int = 192
    grid_iterations: int = 100

    colour_photo: str = "content/coffee.png"
    colour_painting: str = "style/vangogh_starry_night.jpg"
    colour_size: int = 256
    colour_iterations: int = 100

    highres_photo: str = "content/china_summer_palace.jpg"
    highres_painting: str = "style/vangogh_starry_night.jpg"
    highres_size: int = 768
    highres_scales: int = 3
    highres_iterations: int = 100
    highres_low_size: int = 256
    highres_low_iterations: int = 100
    highres_crop_center: tuple[float, float] = (0.45, 0.5)  # (y, x) as fractions of the output size

    # Held-out domain-A photos: public domain / CC0 only, and none of the landmarks that A holds twice.
    cyclegan_test_photos: tuple[str, ...] = (
        f"{PHOTO_DOMAIN}/monument_france_montStMichel.jpg", f"{PHOTO_DOMAIN}/monument_india_goldenTemple.jpg",
        f"{PHOTO_DOMAIN}/monument_usa_statueofLiberty.jpg",
        f"{PHOTO_DOMAIN}/monument_wonders_machuPicchu.jpg",
        f"{PHOTO_DOMAIN}/monument_usa_lincolnMemorial.jpg",
        f"{PHOTO_DOMAIN}/monument_wonders_greatWallofChina.jpg")
    cyclegan_load_size: int = 108
    cyclegan_image_size: int = 96
    cyclegan_blocks: int = 6
    cyclegan_ngf: int = 32
    cyclegan_ndf: int = 32
    cyclegan_layers_d: int = 3
    cyclegan_pool_size: int = 50
    cyclegan_steps: int = 900
    cyclegan_translate_size: int = 160  # long side of the held-out photos fed to G, px


FULL = GallerySettings()
QUICK = dataclasses.replace(
    FULL, grid_photos=FULL.grid_photos[:2], grid_paintings=FULL.grid_paintings[:2], grid_size=32,
    grid_iterations=2, colour_size=32, colour_iterations=2, highres_size=64, highres_scales=2,
    highres_iterations=2, highres_low_size=32, highres_low_iterations=2,
    cyclegan_test_photos=FULL.cyclegan_test_photos[:2], cyclegan_load_size=36, cyclegan_image_size=32,
    cyclegan_blocks=2, cyclegan_ngf=8, cyclegan_ndf=8, cyclegan_layers_d=2, cyclegan_pool_size=4,
    cyclegan_steps=4, cyclegan_translate_size=48,
)


@dataclasses.dataclass(frozen=True)
class Picture:
    """One file of the gallery and how it was made (one entry of commands.json)."""

    file: str
    section: str
    description: str
    inputs: tuple[str, ...]
    settings: dict
    equivalent: tuple[str, ...]
    seconds: float


@dataclasses.dataclass(frozen=True)
class Run:
    """What every section needs: where the data is, where pictures go, and how the script was called."""

    shared: str
    out: str
    settings: GallerySettings
    weights: str
    command: str
    rerun_args: tuple[str, ...]
    cyclegan_model_dir: str | None

    def path(self, relative: str) -> str:
        return os.path.join(self.shared, relative)

    def shown(self, relative: str) -> str:
        """A shared-data path as commands run from the repository root spell it."""
        return _shell_path(self.path(relative))

    def rerun(self, section: str) -> str:
        return shlex.join(["python", SCRIPT, f"--only={section}", *self.rerun_args])


def _shell_path(path: str) -> str:
    """`path` relative to the repository root when it lies in the repository or beside it, else absolute."""
    relative = os.path.relpath(os.path.abspath(path), REPO)
    return os.path.abspath(path) if relative.startswith(os.path.join(os.pardir, os.pardir)) else relative


# ---------------------------------------------------------------------------------------------
# Drawing: labelled grids of images
# ---------------------------------------------------------------------------------------------


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)  # scalable with FreeType (Pillow >= 10.1)
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()


def _fitted_size(image, box: tuple[int, int]) -> tuple[int, int]:
    """(h, w) of an [H, W, 3] image scaled to fit inside `box` = (H', W'), aspect kept."""
    height, width = np.shape(image)[:2]
    scale = min(box[0] / height, box[1] / width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def _fit(image, box: tuple[int, int]) -> np.ndarray:
    """Scales an image to fit inside `box` = (H, W), aspect kept, centred on white.

    Args:
        image: float [h, w, 3] in [0, 1] or uint8 [h, w, 3].
        box: (H, W) in px.

    Returns:
        uint8 [H, W, 3].
    """
    array = np.asarray(image)
    if array.dtype == np.uint8:
        array = np.asarray(images.to_float(array))
    size = _fitted_size(array, box)
    if size != array.shape[:2]:
        array = images.resize(array, size)
    tile = np.asarray(images.to_uint8(array))
    canvas = np.full((*box, 3), 255, dtype=np.uint8)
    top, left = (box[0] - size[0]) // 2, (box[1] - size[1]) // 2
    canvas[top:top + size[0], left:left + size[1]] = tile
    return canvas


def _wrap(text: str, font: ImageFont.ImageFont, width: int) -> list[str]:
    """Greedy word wrap of `text` into lines at most `width` px wide (a longer single word overflows)."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}".strip()
            if line and font.getlength(candidate) > width:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return lines


def compose(rows: list[list], captions: list[list[str]], box: tuple[int, int], title: str | None = None,
            font_size: int = 13, pad: int = 6) -> np.ndarray:
    """Lays images out in a labelled grid on white.

    Args:
        rows: rows of images (float [h, w, 3] in [0, 1] or uint8), `None` for an empty cell; each
            image is scaled to fit `box`, aspect kept, and a row is as tall as its tallest image.
        captions: one caption per cell (same shape as `rows`), drawn under it, wrapped to the cell.
        box: (H, W) of every cell's image area, px (scaled up so that its short side is at least
            `MIN_CELL`).
        title: optional text across the top.
        font_size: caption size in px (the title is 2 px larger).
        pad: gap between cells and around the grid, px.

    Returns:
        uint8 [H', W', 3], the whole picture.
    """
    if min(box) < MIN_CELL:  # tiny (--quick) pictures are shown larger, so the captions fit
        box = tuple(math.ceil(side * MIN_CELL / min(box)) for side in box)
    font, title_font = _font(font_size), _font(font_size + 2)
    columns = max(len(row) for row in rows)
    cell_height, cell_width = box
    width = pad + columns * (cell_width + pad)
    line_height = font_size + 4
    wrapped = [[_wrap(text, font, cell_width) if text else [] for text in row] for row in captions]
    band_heights = [max((len(lines) for lines in row), default=0) * line_height for row in wrapped]
    row_heights = [max((_fitted_size(image, box)[0] for image in row if image is not None),
                       default=cell_height) for row in rows]
    title_lines = _wrap(title, title_font, width - 2 * pad) if title else []
    title_height = len(title_lines) * (font_size + 6) + (pad if title_lines else 0)
    height = pad + title_height + sum(row_height + band + pad
                                      for row_height, band in zip(row_heights, band_heights, strict=True))
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    y = pad
    for line in title_lines:
        draw.text((pad, y), line, fill=(0, 0, 0), font=title_font)
        y += font_size + 6
    y += pad if title_lines else 0
    for row, row_lines, row_height, band in zip(rows, wrapped, row_heights, band_heights, strict=True):
        for column, (image, lines) in enumerate(zip(row, row_lines, strict=True)):
            x = pad + column * (cell_width + pad)
            if image is not None:
                canvas.paste(Image.fromarray(_fit(image, (row_height, cell_width))), (x, y))
            for index, line in enumerate(lines):
                offset = (cell_width - font.getlength(line)) / 2
                draw.text((x + max(0.0, offset), y + row_height + 2 + index * line_height), line,
                          fill=(40, 40, 40), font=font)
        y += row_height + band + pad
    return np.asarray(canvas)


def _mark(image, box: tuple[int, int, int, int], width: int = 3) -> np.ndarray:
    """float [H, W, 3] in [0, 1] -> uint8 with a red rectangle (top, left, bottom, right) drawn on it."""
    picture = Image.fromarray(np.asarray(images.to_uint8(image)))
    top, left, bottom, right = box
    ImageDraw.Draw(picture).rectangle([left, top, right - 1, bottom - 1], outline=(230, 30, 30), width=width)
    return np.asarray(picture)


def _save(run: Run, name: str, picture: np.ndarray) -> str:
    path = os.path.join(run.out, name)
    images.save_image(path, picture, quality=JPEG_QUALITY)
    logger.info("wrote %s (%d x %d px, %.0f kB)", path, picture.shape[1], picture.shape[0],
                os.path.getsize(path) / 1000)
    return path


# ---------------------------------------------------------------------------------------------
# Inputs and credits (SOURCES.csv)
# ---------------------------------------------------------------------------------------------


def read_sources(shared: str) -> dict[str, dict[str, str]]:
    """SOURCES.csv rows keyed by their `file` column (a path relative to the shared data)."""
    path = os.path.join(shared, SOURCES_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no {SOURCES_FILE} in the shared data folder {shared}")
    with open(path, newline="", encoding="utf-8") as file:
        return {row["file"]: row for row in csv.DictReader(file)}


def short_title(sources: dict[str, dict[str, str]], relative: str) -> str:
    """Caption for an input: its SOURCES.csv title without the trailing date, else the file stem."""
    title = sources.get(relative, {}).get("title") or ""
    title = title.split(" - ")[0].strip()
    return title or os.path.splitext(os.path.basename(relative))[0].replace("_", " ")


def credit_line(sources: dict[str, dict[str, str]], relative: str) -> str:
    row = sources.get(relative)
    if row is None:
        return f"`{relative}`: not listed in {SOURCES_FILE}"
    parts = [f"`{relative}`", f"\"{row['title']}\"" if row.get("title") else None,
             f"by {row['author']}" if row.get("author") else None, f"licence: {row['licence']}",
             f"source: {row['original_source']}" if row.get("original_source") else None,
             f"via {row['package']} {row['version']} ({row['registry']})"]
    return ", ".join(part for part in parts if part)


def _needed_inputs(settings: GallerySettings, sections: list[str]) -> list[str]:
    needed: dict[str, list[str]] = {
        "grid": [*settings.grid_photos, *settings.grid_paintings],
        "colour": [settings.colour_photo, settings.colour_painting],
        "highres": [settings.highres_photo, settings.highres_painting],
        "cyclegan": [PHOTO_DOMAIN, PAINTING_DOMAIN, *settings.cyclegan_test_photos],
    }
    return [path for section in sections for path in needed[section]]


def check_shared(shared: str, settings: GallerySettings, sections: list[str]) -> dict[str, dict[str, str]]:
    """Fails before any work when the shared data or one of the needed inputs is missing.

    Returns:
        the SOURCES.csv rows (see `read_sources`).

    Raises:
        FileNotFoundError: naming the missing folder or file.
    """
    if not os.path.isdir(shared):
        raise FileNotFoundError(f"shared data not found at {shared}: give --shared=<tfstyle's shared/data "
                                "folder> (see ../shared/README.md)")
    sources = read_sources(shared)
    for relative in _needed_inputs(settings, sections):
        if not os.path.exists(os.path.join(shared, relative)):
            raise FileNotFoundError(f"{relative} is missing from the shared data folder {shared}")
    return sources


# ---------------------------------------------------------------------------------------------
# Style transfer sections
# ---------------------------------------------------------------------------------------------


def optimize_config(run: Run, **overrides):
    """`OptimizeConfig()` (the library defaults, objective weights included) with the gallery's sizes,
    resolved for this machine so that the recorded settings are exactly the ones used."""
    from tfstyle.optimize import OptimizeConfig

    return dataclasses.replace(OptimizeConfig(), weights=run.weights, **overrides).resolved()


def _config_settings(config) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(config)))


def optimize_command(run: Run, photo: str, painting: str, config, output: str) -> str:
    """The `python -m tfstyle.optimize` command that makes one picture with `config`."""
    from tfstyle.optimize import OptimizeConfig

    defaults = OptimizeConfig()
    args = ["python", "-m", "tfstyle.optimize", f"--content={run.shown(photo)}",
            f"--style={run.shown(painting)}", f"--output={output}"]
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if value == getattr(defaults, field.name):
            continue
        if isinstance(value, bool):
            args.append(f"--{'' if value else 'no'}{field.name}")
        elif isinstance(value, tuple):
            args.append(f"--{field.name}={','.join(str(v) for v in value)}")
        else:
            args.append(f"--{field.name}={value}")
    return shlex.join(args)


def _stem(relative: str) -> str:
    return os.path.splitext(os.path.basename(relative))[0]


def _stylize(run: Run, photo: str, painting: str, config) -> tuple[np.ndarray, list[int]]:
    """Runs `stylize` with a progress bar; returns (float32 [H, W, 3] in [0, 1], stage long sides in px)."""
    from tfstyle.optimize import stylize

    state = {"done": 0, "progress": None, "stages": []}

    def callback(info) -> None:
        if state["progress"] is None:  # the total is known once the stages are planned
            state["progress"] = cli.Progress(info.total_steps, f"{_stem(photo)} x {_stem(painting)}",
                                             already_elapsed_s=info.elapsed_s)
        if max(info.size) not in state["stages"]:
            state["stages"].append(max(info.size))
        state["progress"].update(info.step - state["done"], loss=info.loss)
        state["done"] = info.step

    try:
        result = stylize(run.path(photo), [run.path(painting)], config, callback)
    finally:
        if state["progress"] is not None:
            state["progress"].close()
    return result, state["stages"]


def _weights_summary(config) -> str:
    return f"content {config.content_weight:g}, style {config.style_weight:g}, tv {config.tv_weight:g}"


def make_grid(run: Run, sources: dict) -> list[Picture]:
    """Content photos (rows) x paintings (columns), each cell a `stylize` result."""
    s = run.settings
    config = optimize_config(run, image_size=s.grid_size, iterations=s.grid_iterations)
    start = time.perf_counter()
    results = {(photo, painting): _stylize(run, photo, painting, config)[0]
               for photo in s.grid_photos for painting in s.grid_paintings}
    rows = [[None] + [images.load_image(run.path(p)) for p in s.grid_paintings]]
    captions = [["content \\ style"] + [short_title(sources, p) for p in s.grid_paintings]]
    for photo in s.grid_photos:
        rows.append([images.load_image(run.path(photo))] + [results[(photo, p)] for p in s.grid_paintings])
        captions.append([short_title(sources, photo)] + [""] * len(s.grid_paintings))
    title = (f"Gatys style transfer: {config.image_size} px, {config.iterations} {config.optimizer} "
             f"iterations, default weights ({_weights_summary(config)}), {config.backbone} "
             f"weights={config.weights}")
    picture = compose(rows, captions, (s.grid_size, s.grid_size), title)
    _save(run, "grid.jpg", picture)
    return [Picture(
        file="grid.jpg", section="grid",
        description="content photos (rows) x paintings (columns), Gatys style transfer, default weights",
        inputs=(*s.grid_photos, *s.grid_paintings), settings=_config_settings(config),
        equivalent=tuple(
            optimize_command(run, photo, painting, config, f"{_stem(photo)}_{_stem(painting)}.jpg")
            for photo in s.grid_photos for painting in s.grid_paintings),
        seconds=round(time.perf_counter() - start, 1),
    )]


def make_colour(run: Run, sources: dict) -> list[Picture]:
    """One photo and one painting under each `preserve_colors` mode."""
    from tfstyle.optimize.config import PRESERVE_COLORS

    s = run.settings
    start = time.perf_counter()
    configs = {mode: optimize_config(run, image_size=s.colour_size, iterations=s.colour_iterations,
                                     preserve_colors=mode) for mode in PRESERVE_COLORS}
    results = {mode: _stylize(run, s.colour_photo, s.colour_painting, config)[0]
               for mode, config in configs.items()}
    photo = images.load_image(run.path(s.colour_photo))
    box = images.scaled_size(*photo.shape[:2], s.colour_size)
    rows = [[photo, images.load_image(run.path(s.colour_painting)), *results.values()]]
    captions = [[f"content: {short_title(sources, s.colour_photo)}",
                 f"style: {short_title(sources, s.colour_painting)}",
                 *(f"preserve_colors={mode}" for mode in results)]]
    reference = configs[PRESERVE_COLORS[0]]
    title = (f"Colour preservation (Gatys et al. 2016): {reference.image_size} px, {reference.iterations} "
             f"{reference.optimizer} iterations, default weights ({_weights_summary(reference)})")
    picture = compose(rows, captions, box, title)
    _save(run, "colour.jpg", picture)
    return [Picture(
        file="colour.jpg", section="colour",
        description="colour preservation: none / luminance-only transfer (YIQ) / histogram matching",
        inputs=(s.colour_photo, s.colour_painting),
        settings={mode: _config_settings(config) for mode, config in configs.items()},
        equivalent=tuple(optimize_command(run, s.colour_photo, s.colour_painting, config,
                                          f"{_stem(s.colour_photo)}_{mode}.jpg")
                         for mode, config in configs.items()),
        seconds=round(time.perf_counter() - start, 1),
    )]


def make_highres(run: Run, sources: dict) -> list[Picture]:
    """A coarse-to-fine large result, and a 1:1 crop of it next to an upscaled small result."""
    s = run.settings
    start = time.perf_counter()
    high_config = optimize_config(run, image_size=s.highres_size, iterations=s.highres_iterations,
                                  scales=s.highres_scales)
    low_config = optimize_config(run, image_size=s.highres_low_size, iterations=s.highres_low_iterations,
                                 scales=1)
    high, stages = _stylize(run, s.highres_photo, s.highres_painting, high_config)
    low, _ = _stylize(run, s.highres_photo, s.highres_painting, low_config)
    height, width = high.shape[:2]
    low_up = np.asarray(images.resize(low, (height, width)))  # bicubic, what a plain upscale gives
    crop = min(height, width, max(16, s.highres_size // 3))
    top = min(max(0, round(s.highres_crop_center[0] * height - crop / 2)), height - crop)
    left = min(max(0, round(s.highres_crop_center[1] * width - crop / 2)), width - crop)
    window = (top, left, top + crop, left + crop)
    factor = s.highres_size / s.highres_low_size
    stage_text = " -> ".join(str(size) for size in stages)
    caption = (f"{short_title(sources, s.highres_photo)} in the style of "
               f"{short_title(sources, s.highres_painting)}")
    full = compose([[_mark(high, window)]], [[caption]], (height, width),
                   f"{s.highres_size} px coarse-to-fine ({stage_text} px, {high_config.iterations} "
                   f"{high_config.optimizer} iterations at the coarsest stage, half at each finer one); "
                   "red: the crop shown in highres_crop.jpg")
    crops = compose([[high[top:top + crop, left:left + crop], low_up[top:top + crop, left:left + crop]]],
                    [[f"{s.highres_size} px result, 1:1 crop",
                      f"{s.highres_low_size} px result upscaled x{factor:g} (bicubic), same crop"]],
                    (crop, crop), "The same region, optimised at full size vs. optimised small and upscaled")
    _save(run, "highres.jpg", full)
    _save(run, "highres_crop.jpg", crops)
    seconds = round(time.perf_counter() - start, 1)
    settings = {"high": _config_settings(high_config), "low": _config_settings(low_config),
                "stages_px": stages, "crop_px": [top, left, crop, crop], "upscale": "bicubic"}
    high_command = optimize_command(run, s.highres_photo, s.highres_painting, high_config,
                                    f"{_stem(s.highres_photo)}_{s.highres_size}.jpg")
    low_command = optimize_command(run, s.highres_photo, s.highres_painting, low_config,
                                   f"{_stem(s.highres_photo)}_{s.highres_low_size}.jpg")
    inputs = (s.highres_photo, s.highres_painting)
    return [
        Picture(file="highres.jpg", section="highres",
                description=f"{s.highres_size} px coarse-to-fine result, crop marked", inputs=inputs,
                settings=settings, equivalent=(high_command,), seconds=seconds),
        Picture(file="highres_crop.jpg", section="highres",
                description=f"1:1 crop of the {s.highres_size} px result vs. the same crop of a "
                            f"{s.highres_low_size} px result upscaled x{factor:g}",
                inputs=inputs, settings=settings, equivalent=(high_command, low_command), seconds=seconds),
    ]


# ---------------------------------------------------------------------------------------------
# CycleGAN section
# ---------------------------------------------------------------------------------------------


def _training_photos(run: Run, folder: str) -> str:
    """Fills `folder` with links to the domain-A photos that are not held out; returns it."""
    held_out = {os.path.basename(p) for p in run.settings.cyclegan_test_photos}
    os.makedirs(folder, exist_ok=True)
    for path in images.list_images(run.path(PHOTO_DOMAIN)):
        name = os.path.basename(path)
        target = os.path.join(folder, name)
        if name in held_out or os.path.lexists(target):
            continue
        try:
            os.symlink(os.path.abspath(path), target)
        except OSError:  # no symlinks on this file system
            shutil.copyfile(path, target)
    return folder


def cyclegan_config(run: Run, domain_a: str, model_dir: str, steps: int):
    """`TrainConfig()` with the gallery's narrow model and a schedule that ends near `steps`.

    The learning rate stays constant for the first half of the epochs and decays linearly to 0 over
    the second half (the paper's 100 + 100 epochs, scaled down); training stops at `steps`.
    """
    from tfstyle import data
    from tfstyle.cyclegan.config import TrainConfig

    s = run.settings
    steps_per_epoch = data.steps_per_epoch(len(images.list_images(domain_a)),
                                           len(images.list_images(run.path(PAINTING_DOMAIN))), 1)
    epochs = max(2, math.ceil(steps / steps_per_epoch))
    return dataclasses.replace(
        TrainConfig(), domain_a=domain_a, domain_b=run.path(PAINTING_DOMAIN), load_size=s.cyclegan_load_size,
        image_size=s.cyclegan_image_size, generator=f"resnet_{s.cyclegan_blocks}blocks", ngf=s.cyclegan_ngf,
        ndf=s.cyclegan_ndf, net_d="n_layers", n_layers_d=s.cyclegan_layers_d, pool_size=s.cyclegan_pool_size,
        epochs=epochs - epochs // 2, decay_epochs=epochs // 2, max_steps=steps, model_dir=model_dir,
        keep_checkpoints=1, checkpoint_every_steps=max(steps, 1), image_every_steps=max(steps, 1),
        log_every_steps=max(1, min(50, steps)),
    )


def make_cyclegan(run: Run, sources: dict) -> list[Picture]:
    """Short photo -> painting CycleGAN run, then the held-out photos through G."""
    from tfstyle.cyclegan.inference import load_generator, translate_images
    from tfstyle.cyclegan.trainer import TrainingDiverged, train

    s = run.settings
    steps = FLAGS.cyclegan_steps or s.cyclegan_steps
    start = time.perf_counter()
    scratch = tempfile.mkdtemp(prefix="tfstyle-gallery-")
    model_dir = run.cyclegan_model_dir or os.path.join(scratch, "model")
    try:
        domain_a = _training_photos(run, os.path.join(scratch, "train_a"))
        config = cyclegan_config(run, domain_a, model_dir, steps)
        with cli.Progress(steps, "cyclegan", unit="step") as progress:
            try:
                result = train(config, callback=lambda info: progress.update(
                    1, g=info.losses["generator"], d_b=info.losses["d_b"]))
            except TrainingDiverged as error:
                raise cli.UserError(str(error)) from None
        generator, _ = load_generator(model_dir, "a2b")
        photos = [np.asarray(images.to_uint8(images.load_image(run.path(p), s.cyclegan_translate_size)))
                  for p in s.cyclegan_test_photos]
        paintings = translate_images(generator, photos)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    box = (s.cyclegan_translate_size, s.cyclegan_translate_size)
    rows = [photos, paintings]
    captions = [[short_title(sources, p) for p in s.cyclegan_test_photos], ["G(photo)"] * len(photos)]
    train_photos = len(images.list_images(run.path(PHOTO_DOMAIN))) - len(s.cyclegan_test_photos)
    title = (f"CycleGAN photo -> painting on held-out photos: {result.step} steps on {train_photos} photos + "
             f"{len(images.list_images(run.path(PAINTING_DOMAIN)))} paintings, {config.image_size} px crops, "
             f"ResNet-{s.cyclegan_blocks} generator with ngf={config.ngf}, PatchGAN ndf={config.ndf}")
    picture = compose(rows, captions, box, title)
    _save(run, "cyclegan.jpg", picture)
    settings = json.loads(config.to_json())
    settings.update(domain_a=f"{PHOTO_DOMAIN} without the held-out photos",
                    domain_b=PAINTING_DOMAIN, model_dir=run.cyclegan_model_dir or "<temporary>",
                    steps_done=result.step, final_losses={k: round(v, 4) for k, v in result.losses.items()},
                    translate_long_side_px=s.cyclegan_translate_size, held_out=list(s.cyclegan_test_photos))
    a_train = "<folder with the domain-A photos minus the held-out ones>"
    train_args = ["python", "-m", "tfstyle.cyclegan.train", f"--domain_a={a_train}",
                  f"--domain_b={run.shown(PAINTING_DOMAIN)}", "--model_dir=runs/gallery_photo2painting"]
    for name in ("load_size", "image_size", "generator", "ngf", "ndf", "net_d", "n_layers_d", "pool_size", "epochs",
                 "decay_epochs", "max_steps"):
        train_args.append(f"--{name}={getattr(config, name)}")
    translate_args = ["python", "-m", "tfstyle.cyclegan.translate", "--model_dir=runs/gallery_photo2painting",
                      "--direction=a2b", "--input=<folder with the held-out photos, "
                      f"{s.cyclegan_translate_size} px long side>", "--output=paintings/"]
    return [Picture(
        file="cyclegan.jpg", section="cyclegan",
        description="CycleGAN photo -> painting (G: A -> B) on photos held out of training, short CPU run",
        inputs=(PHOTO_DOMAIN, PAINTING_DOMAIN, *s.cyclegan_test_photos), settings=settings,
        equivalent=(shlex.join(train_args), shlex.join(translate_args)),
        seconds=round(time.perf_counter() - start, 1),
    )]


SECTION_FUNCTIONS = {
    "grid": make_grid, "colour": make_colour, "highres": make_highres, "cyclegan": make_cyclegan,
}


# ---------------------------------------------------------------------------------------------
# commands.json and CREDITS.md
# ---------------------------------------------------------------------------------------------


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", REPO, "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out + ("+uncommitted changes" if dirty else "")


def load_commands(out: str) -> dict:
    """The existing commands.json of `out` ({} when absent or unreadable: it is rewritten whole)."""
    path = os.path.join(out, COMMANDS_FILE)
    try:
        with open(path, encoding="utf-8") as file:
            entries = json.load(file)
    except (OSError, json.JSONDecodeError):
        return {}
    return entries if isinstance(entries, dict) else {}


def picture_entry(run: Run, picture: Picture, commit: str | None) -> dict:
    return {
        "section": picture.section,
        "description": picture.description,
        "command": run.command,
        "rerun": run.rerun(picture.section),
        "settings": picture.settings,
        "inputs": list(picture.inputs),
        "equivalent": list(picture.equivalent),
        "seconds": picture.seconds,
        "device": "GPU" if distribute.has_gpu() else "CPU",
        "commit": commit,
        "made": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
    }


def credits_markdown(entries: dict, sources: dict[str, dict[str, str]]) -> str:
    """CREDITS.md: per picture, every input's title, author and licence (from SOURCES.csv)."""
    lines = [
        "# Credits for the gallery pictures", "",
        "Every picture here was made by tfstyle from images in tfstyle's shared data folder. Their authors "
        f"and licences, from its `{SOURCES_FILE}` (paths relative to `shared/data/`), are listed below. "
        "CC-BY and CC-BY-SA images require this attribution; a picture made from a CC-BY-SA image is shared "
        "under CC-BY-SA too. The paintings themselves are in the public domain; the GCompris scans are "
        "GPL-3.0-or-later, as noted per file. The style-transfer features come from the ImageNet VGG19 "
        "weights of Simonyan & Zisserman (2014), released by Oxford's Visual Geometry Group under a "
        "Creative Commons Attribution licence.", "",
    ]
    for name in sorted(entries):
        entry = entries[name]
        lines += [f"## {name}", "", entry.get("description", ""), ""]
        for relative in entry.get("inputs", []):
            if relative.rstrip("/") in (PHOTO_DOMAIN, PAINTING_DOMAIN):
                rows = [r for f, r in sources.items() if f.startswith(relative.rstrip("/") + "/")]
                licences = sorted({r["licence"].split(" (")[0] for r in rows})
                lines.append(f"- training data `{relative}/`: {len(rows)} images; licences: "
                             f"{'; '.join(licences)}; per-file credits in `{SOURCES_FILE}`")
            else:
                lines.append(f"- {credit_line(sources, relative)}")
        lines.append("")
    return "\n".join(lines)


def write_records(run: Run, pictures: list[Picture], sources: dict, commit: str | None) -> dict:
    """Merges this run's pictures into commands.json and rewrites CREDITS.md; returns the new entries."""
    entries = load_commands(run.out)
    new = {picture.file: picture_entry(run, picture, commit) for picture in pictures}
    entries.update(new)
    entries = {name: entries[name] for name in sorted(entries)}
    files.write_text(os.path.join(run.out, COMMANDS_FILE),
                     json.dumps(entries, indent=2, ensure_ascii=False) + "\n")
    files.write_text(os.path.join(run.out, CREDITS_FILE), credits_markdown(entries, sources))
    return new


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def _sections(only: list[str]) -> list[str]:
    unknown = [name for name in only if name not in SECTIONS]
    if unknown or not only:
        raise cli.UserError(f"--only: unknown section(s) {', '.join(unknown) or '(none given)'}; "
                            f"choose from {', '.join(SECTIONS)}")
    return [name for name in SECTIONS if name in only]


def _rerun_args() -> tuple[str, ...]:
    """The flags given on the command line, except --only, as `--name=value`."""
    args = []
    for name in ("shared", "out", "quick", "weights", "cyclegan_steps", "cyclegan_model_dir"):
        flag = FLAGS[name]
        if not flag.present:
            continue
        if isinstance(flag.value, bool):
            args.append(f"--{'' if flag.value else 'no'}{name}")
        elif name in ("shared", "out", "cyclegan_model_dir"):
            args.append(f"--{name}={_shell_path(flag.value)}")
        else:
            args.append(f"--{name}={flag.value}")
    return tuple(args)


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise cli.UserError(f"unexpected arguments: {' '.join(argv[1:])}")
    cli.setup_logging(FLAGS.verbose)
    # Every stylize() call compiles its own solver functions; TensorFlow then warns about "retracing",
    # which is expected here (one run per picture) and says nothing about the pictures.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    sections = _sections(FLAGS.only)
    settings = QUICK if FLAGS.quick else FULL
    shared = os.path.abspath(os.path.expanduser(FLAGS.shared))
    sources = check_shared(shared, settings, sections)
    if FLAGS.out:
        out = os.path.abspath(os.path.expanduser(FLAGS.out))
    elif FLAGS.quick:
        out = tempfile.mkdtemp(prefix="tfstyle-gallery-quick-")
    else:
        out = DEFAULT_OUT
    os.makedirs(out, exist_ok=True)
    run = Run(shared=shared, out=out, settings=settings, weights=FLAGS.weights,
              command=shlex.join(["python", SCRIPT, *sys.argv[1:]]), rerun_args=_rerun_args(),
              cyclegan_model_dir=(os.path.abspath(os.path.expanduser(FLAGS.cyclegan_model_dir))
                                  if FLAGS.cyclegan_model_dir else None))
    commit = _git_commit()
    logger.info("gallery: %s -> %s", ", ".join(sections), out)
    made = {}
    for section in sections:
        section_start = time.perf_counter()
        pictures = SECTION_FUNCTIONS[section](run, sources)
        made.update(write_records(run, pictures, sources, commit))
        logger.info("%s done in %.0f s", section, time.perf_counter() - section_start)
    total = sum(os.path.getsize(os.path.join(out, name)) for name in os.listdir(out)
                if name.lower().endswith((".jpg", ".png")))
    if total > SIZE_BUDGET_BYTES:
        logger.warning("the pictures in %s take %.2f MB, over the %.1f MB budget", out, total / 1e6,
                       SIZE_BUDGET_BYTES / 1e6)
    print(json.dumps(made, indent=2, ensure_ascii=False))
    print(f"gallery: {len(made)} pictures in {out} ({total / 1e6:.2f} MB); commands in "
          f"{os.path.join(out, COMMANDS_FILE)}, credits in {os.path.join(out, CREDITS_FILE)}")
    return 0


if __name__ == "__main__":
    cli.main_wrapper(main)()
