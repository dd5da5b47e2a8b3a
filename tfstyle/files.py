"""Output files that are never half-written: write beside the target, then rename.

Every file tfstyle writes (images, JSON, configs, converted weights) goes through here, so a run
that fails or is killed leaves either the old file or the new one, never a fragment.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
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


def write_failure_cause(message: str) -> str:
    """The operating system's reason at the end of a TensorFlow file error's message, e.g. "No space left on
    device" from "{{function_node ...}} /path/part-0.tempstate1; No space left on device [Op:SaveV2]"."""
    message = re.sub(r"\s*\[Op:\w+\]$", "", " ".join(message.split()))
    return message.rsplit("; ", 1)[-1] if "; " in message else message


def write_text(path: str | os.PathLike, text: str) -> None:
    """Writes UTF-8 `text` to `path` atomically (see `atomic_path`)."""
    write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def scratch_dir(parent: str | os.PathLike, prefix: str = ".tmp-") -> Iterator[str]:
    """Yields a new hidden folder inside `parent` (created if needed), removed on exit whatever happens.

    Being on the same file system as `parent`, files in it can be moved into `parent` with an
    atomic `os.replace`.
    """
    parent = os.fspath(parent)
    os.makedirs(parent, exist_ok=True)
    path = tempfile.mkdtemp(prefix=prefix, dir=parent)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def staged_dir(target: str | os.PathLike) -> Iterator[str]:
    """Yields a hidden temp folder beside `target` to fill; on success it is renamed to `target`.

    A reader that only looks at visible names (TF Serving's integer version folders, say) never
    sees a partial folder, and a failure leaves nothing behind: the temp folder is removed, and so
    are the folders above `target` that this call created, if they are still empty. The renamed
    folder gets the usual umask-based permissions, not mkdtemp's 0700 (a server running as another
    user must be able to read an export).

    Raises:
        ValueError: `target` exists already (before or after filling: it is never overwritten), or
            a folder above it is a file.
    """
    target = os.path.abspath(os.fspath(target))
    parent = os.path.dirname(target)
    if os.path.exists(target):
        raise ValueError(f"{target} exists already; it is never overwritten")
    created = _missing_folders(parent)  # deepest first
    os.makedirs(parent, exist_ok=True)
    temp = tempfile.mkdtemp(prefix=f".tmp-{os.path.basename(target)}-", dir=parent)
    try:
        yield temp
        if os.path.exists(target):
            raise ValueError(f"{target} appeared while it was being written; it is never overwritten")
        os.chmod(temp, 0o777 & ~_umask())
        os.rename(temp, target)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        for folder in created:
            with contextlib.suppress(OSError):  # not empty (someone else wrote there) or gone
                os.rmdir(folder)
        raise


def _missing_folders(folder: str) -> list[str]:
    """The folders of the absolute path `folder` that do not exist yet, deepest first.

    Raises:
        ValueError: the first existing one is a file.
    """
    missing = []
    while not os.path.exists(folder):
        missing.append(folder)
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder):
        raise ValueError(f"{folder} is a file, not a folder")
    return missing


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


class StagedFiles:
    """All-or-nothing output of many files: each is written into a hidden folder beside its target,
    and all are moved into place only when the `with` block succeeds.

        with files.StagedFiles() as staged:
            for path, image in results:
                images.save_image(staged.path(path), image)
        # every path exists now; on an error none of them was touched

    The hidden folders are removed on exit whatever happens.
    """

    def __init__(self):
        self._folders: dict[str, str] = {}  # target folder -> its hidden staging folder
        self._targets: list[str] = []

    def path(self, target: str | os.PathLike) -> str:
        """Where to write `target` now (its folder must exist and be writable)."""
        target = os.path.abspath(os.fspath(target))
        check_writable(target)
        folder = os.path.dirname(target)
        if folder not in self._folders:
            self._folders[folder] = tempfile.mkdtemp(prefix=".tmp-staged-", dir=folder)
        self._targets.append(target)
        return os.path.join(self._folders[folder], os.path.basename(target))

    def __enter__(self) -> StagedFiles:
        return self

    def _staged(self, target: str) -> str:
        return os.path.join(self._folders[os.path.dirname(target)], os.path.basename(target))

    def __exit__(self, exc_type, exc, traceback) -> None:
        """Moves every staged file into place, or (on an error, or when one was never written) none.

        Raises:
            FileNotFoundError: a path was asked for but nothing was written there; no target is touched.
        """
        try:
            if exc_type is None:
                targets = list(dict.fromkeys(self._targets))
                unwritten = [target for target in targets if not os.path.lexists(self._staged(target))]
                if unwritten:
                    raise FileNotFoundError(f"nothing was written for {', '.join(unwritten)}; no output was moved "
                                            "into place")
                for target in targets:
                    os.replace(self._staged(target), target)
        finally:
            for folder in self._folders.values():
                shutil.rmtree(folder, ignore_errors=True)
