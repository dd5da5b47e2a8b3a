"""`AppConfig`: the settings of the web app (`python -m tfstyle.app`), with their defaults, in one frozen dataclass.

The CLI defines its flags from these fields (`tfstyle.cli.define_flags`), so the library and the command line
share one set of defaults. TensorFlow-free: the CLI checks its flags before anything heavy loads.
"""

from __future__ import annotations

import dataclasses
import os

from tfstyle import options

DEFAULT_MODELS_DIR = "runs"  # may be absent: then only the bundled network is offered


@dataclasses.dataclass(frozen=True)
class AppConfig:
    """Where the app listens, where its models are, and the limits on what a client may send."""

    host: str = options.option("127.0.0.1", "address to listen on (127.0.0.1: this computer only; 0.0.0.0: every "
                                            "network interface, for other machines too)")
    port: int = options.option(7860, "TCP port to listen on (1-65535)")
    models_dir: str = options.option(
        DEFAULT_MODELS_DIR, "folder of trained runs (tfstyle.fast.train, tfstyle.cyclegan.train) and SavedModel "
        f"exports the app offers; the default {DEFAULT_MODELS_DIR}/ may be absent (then only the bundled network)")
    max_upload_mb: int = options.option(50, "largest file a client may upload, in MB (10^6 bytes)")
    max_pixels: int = options.option(25_000_000, "largest image (or video frame) a client may send, in pixels "
                                                 "(width x height), checked from the file's header before decoding")
    max_video_seconds: float = options.option(30.0, "longest clip the Video panel takes, in seconds")
    max_video_frames: int = options.option(900, "most frames a clip may have (checked with its duration)")
    queue_size: int = options.option(16, "most jobs that may wait for the device; more are refused until one ends")

    def validate(self) -> AppConfig:
        """Raises ValueError (or FileNotFoundError for a missing --models_dir) naming the first bad setting;
        returns self."""
        if not self.host.strip():
            raise ValueError("--host must not be empty (127.0.0.1 for this computer only)")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"--port must be in 1..65535, got {self.port}")
        if os.path.exists(self.models_dir) and not os.path.isdir(self.models_dir):
            raise ValueError(f"--models_dir is not a folder: {self.models_dir}")
        if not os.path.exists(self.models_dir) and self.models_dir != DEFAULT_MODELS_DIR:
            raise FileNotFoundError(f"--models_dir does not exist: {self.models_dir}")
        if self.max_upload_mb < 1:
            raise ValueError(f"--max_upload_mb must be at least 1, got {self.max_upload_mb}")
        if self.max_pixels < 64 * 64:
            raise ValueError(f"--max_pixels must be at least {64 * 64} (64 x 64 px), got {self.max_pixels}")
        if self.max_video_seconds <= 0:
            raise ValueError(f"--max_video_seconds must be > 0, got {self.max_video_seconds}")
        if self.max_video_frames < 1:
            raise ValueError(f"--max_video_frames must be at least 1, got {self.max_video_frames}")
        if self.queue_size < 1:
            raise ValueError(f"--queue_size must be at least 1, got {self.queue_size}")
        return self

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1_000_000

    @property
    def url(self) -> str:
        """The address a browser on this computer opens (a wildcard host is reached through 127.0.0.1)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"
