"""Tests for tfstyle.files: atomic writes leave the old file or the new one, never a fragment."""

import os
import stat

import pytest

from tfstyle import files


def test_write_bytes_creates_the_file_with_umask_permissions(tmp_path):
    target = tmp_path / "out.json"
    files.write_bytes(target, b"{}\n")
    assert target.read_bytes() == b"{}\n"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o666 & ~umask
    assert os.listdir(tmp_path) == ["out.json"]


def test_write_text_replaces_an_existing_file(tmp_path):
    target = tmp_path / "config.json"
    target.write_text("old")
    files.write_text(target, "new ✓")
    assert target.read_text(encoding="utf-8") == "new ✓"


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out.png"
    target.write_bytes(b"old")
    with pytest.raises(TypeError):
        files.write_bytes(target, "text, not bytes")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.png"]


def test_atomic_path_keeps_the_extension_and_renames_only_on_success(tmp_path):
    target = tmp_path / "model.weights.h5"
    with files.atomic_path(target) as temp_path:
        assert temp_path.endswith(".weights.h5") and os.path.dirname(temp_path) == str(tmp_path)
        assert not target.exists()
        with open(temp_path, "wb") as file:
            file.write(b"weights")
    assert target.read_bytes() == b"weights"
    with pytest.raises(RuntimeError), files.atomic_path(target) as temp_path:
        with open(temp_path, "wb") as file:
            file.write(b"half")
        raise RuntimeError("killed mid-write")
    assert target.read_bytes() == b"weights"
    assert os.listdir(tmp_path) == ["model.weights.h5"]


@pytest.mark.parametrize("case", ["missing_folder", "directory"])
def test_check_writable_names_the_problem(tmp_path, case):
    path = tmp_path / "missing" / "out.png" if case == "missing_folder" else tmp_path
    with pytest.raises(ValueError, match="does not exist" if case == "missing_folder" else "is a directory"):
        files.check_writable(path)
