"""A corpus of real-world and hostile image files, written on demand (no binary blobs in the repo).

`write_corpus(folder)` writes every case and returns them as `Case`s: its file, whether a reader must decode
it or refuse it, and for decodable ones the RGB picture it must give (EXIF rotation applied, transparency on
white, grey expanded, 16-bit scaled, the first frame or page of an animation or a multi-page file). Used by
tests/test_image_corpus.py (every case through the one reader and a few commands) and by
experiments/harden_images.py (every case through every command that takes an image, the README's table).

The reference pictures are computed here with numpy from the pixels written, not by the reader under test.
"""

from __future__ import annotations

import dataclasses
import io
import os
import struct
import zlib

import numpy as np
from PIL import Image

SIZE = (24, 40)  # (height, width) of the ordinary cases: wide, so a missed rotation changes the shape


@dataclasses.dataclass(frozen=True)
class Case:
    """One corpus file.

    Attributes:
        name: short id, e.g. "cmyk_jpeg".
        path: the file (or folder, for "directory_named_png").
        expected: uint8 [H, W, 3] the reader must give, or None when it must refuse the file.
        tolerance: max |difference| in levels of 255 allowed against `expected` (lossy formats).
        refusal: for refused cases, a regular expression the one error line must match.
    """

    name: str
    path: str
    expected: np.ndarray | None
    tolerance: int = 0
    refusal: str = ""

    @property
    def decodable(self) -> bool:
        return self.expected is not None


def pattern(height: int = SIZE[0], width: int = SIZE[1]) -> np.ndarray:
    """uint8 [H, W, 3], smooth (JPEG keeps it to a few levels) and asymmetric (every flip and turn differs)."""
    rows, columns = np.meshgrid(np.linspace(0, 1, height), np.linspace(0, 1, width), indexing="ij")
    red = 40 + 180 * columns
    green = 30 + 200 * rows
    blue = 60 + 120 * (rows * columns)
    return np.round(np.stack([red, green, blue], axis=-1)).astype(np.uint8)


# EXIF orientation -> what a viewer does to the stored pixels to show them upright (the TIFF/EXIF table).
_ORIENTATIONS = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: np.transpose(a, (1, 0, 2)),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.transpose(a[::-1, ::-1], (1, 0, 2)),
    8: lambda a: np.rot90(a, 1),
}


def _on_white(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha.astype(np.float64)[..., None] / 255.0
    return np.round(rgb * a + 255.0 * (1.0 - a)).astype(np.uint8)


def _huge_png_header(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height px, with a few bytes of image data: a decompression bomb's header."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b""))


def write_corpus(folder: str | os.PathLike) -> list[Case]:
    """Writes every case into `folder` (created); returns them in a fixed order."""
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    cases: list[Case] = []
    base = pattern()

    def path(name: str) -> str:
        return os.path.join(folder, name)

    def save(name: str, image: Image.Image, expected, tolerance: int = 0, **params) -> None:
        image.save(path(name), **params)
        cases.append(Case(name.replace(".", "_"), path(name), expected, tolerance))

    grey = np.round(base.astype(np.float64) @ [0.299, 0.587, 0.114]).astype(np.uint8)
    save("grey.png", Image.fromarray(grey, "L"), np.repeat(grey[..., None], 3, -1))
    alpha = np.tile(np.linspace(0, 255, SIZE[1]).astype(np.uint8), (SIZE[0], 1))
    save("grey_alpha.png", Image.fromarray(np.stack([grey, alpha], -1), "LA"),
         _on_white(np.repeat(grey[..., None], 3, -1), alpha))
    save("rgba.png", Image.fromarray(np.concatenate([base, alpha[..., None]], -1), "RGBA"), _on_white(base, alpha))

    palette = np.zeros(SIZE, np.uint8)
    palette[:, SIZE[1] // 2:] = 1
    palette[: SIZE[0] // 2, : SIZE[1] // 4] = 2  # index 2 is transparent
    indexed = Image.fromarray(palette, "P")
    indexed.putpalette([200, 30, 40, 20, 90, 210, 0, 255, 0] + [0] * (3 * 253))
    colours = np.array([[200, 30, 40], [20, 90, 210], [255, 255, 255]], np.uint8)
    save("palette_transparent.png", indexed, colours[palette], transparency=2)

    save("cmyk.jpg", Image.fromarray(base).convert("CMYK"), base, tolerance=12, quality=98)
    high = (base.astype(np.uint16)[..., 1] * 257)
    expected16 = np.round(high / 65535 * 255).astype(np.uint8)
    save("grey_16bit.png", Image.fromarray(high, "I;16"), np.repeat(expected16[..., None], 3, -1))
    save("progressive.jpg", Image.fromarray(base), base, tolerance=12, quality=95, progressive=True)
    save("baseline.jpg", Image.fromarray(base), base, tolerance=12, quality=95)
    save("photo.webp", Image.fromarray(base), base, tolerance=14, quality=95)
    save("lossless.webp", Image.fromarray(base), base, lossless=True)

    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        save(f"exif_orientation_{orientation}.jpg", Image.fromarray(base), _ORIENTATIONS[orientation](base),
             tolerance=12, quality=95, exif=exif.tobytes())

    frames = [Image.fromarray(base), Image.fromarray(255 - base)]
    frames[0].save(path("animated.gif"), save_all=True, append_images=frames[1:], duration=100, loop=0)
    first = np.asarray(Image.open(path("animated.gif")).convert("RGB"))  # GIF's 256-colour quantisation
    cases.append(Case("animated_gif", path("animated.gif"), first))
    frames[0].save(path("pages.tiff"), save_all=True, append_images=frames[1:])
    cases.append(Case("pages_tiff", path("pages.tiff"), base))
    save("one_pixel.png", Image.fromarray(base[:1, :1]), base[:1, :1])
    save("seven_by_three.png", Image.fromarray(base[:3, :7]), base[:3, :7])

    def refused(name: str, data: bytes | None, message: str) -> None:
        if data is not None:
            with open(path(name), "wb") as file:
                file.write(data)
        cases.append(Case(name.replace(".", "_"), path(name), None, refusal=message))

    refused("huge_header.png", _huge_png_header(100_000, 100_000), r"too large.*10000000000 pixels")
    encoded = io.BytesIO()
    Image.fromarray(pattern(64, 64)).save(encoded, "JPEG", quality=95)
    refused("truncated.jpg", encoded.getvalue()[: len(encoded.getvalue()) // 2], "truncated or corrupt")
    encoded = io.BytesIO()
    Image.fromarray(pattern(64, 64)).save(encoded, "PNG")
    refused("truncated.png", encoded.getvalue()[: len(encoded.getvalue()) // 2], "truncated or corrupt")
    refused("zero_bytes.jpg", b"", "empty file")
    refused("text_named.jpg", b"these are my holiday notes, not a photo\n", "not an image")
    refused("drawing.svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>', "not an image")
    os.makedirs(path("directory_named.png"), exist_ok=True)
    refused("directory_named.png", None, "directory")
    if os.geteuid() != 0:  # root reads any file
        refused("unreadable.png", encoded.getvalue(), "ermission denied")
        os.chmod(path("unreadable.png"), 0)
    return cases
