"""Image files and pixel conventions: the one place that reads, writes and changes pixel ranges.

Conventions (channels-last, RGB everywhere):

* files on disk: uint8 in [0, 255];
* pipelines and the style-transfer image variable: float32 in [0, 1];
* GAN generators and discriminators: float32 in [-1, 1] (`to_signed` / `from_signed`).

The VGG "caffe" preprocessing is *not* here: it belongs to `tfstyle.features`.
"""

from __future__ import annotations

import io
import os

import numpy as np
import tensorflow as tf
from PIL import Image, ImageOps, UnidentifiedImageError

from tfstyle import files

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")

# Matrix from RGB to YIQ (NTSC 1953), as used by Gatys et al. 2016 for luminance-only transfer.
_RGB_TO_YIQ = np.array(
    [
        [0.299, 0.587, 0.114],
        [0.595716, -0.274453, -0.321263],
        [0.211456, -0.522591, 0.311135],
    ],
    dtype=np.float32,
)
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


def is_image_file(path: str | os.PathLike) -> bool:
    """True when `path` is a regular file whose name ends in a known image extension."""
    return os.path.isfile(path) and str(path).lower().endswith(IMAGE_EXTENSIONS)


def list_images(directory: str | os.PathLike) -> list[str]:
    """Sorted paths of the image files directly inside `directory` (hidden files skipped).

    Raises:
        FileNotFoundError: `directory` does not exist or is not a folder.
        ValueError: the folder holds no image file.
    """
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"no such directory: {directory}")
    paths = sorted(
        os.path.join(directory, name)
        for name in os.listdir(directory)
        if not name.startswith(".") and is_image_file(os.path.join(directory, name))
    )
    if not paths:
        raise ValueError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in directory: {directory}")
    return paths


def _to_rgb(image: Image.Image) -> np.ndarray:
    """Any PIL mode -> uint8 [H, W, 3] RGB.

    16-bit and 32-bit modes are scaled to 8 bits (not clipped), CMYK goes through PIL's
    conversion, and anything with transparency (RGBA, LA, palette with a transparent index)
    is composited on white.
    """
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") or array.max(initial=0) > 255 else 255.0
        gray = np.clip(np.round(array / peak * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=-1)
    if image.mode == "F":
        array = np.asarray(image, dtype=np.float64)
        scale = 255.0 if array.max(initial=0) <= 1.0 else 1.0
        gray = np.clip(np.round(array * scale), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=-1)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def read_image_uint8(path: str | os.PathLike) -> np.ndarray:
    """Reads an image file as uint8 [H, W, 3] RGB in [0, 255], with its EXIF rotation applied.

    Handles every common mode: grayscale, 16-bit PNG, CMYK JPEG, RGBA / palette (composited
    on white) and EXIF-rotated photos.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is empty, not an image, or truncated; the message names the file.
    """
    path = check_file(path)
    return _decode_rgb(path, path)


def check_file(path: str | os.PathLike) -> str:
    """The cheap checks before decoding: `path` exists, is a file, and is not empty; returns it as str.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a directory, or a 0-byte file (the message names it).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path}")
    if os.path.isdir(path):
        raise ValueError(f"expected an image file, got a directory: {path}")
    if os.path.getsize(path) == 0:
        raise ValueError(f"empty file (0 bytes): {path}")
    return path


def decode_image_uint8(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decodes an encoded image (PNG, JPEG, ... file contents) like `read_image_uint8`.

    Args:
        data: the encoded file's bytes.
        name: what error messages call the image (e.g. "horse2zebra/trainA[12]").

    Returns:
        uint8 [H, W, 3] RGB in [0, 255], EXIF rotation applied.

    Raises:
        ValueError: empty, not an image, or truncated; the message names `name`.
    """
    if not data:
        raise ValueError(f"empty image (0 bytes): {name}")
    return _decode_rgb(io.BytesIO(data), name)


def _decode_rgb(file, name: str) -> np.ndarray:
    """PIL decode of a path or file object -> uint8 [H, W, 3]; errors become ValueError naming `name`."""
    # PIL's default (ImageFile.LOAD_TRUNCATED_IMAGES False) makes load() raise on a truncated file.
    try:
        with Image.open(file) as image:
            image.load()
            image = ImageOps.exif_transpose(image)
            return _to_rgb(image)
    except UnidentifiedImageError:
        raise ValueError(f"not an image (cannot identify the format): {name}") from None
    except PermissionError:
        raise
    except Image.DecompressionBombError as error:  # a header claiming more pixels than PIL's safety limit
        raise ValueError(f"image too large to decode safely: {name}: {error}") from None
    except (OSError, SyntaxError) as error:
        raise ValueError(f"cannot decode image (truncated or corrupt?): {name}: {error}") from None


def load_image(path: str | os.PathLike, long_side: int | None = None) -> np.ndarray:
    """Reads an image file as float32 [H, W, 3] RGB in [0, 1].

    Args:
        path: image file.
        long_side: when given, resize (antialiased) so that max(H, W) == long_side, keeping
            the aspect ratio.

    Raises:
        FileNotFoundError, ValueError: see `read_image_uint8`.
    """
    image = to_float(read_image_uint8(path))
    if long_side is not None:
        image = resize_long_side(image, long_side)
    return np.asarray(image, dtype=np.float32)


ImageLike = str | os.PathLike | np.ndarray
"""What the library's entry points accept as an image: a file path, uint8 [H, W, 3] in [0, 255] or
float [H, W, 3] in [0, 1]."""


def as_image(image: ImageLike, what: str = "image") -> np.ndarray:
    """An `ImageLike` as float32 [H, W, 3] RGB in [0, 1] (files are read with `load_image`).

    Args:
        image: a path, uint8 [H, W, 3] in [0, 255] or float [H, W, 3] in [0, 1].
        what: how error messages name it ("content", "style 2", ...).

    Raises:
        FileNotFoundError, ValueError: an unreadable file, or an array that is not [H, W, 3].
    """
    if isinstance(image, str | os.PathLike):
        return load_image(image)
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(f"{what} must be an [H, W, 3] RGB image, got shape {array.shape}")
    if array.dtype == np.uint8:
        return np.asarray(to_float(array), dtype=np.float32)
    return array.astype(np.float32)


def encode_image(image, path: str | os.PathLike, quality: int = 95) -> bytes:
    """Encodes float [0, 1] or uint8 [H, W, 3] as the format named by `path`'s extension.

    `quality` (1-95) applies to JPEG and WebP only.
    """
    array = np.asarray(to_uint8(image) if np.asarray(image).dtype != np.uint8 else image)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(f"expected an [H, W, 3] image, got shape {array.shape}")
    extension = os.path.splitext(os.fspath(path))[1].lower()
    formats = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP", ".webp": "WEBP",
               ".tif": "TIFF", ".tiff": "TIFF"}
    if extension not in formats:
        raise ValueError(f"unknown image extension {extension!r} for {path}: use one of {sorted(formats)}")
    buffer = io.BytesIO()
    options = {"quality": quality} if formats[extension] in ("JPEG", "WEBP") else {}
    Image.fromarray(array, "RGB").save(buffer, format=formats[extension], **options)
    return buffer.getvalue()


def save_image(path: str | os.PathLike, image, quality: int = 95) -> None:
    """Saves float [0, 1] (clipped) or uint8 [H, W, 3] RGB atomically; the format follows the extension
    (`quality`: JPEG/WebP only)."""
    files.write_bytes(path, encode_image(image, path, quality=quality))


# ---------------------------------------------------------------------------------------------
# Range changes (tensors or arrays in, tensors out). Nothing else in tfstyle converts ranges.
# ---------------------------------------------------------------------------------------------


def decode_rgb_in_graph(encoded: tf.Tensor) -> tf.Tensor:
    """TensorFlow's decode of one encoded image (PNG, JPEG, GIF, BMP, WebP) as `read_image_uint8` reads files,
    inside a graph (the served models' bytes signatures): uint8 [H, W, 3]; grey is expanded and transparency
    composited on white (round(rgb * a + 255 * (1 - a)), as PIL's `alpha_composite` on white), 16-bit scaled
    to 8, the first frame of an animation. EXIF orientation is not applied (TensorFlow's decoders ignore it)."""
    image = tf.io.decode_image(encoded, channels=0, dtype=tf.uint8, expand_animations=False)  # [H, W, 1..4]
    channels = tf.shape(image)[-1]
    colour = tf.cond(channels < 3, lambda: tf.repeat(image[..., :1], 3, axis=-1), lambda: image[..., :3])
    alpha = tf.cond(tf.equal(channels % 2, 0), lambda: image[..., -1:],  # LA (2) or RGBA (4)
                    lambda: tf.fill(tf.concat([tf.shape(image)[:2], [1]], 0), tf.constant(255, tf.uint8)))
    weight = tf.cast(alpha, tf.float32) / 255.0
    flat = tf.cast(colour, tf.float32) * weight + 255.0 * (1.0 - weight)
    return tf.cast(tf.clip_by_value(tf.round(flat), 0.0, 255.0), tf.uint8)


def to_float(image) -> tf.Tensor:
    """uint8 [..., 3] in [0, 255] -> float32 in [0, 1]."""
    return tf.cast(image, tf.float32) / 255.0


def to_uint8(image) -> tf.Tensor:
    """float [..., 3] in [0, 1] -> uint8 in [0, 255] (clip, scale, round)."""
    image = tf.clip_by_value(tf.cast(image, tf.float32), 0.0, 1.0)
    return tf.cast(tf.round(image * 255.0), tf.uint8)


def to_signed(image) -> tf.Tensor:
    """float32 [0, 1] -> float32 [-1, 1] (the GAN range)."""
    return tf.cast(image, tf.float32) * 2.0 - 1.0


def from_signed(image) -> tf.Tensor:
    """float [-1, 1] -> float32 [0, 1] (clipped)."""
    return tf.clip_by_value((tf.cast(image, tf.float32) + 1.0) * 0.5, 0.0, 1.0)


# A model's pixel range by name: "unit" = [0, 1] (pipelines, feed-forward style networks),
# "signed" = [-1, 1] (GAN generators).
VALUE_RANGES = ("signed", "unit")


def check_value_range(value_range: str) -> None:
    """Raises ValueError unless `value_range` is one of `VALUE_RANGES`."""
    if value_range not in VALUE_RANGES:
        raise ValueError(f"value_range must be one of {', '.join(VALUE_RANGES)}, got {value_range!r}")


def to_value_range(image, value_range: str) -> tf.Tensor:
    """float32 [0, 1] -> float32 in `value_range` ("unit": [0, 1] unchanged; "signed": [-1, 1])."""
    check_value_range(value_range)
    image = tf.cast(image, tf.float32)
    return to_signed(image) if value_range == "signed" else image


def from_value_range(image, value_range: str) -> tf.Tensor:
    """float in `value_range` ("unit": [0, 1]; "signed": [-1, 1]) -> float32 [0, 1] (clipped)."""
    check_value_range(value_range)
    if value_range == "signed":
        return from_signed(image)
    return tf.clip_by_value(tf.cast(image, tf.float32), 0.0, 1.0)


# ---------------------------------------------------------------------------------------------
# Geometry and colour
# ---------------------------------------------------------------------------------------------


def scaled_size(height: int, width: int, long_side: int) -> tuple[int, int]:
    """(H, W) scaled so that max(H, W) == long_side, aspect kept, each side at least 1."""
    scale = long_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize(image, size: tuple[int, int]) -> tf.Tensor:
    """Resizes float [..., H, W, 3] to `size` = (H', W'): bicubic with antialias, clipped to [0, 1]."""
    resized = tf.image.resize(tf.cast(image, tf.float32), size, method="bicubic", antialias=True)
    return tf.clip_by_value(resized, 0.0, 1.0)


def resize_long_side(image, long_side: int) -> tf.Tensor:
    """Resizes float [..., H, W, 3] in [0, 1] so that max(H, W) == long_side, aspect kept.

    Works eagerly and in graphs (`tf.data` map, `tf.function`) where H and W are only known at
    run time; both paths round like `scaled_size`.
    """
    image = tf.convert_to_tensor(image)
    height, width = image.shape[-3], image.shape[-2]
    if height is not None and width is not None:
        return resize(image, scaled_size(height, width, long_side))
    shape = tf.cast(tf.shape(image)[-3:-1], tf.float64)  # (H, W), dynamic
    scale = long_side / tf.reduce_max(shape)
    size = tf.maximum(tf.cast(tf.round(shape * scale), tf.int32), 1)
    return resize(image, size)


def rgb_to_yiq(image) -> tf.Tensor:
    """float [..., 3] RGB in [0, 1] -> YIQ (Y in [0, 1], I in ~[-0.6, 0.6], Q in ~[-0.52, 0.52])."""
    return tf.tensordot(tf.cast(image, tf.float32), tf.constant(_RGB_TO_YIQ.T), axes=1)


def yiq_to_rgb(image) -> tf.Tensor:
    """Inverse of `rgb_to_yiq` (not clipped: out-of-gamut YIQ gives RGB outside [0, 1])."""
    return tf.tensordot(tf.cast(image, tf.float32), tf.constant(_YIQ_TO_RGB.T), axes=1)
