"""Checks of a file a client uploaded, before anything decodes it: its type (from its content, not its name), its
size in bytes, and its pixel count (an image's from its header; a video's from its container, with its length).

A "decompression bomb" (a small file that decodes to billions of pixels) is refused from the header PIL reads on
`Image.open`, which decodes no pixel data. Each check raises `UploadRefused` with one line the page shows.
"""

from __future__ import annotations

import dataclasses
import os
import warnings

from PIL import Image, UnidentifiedImageError

# PIL format names of the images the engines read (tfstyle.images decodes them).
IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF")
# Container signatures: (offset, bytes) -> kind. MP4/MOV/M4V/3GP have "ftyp" at byte 4; Matroska and WebM start
# with the EBML magic; AVI is a RIFF file of type "AVI ".
_VIDEO_SIGNATURES = ((4, b"ftyp", "MP4/MOV"), (0, b"\x1a\x45\xdf\xa3", "Matroska/WebM"), (8, b"AVI ", "AVI"))


class UploadRefused(ValueError):
    """An upload that is not taken; the message says why in one line."""


@dataclasses.dataclass(frozen=True)
class VideoHeader:
    """What a clip's container says before any frame is decoded: `width` x `height` px, `frames` (0: unknown)
    and `seconds` (0: unknown)."""

    width: int
    height: int
    frames: int
    seconds: float


def _name(path: str) -> str:
    return os.path.basename(path) or path


def check_size(path: str | os.PathLike, max_bytes: int) -> int:
    """Returns the file's size in bytes; UploadRefused when it is over `max_bytes` or missing."""
    path = os.fspath(path)
    try:
        size = os.path.getsize(path)
    except OSError:
        raise UploadRefused(f"the upload {_name(path)} is missing on the server (upload it again)") from None
    if size > max_bytes:
        raise UploadRefused(f"{_name(path)} is {size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:g} MB "
                            "(--max_upload_mb)")
    return size


def check_pixels(width: int, height: int, max_pixels: int, name: str) -> None:
    """UploadRefused when `width` x `height` is over `max_pixels`."""
    if width * height > max_pixels:
        raise UploadRefused(f"{name} is {width}x{height} px = {width * height / 1e6:.1f} megapixels; the limit is "
                            f"{max_pixels / 1e6:g} megapixels (--max_pixels): make it smaller first")


def check_image(path: str | os.PathLike, max_bytes: int, max_pixels: int) -> tuple[int, int]:
    """Checks an uploaded image without decoding its pixels; returns its (height, width) in px.

    Raises:
        UploadRefused: too many bytes, not an image PIL recognises from its content (whatever its name), an image
            format the engines do not read, or more than `max_pixels` pixels.
    """
    path = os.fspath(path)
    check_size(path, max_bytes)
    name = _name(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:  # reads the header only
                image_format, (width, height) = image.format, image.size
    except Image.DecompressionBombError:  # PIL's own limit, far above ours: refused from the header too
        raise UploadRefused(f"{name} has too many pixels to decode safely; the limit is {max_pixels / 1e6:g} "
                            "megapixels (--max_pixels)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise UploadRefused(f"{name} is not an image ({', '.join(IMAGE_FORMATS)} are taken)") from None
    if image_format not in IMAGE_FORMATS:
        raise UploadRefused(f"{name} is a {image_format} image; only {', '.join(IMAGE_FORMATS)} are taken")
    check_pixels(width, height, max_pixels, name)
    return height, width


def video_kind(path: str | os.PathLike) -> str | None:
    """The container a file's first bytes announce ("MP4/MOV", "Matroska/WebM", "AVI"), or None."""
    with open(path, "rb") as file:
        head = file.read(16)
    for offset, magic, kind in _VIDEO_SIGNATURES:
        if head[offset:offset + len(magic)] == magic:
            return kind
    return None


def read_video_header(path: str | os.PathLike) -> VideoHeader:
    """The first video stream's size, frame count and duration, from the container (PyAV; no frame decoded).

    Raises:
        UploadRefused: FFmpeg cannot open it, or it has no video stream.
    """
    import av

    name = _name(os.fspath(path))
    try:
        with av.open(os.fspath(path)) as container:
            if not container.streams.video:
                raise UploadRefused(f"{name} has no video stream")
            stream = container.streams.video[0]
            seconds = 0.0
            if stream.duration and stream.time_base:
                seconds = float(stream.duration * stream.time_base)
            elif container.duration:
                seconds = container.duration / av.time_base
            return VideoHeader(stream.codec_context.width, stream.codec_context.height, stream.frames or 0, seconds)
    except (av.error.FFmpegError, UnicodeDecodeError):
        raise UploadRefused(f"{name} is not a video FFmpeg can read") from None


def check_video(path: str | os.PathLike, max_bytes: int, max_pixels: int, max_seconds: float,
                max_frames: int) -> VideoHeader:
    """Checks an uploaded clip before any frame is decoded: bytes, container type by content (MP4/MOV,
    Matroska/WebM, AVI), frame size, duration and frame count (each only when the container states it).

    Raises:
        UploadRefused: naming the limit that was passed.
    """
    path = os.fspath(path)
    check_size(path, max_bytes)
    name = _name(path)
    if video_kind(path) is None:
        raise UploadRefused(f"{name} is not a video (MP4, MOV, MKV, WebM or AVI are taken)")
    header = read_video_header(path)
    check_pixels(header.width, header.height, max_pixels, f"a frame of {name}")
    if header.seconds > max_seconds:
        raise UploadRefused(f"{name} lasts {header.seconds:.1f} s; the limit is {max_seconds:g} s "
                            "(--max_video_seconds): cut it shorter")
    if header.frames > max_frames:
        raise UploadRefused(f"{name} has {header.frames} frames; the limit is {max_frames} (--max_video_frames)")
    return header
