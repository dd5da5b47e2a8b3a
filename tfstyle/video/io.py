"""Video in and out: media files through PyAV (FFmpeg's libraries) and folders of numbered frames.

* `probe(path)` -> `VideoInfo` (size, frame rate, frame count, audio) of a video file or a frame folder;
* `read_frames(path, start)` yields its frames as uint8 [H, W, 3] RGB, from frame `start` on;
* `write_video(frames, path, fps, audio_from=...)` encodes frames to a file (H.264, CRF 18, by default),
  copying the audio stream of `audio_from` through unchanged; the file is written beside the target under a
  hidden name and renamed into place when complete, so a reader never sees half a video;
* `frame_path(folder, index)` / `list_frames(folder)`: the frame-folder convention, `frame_000001.png`, ...
  (1-based, as FFmpeg's `%06d` patterns).

H.264 in yuv420p needs even sides: an odd-sized video is encoded in yuv444p instead (same size, High 4:4:4
profile), so sizes are always kept. Frame rates are exact fractions (29.97 fps is 30000/1001).
"""

from __future__ import annotations

import dataclasses
import fractions
import os
import re
from collections.abc import Iterable, Iterator

import numpy as np

from tfstyle import files, images

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")
FRAME_PATTERN = "frame_{:06d}.png"  # 1-based
DEFAULT_FOLDER_FPS = fractions.Fraction(24)
DEFAULT_CODEC = "libx264"
DEFAULT_CRF = 18  # visually lossless for x264


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """What a clip is: `width` x `height` px, `frames` frames at `fps` (frames per second, exact), `has_audio`,
    and whether it is a folder of frames."""

    path: str
    width: int
    height: int
    fps: fractions.Fraction
    frames: int
    has_audio: bool = False
    is_folder: bool = False

    @property
    def duration_s(self) -> float:
        return float(self.frames / self.fps)


def is_video_file(path: str | os.PathLike) -> bool:
    return os.fspath(path).lower().endswith(VIDEO_EXTENSIONS)


def frame_path(folder: str | os.PathLike, index: int) -> str:
    """The path of frame `index` (0-based) in a frame folder: frame_000001.png for index 0."""
    return os.path.join(os.fspath(folder), FRAME_PATTERN.format(index + 1))


def list_frames(folder: str | os.PathLike) -> list[str]:
    """The images of a frame folder in their numeric order (frame_2 before frame_10), whatever their names."""
    paths = images.list_images(folder)

    def key(path):
        numbers = re.findall(r"\d+", os.path.basename(path))
        return (int(numbers[-1]) if numbers else -1, os.path.basename(path))

    return sorted(paths, key=key)


def _open(path: str):
    import av

    try:
        return av.open(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file: {path}") from None
    except (av.error.FFmpegError, UnicodeDecodeError) as error:
        raise ValueError(f"not a video file FFmpeg can read: {path} ({error})") from None


def probe(path: str | os.PathLike, folder_fps: fractions.Fraction | float = DEFAULT_FOLDER_FPS) -> VideoInfo:
    """Describes a video file or a folder of frames (which plays at `folder_fps`).

    Raises:
        FileNotFoundError: no such file or folder.
        ValueError: not a video (or an image folder with no images), or a video with no frames.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        from tfstyle import data

        frames = list_frames(path)
        sizes = data.validate_image_files(frames)  # headers only: (height, width) each
        odd = next((frame for frame, size in zip(frames, sizes, strict=True) if size != sizes[0]), None)
        if odd is not None:
            raise ValueError(f"the frames of {path} differ in size: {os.path.basename(frames[0])} is "
                             f"{sizes[0][1]}x{sizes[0][0]} px, {os.path.basename(odd)} is not")
        return VideoInfo(path, sizes[0][1], sizes[0][0], fractions.Fraction(folder_fps).limit_denominator(100000),
                         len(frames), is_folder=True)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path}")
    if images.is_image_file(path):  # FFmpeg would read it as a one-frame video
        raise ValueError(f"not a video file: {path} is an image (python -m tfstyle.fast.stylize stylises images; "
                         "a folder of numbered frames is a video)")
    with _open(path) as container:
        if not container.streams.video:
            raise ValueError(f"no video stream in {path}")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        count = stream.frames or sum(1 for _ in container.decode(video=0))  # some containers do not say
        if count == 0 or not rate:
            raise ValueError(f"the video has no frames: {path}")
        return VideoInfo(path, stream.codec_context.width, stream.codec_context.height, fractions.Fraction(rate),
                         count, has_audio=bool(container.streams.audio))


def read_frames(path: str | os.PathLike, start: int = 0) -> Iterator[np.ndarray]:
    """Yields the frames of a video file or frame folder from frame `start` (0-based) on: uint8 [H, W, 3] RGB."""
    path = os.fspath(path)
    if os.path.isdir(path):
        for frame in list_frames(path)[start:]:
            yield images.read_image_uint8(frame)
        return
    with _open(path) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index >= start:
                yield frame.to_ndarray(format="rgb24")


def write_video(frames: Iterable[np.ndarray], path: str | os.PathLike, fps: fractions.Fraction | float, *,
                audio_from: str | os.PathLike | None = None, codec: str = DEFAULT_CODEC,
                crf: int = DEFAULT_CRF) -> int:
    """Encodes uint8 [H, W, 3] RGB frames (all one size) to the video file `path`; returns the frame count.

    The audio stream of `audio_from` (a video file), if it has one, is copied through unchanged. The file is
    written under a hidden name beside `path` and renamed into place at the end (`tfstyle.files.atomic_path`):
    an error or Ctrl-C leaves no partial video.

    Raises:
        ValueError: no frames, or frames of different sizes.
    """
    import av

    rate = fractions.Fraction(fps).limit_denominator(100000)
    path = os.fspath(path)
    count = 0
    with files.atomic_path(path) as temp_path:
        with av.open(temp_path, "w", format=_container_format(path)) as output:
            stream = None
            for frame in frames:
                frame = np.ascontiguousarray(frame, dtype=np.uint8)
                if stream is None:
                    height, width = frame.shape[:2]
                    stream = output.add_stream(codec, rate=rate)
                    stream.width, stream.height = width, height
                    stream.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
                    stream.codec_context.time_base = 1 / rate
                    if codec == DEFAULT_CODEC:
                        stream.options = {"crf": str(crf)}
                    audio = _add_audio(output, audio_from)
                elif frame.shape[:2] != (height, width):
                    raise ValueError(f"frame {count} is {frame.shape[1]}x{frame.shape[0]} px, the video "
                                     f"{width}x{height}")
                video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
                video_frame.pts = count
                video_frame.time_base = 1 / rate
                for packet in stream.encode(video_frame):
                    output.mux(packet)
                count += 1
            if stream is None:
                raise ValueError(f"no frames to write to {path}")
            for packet in stream.encode():
                output.mux(packet)
            if audio is not None:
                _copy_audio(output, audio, audio_from)
    return count


def _container_format(path: str) -> str | None:
    """FFmpeg's muxer for the extension (the hidden temp name keeps it, but say it anyway)."""
    return {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm",
            ".avi": "avi"}.get(os.path.splitext(path)[1].lower())


def _add_audio(output, audio_from):
    """The output's audio stream, a copy of the source's first one (None when there is none)."""
    if audio_from is None or os.path.isdir(os.fspath(audio_from)):
        return None
    with _open(os.fspath(audio_from)) as source:
        if not source.streams.audio:
            return None
        return output.add_stream_from_template(source.streams.audio[0])


def _copy_audio(output, audio_stream, audio_from) -> None:
    """Remuxes every audio packet of `audio_from` into `audio_stream` (no re-encoding)."""
    with _open(os.fspath(audio_from)) as source:
        for packet in source.demux(source.streams.audio[0]):
            if packet.dts is None:  # the demuxer's flush packet
                continue
            packet.stream = audio_stream
            output.mux(packet)
