"""Output files that are never half-written: write beside the target, then rename.

Every file tfstyle writes (images, JSON, configs, converted weights) goes through here, so a run
that fails or is killed leaves either the old file or the new one, never a fragment.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator


def check_writable(path: str | os.PathLike) -> None:
    """Raises ValueError unless a file can be created at `path` (folder exists and is writable)."""
    directory = os.path.dirname(os.path.abspath(os.fspath(path)))
    if not os.path.isdir(directory):
        raise ValueError(f"output folder does not exist: {directory}")
    if not os.access(directory, os.W_OK):
        raise ValueError(f"output folder is not writable: {directory}")
    if os.path.isdir(path):
        raise ValueError(f"output path is a directory: {path}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yields a temp path beside `path` to write to; on success it replaces `path`, on error it is removed.

    The temp file keeps `path`'s extension (some writers choose the format by it) and gets the
    usual umask-based permissions rather than mkstemp's 0600.

    Raises:
        ValueError: the folder does not exist or is not writable, or `path` is a directory.
    """
    path = os.fspath(path)
    check_writable(path)
    directory = os.path.dirname(os.path.abspath(path))
    suffix = ".weights.h5" if path.endswith(".weights.h5") else os.path.splitext(path)[1]
    handle, temp_path = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=directory)
    os.close(handle)
    try:
        yield temp_path
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp_path, 0o666 & ~umask)
        os.replace(temp_path, path)
    except BaseException:
        if os.path.exists(temp_path):
            os.remove(temp_path)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Writes `data` to `path` atomically (see `atomic_path`)."""
    with atomic_path(path) as temp_path, open(temp_path, "wb") as file:
        file.write(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Writes UTF-8 `text` to `path` atomically (see `atomic_path`)."""
    write_bytes(path, text.encode("utf-8"))
