"""Paired training sets made from photos: edges -> photo and grey -> colour, in the reference's aligned format.

    python -m tfstyle.pix2pix.make_pairs --task edges --input ../shared/data/content/animals --output data/edges2photos

writes `<output>/train/` and `<output>/test/` (every `--test_every`-th photo, by sorted name, is held out) of
A|B PNG files, each half a `--size` px square (the photo resized on its short side and centre-cropped):
A is the input the network sees, B the photo it should give back, as `python -m tfstyle.pix2pix.train
--aligned <output>/train` reads them (`--direction AtoB`).

* `edges` (the reference's edges2shoes / edges2handbags recipe, with OpenCV's Canny instead of HED): black
  edges on white, from Canny (hysteresis thresholds `--low` / `--high` on a 5x5 Gaussian-blurred grey image).
* `grey` (the reference's colorization task, as grey -> RGB rather than its L -> ab): the photo's ITU-R BT.601
  luma in all three channels, so the network keeps the RGB in / RGB out of every other model here.

Outputs are all-or-nothing (written into a hidden folder beside `--output` and renamed into place at the end);
an existing `--output` is refused. This module holds the recipe; `tfstyle.pix2pix.make_pairs` is its command.
`edges` needs OpenCV (`pip install "tfstyle[pix2pix]"`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile

import numpy as np
from PIL import Image

from tfstyle import cli, images, options

logger = logging.getLogger(__name__)

TASKS = ("edges", "grey")


def square(photo: np.ndarray, size: int) -> np.ndarray:
    """uint8 [H, W, 3] -> uint8 [size, size, 3]: resized (Lanczos, antialiased) so the short side is `size`,
    then the centre square."""
    height, width = photo.shape[:2]
    scale = size / min(height, width)
    resized = np.asarray(Image.fromarray(photo).resize(
        (max(size, round(width * scale)), max(size, round(height * scale))), Image.LANCZOS))
    top, left = (resized.shape[0] - size) // 2, (resized.shape[1] - size) // 2
    return np.ascontiguousarray(resized[top:top + size, left:left + size])


def edges(photo: np.ndarray, low: int = 100, high: int = 200) -> np.ndarray:
    """uint8 [H, W, 3] RGB -> uint8 [H, W, 3]: Canny edges (Canny 1986; `cv2.Canny` on the 5x5 Gaussian-blurred
    BT.601 grey image, hysteresis thresholds `low` < `high` on the gradient magnitude) drawn black on white."""
    import cv2

    grey = cv2.GaussianBlur(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY), (5, 5), 0)
    drawn = np.where(cv2.Canny(grey, low, high) > 0, 0, 255).astype(np.uint8)
    return np.repeat(drawn[..., None], 3, axis=-1)


def grey(photo: np.ndarray) -> np.ndarray:
    """uint8 [H, W, 3] RGB -> uint8 [H, W, 3]: BT.601 luma Y = 0.299 R + 0.587 G + 0.114 B in every channel."""
    luma = np.rint(photo.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))
    return np.repeat(np.clip(luma, 0, 255).astype(np.uint8)[..., None], 3, axis=-1)


def pair(photo: np.ndarray, task: str, size: int, low: int = 100, high: int = 200) -> np.ndarray:
    """One A|B training image: uint8 [size, 2 size, 3], the task's input on the left, the photo on the right."""
    target = square(photo, size)
    source = edges(target, low, high) if task == "edges" else grey(target)
    return np.concatenate([source, target], axis=1)


@dataclasses.dataclass(frozen=True)
class PairsArgs:
    """Flags of `python -m tfstyle.pix2pix.make_pairs`."""

    task: str = options.option("edges", "edges: Canny edges -> photo; grey: grey -> colour", TASKS)
    input: str = options.option("", "folder of photos")
    output: str = options.option("", "new folder: train/ and test/ of A|B images")
    size: int = options.option(256, "side of each half, px")
    test_every: int = options.option(10, "hold out every N-th photo (by sorted name) in test/; 0 = none")
    low: int = options.option(100, "edges: Canny's lower hysteresis threshold")
    high: int = options.option(200, "edges: Canny's upper hysteresis threshold")

    def validate(self) -> None:
        if not self.input or not self.output:
            raise ValueError("--input (a folder of photos) and --output (a new folder) are required")
        if os.path.exists(self.output):
            raise ValueError(f"--output {self.output} already exists: give a new folder")
        if self.size < 8:
            raise ValueError(f"--size must be >= 8, got {self.size}")
        if self.test_every < 0 or self.test_every == 1:
            raise ValueError(f"--test_every must be 0 or >= 2, got {self.test_every}")
        if not 0 <= self.low < self.high:
            raise ValueError(f"need 0 <= --low < --high, got {self.low} and {self.high}")


def make_pairs(args: PairsArgs, progress=None) -> dict[str, int]:
    """Writes the set `args` describes; returns {"train": n, "test": m}.

    Raises:
        ValueError / FileNotFoundError: bad flags, folder or image (nothing is left behind).
        ImportError: OpenCV is missing (`edges`).
    """
    args.validate()
    paths = images.list_images(args.input)
    if args.task == "edges":
        try:
            import cv2  # noqa: F401
        except ImportError:
            raise cli.UserError('--task edges needs OpenCV: pip install "tfstyle[pix2pix]"') from None
    parent = os.path.dirname(os.path.abspath(args.output))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(args.output)}.", dir=parent)
    counts = {"train": 0, "test": 0}
    try:
        for split in counts:
            os.makedirs(os.path.join(staging, split))
        for index, path in enumerate(paths):
            split = "test" if args.test_every and index % args.test_every == args.test_every - 1 else "train"
            name = os.path.splitext(os.path.basename(path))[0] + ".png"
            Image.fromarray(pair(images.read_image_uint8(path), args.task, args.size, args.low, args.high)).save(
                os.path.join(staging, split, name))
            counts[split] += 1
            if progress is not None:
                progress.update(1)
        os.rename(staging, args.output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return counts
