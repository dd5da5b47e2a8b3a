"""Tests for tfstyle.files: atomic writes leave the old file or the new one, never a fragment; staged folders
and file sets appear whole or not at all."""

import os
import pathlib
import stat

import pytest

from tfstyle import files


def test_write_bytes_creates_the_file_with_umask_permissions(tmp_path):
    target = tmp_path / "out.json"
    files.write_bytes(target, b"{}\n")
    assert target.read_bytes() == b"{}\n"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o666 & ~_umask()
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


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


# ---------------------------------------------------------------------------------------------
# scratch_dir
# ---------------------------------------------------------------------------------------------


def test_scratch_dir_is_a_hidden_folder_inside_parent_removed_on_exit(tmp_path):
    parent = tmp_path / "work" / "run"  # created if needed
    with files.scratch_dir(parent) as scratch:
        assert os.path.dirname(scratch) == str(parent) and os.path.basename(scratch).startswith(".tmp-")
        (pathlib.Path(scratch) / "nested").mkdir()
        (pathlib.Path(scratch) / "nested" / "part.bin").write_bytes(b"x")
        # Same file system as parent: a finished file moves out atomically and survives the exit.
        os.replace(pathlib.Path(scratch) / "nested" / "part.bin", parent / "kept.bin")
    assert sorted(os.listdir(parent)) == ["kept.bin"]


def test_scratch_dir_is_removed_when_the_block_fails(tmp_path):
    with pytest.raises(KeyboardInterrupt), files.scratch_dir(tmp_path, prefix=".tmp-export-") as scratch:
        assert os.path.basename(scratch).startswith(".tmp-export-")
        (pathlib.Path(scratch) / "half.bin").write_bytes(b"half")
        raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_two_scratch_dirs_never_collide(tmp_path):
    with files.scratch_dir(tmp_path) as first, files.scratch_dir(tmp_path) as second:
        assert first != second and os.path.isdir(first) and os.path.isdir(second)
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------------------------
# staged_dir
# ---------------------------------------------------------------------------------------------


def test_staged_dir_appears_whole_under_its_name_only_on_success(tmp_path):
    target = tmp_path / "saved_models" / "photo2painting" / "1"
    with files.staged_dir(target) as temp:
        assert os.path.dirname(temp) == str(target.parent)
        assert os.path.basename(temp).startswith(".")  # TF Serving lists visible integer names only
        assert not target.exists()
        (pathlib.Path(temp) / "variables").mkdir()
        (pathlib.Path(temp) / "saved_model.pb").write_bytes(b"graph")
        assert os.listdir(target.parent) == [os.path.basename(temp)]
    assert (target / "saved_model.pb").read_bytes() == b"graph" and (target / "variables").is_dir()
    assert os.listdir(target.parent) == ["1"]


def test_staged_dir_gets_umask_permissions_not_mkdtemps_0700(tmp_path):
    with files.staged_dir(tmp_path / "1") as temp:
        (pathlib.Path(temp) / "saved_model.pb").write_bytes(b"graph")
    assert stat.S_IMODE(os.stat(tmp_path / "1").st_mode) == 0o777 & ~_umask()


def test_a_failed_staged_dir_leaves_nothing_not_even_the_folders_it_made(tmp_path):
    target = tmp_path / "exports" / "model" / "1"
    with pytest.raises(RuntimeError), files.staged_dir(target) as temp:
        (pathlib.Path(temp) / "saved_model.pb").write_bytes(b"half")
        raise RuntimeError("killed mid-export")
    assert os.listdir(tmp_path) == []  # exports/ and exports/model/ were made by the call: gone too


def test_a_failed_staged_dir_keeps_folders_that_were_there_or_got_other_files(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "1").mkdir()  # an earlier version
    with pytest.raises(RuntimeError), files.staged_dir(tmp_path / "model" / "2"):
        raise RuntimeError("failed")
    assert os.listdir(tmp_path / "model") == ["1"]
    with pytest.raises(RuntimeError), files.staged_dir(tmp_path / "new" / "1"):
        (tmp_path / "new" / "README").write_text("someone else's file")
        raise RuntimeError("failed")
    assert os.listdir(tmp_path / "new") == ["README"]


def test_staged_dir_never_overwrites(tmp_path):
    target = tmp_path / "1"
    target.mkdir()
    (target / "saved_model.pb").write_bytes(b"old")
    with pytest.raises(ValueError, match="exists already"), files.staged_dir(target):
        pass
    # The target appears while the folder is filled (another exporter): refused, the other one's kept.
    other = tmp_path / "2"
    with pytest.raises(ValueError, match="appeared while"), files.staged_dir(other) as temp:
        (pathlib.Path(temp) / "saved_model.pb").write_bytes(b"mine")
        other.mkdir()
        (other / "saved_model.pb").write_bytes(b"theirs")
    assert (other / "saved_model.pb").read_bytes() == b"theirs"
    assert (target / "saved_model.pb").read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["1", "2"]


def test_staged_dir_under_a_file_is_refused(tmp_path):
    (tmp_path / "model").write_text("a file")
    for target in (tmp_path / "model" / "1", tmp_path / "model" / "sub" / "1"):
        with pytest.raises(ValueError, match="is a file"), files.staged_dir(target):
            pass
    assert os.listdir(tmp_path) == ["model"]


# ---------------------------------------------------------------------------------------------
# StagedFiles
# ---------------------------------------------------------------------------------------------


def test_staged_files_all_appear_together_at_the_end(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x.png").write_bytes(b"old x")
    targets = [tmp_path / "a" / "x.png", tmp_path / "a" / "y.png", tmp_path / "b" / "z.png"]
    with files.StagedFiles() as staged:
        for target in targets:
            path = staged.path(target)
            assert os.path.dirname(os.path.dirname(path)) == str(target.parent)  # same file system
            pathlib.Path(path).write_bytes(b"new " + target.name.encode())
            assert not target.exists() or target.read_bytes() == b"old x"  # nothing moved yet
    assert [target.read_bytes() for target in targets] == [b"new x.png", b"new y.png", b"new z.png"]
    assert sorted(os.listdir(tmp_path / "a")) == ["x.png", "y.png"] and os.listdir(tmp_path / "b") == ["z.png"]


def test_staged_files_touch_nothing_when_the_block_fails(tmp_path):
    (tmp_path / "x.png").write_bytes(b"old x")
    with pytest.raises(RuntimeError), files.StagedFiles() as staged:
        pathlib.Path(staged.path(tmp_path / "x.png")).write_bytes(b"new x")
        pathlib.Path(staged.path(tmp_path / "y.png")).write_bytes(b"new y")
        raise RuntimeError("the third image failed to decode")
    assert (tmp_path / "x.png").read_bytes() == b"old x"
    assert os.listdir(tmp_path) == ["x.png"]


def test_staged_files_with_an_unwritten_path_move_none(tmp_path):
    (tmp_path / "x.png").write_bytes(b"old x")
    with pytest.raises(FileNotFoundError, match="y.png"), files.StagedFiles() as staged:
        pathlib.Path(staged.path(tmp_path / "x.png")).write_bytes(b"new x")
        staged.path(tmp_path / "y.png")  # asked for, never written
    assert (tmp_path / "x.png").read_bytes() == b"old x"
    assert os.listdir(tmp_path) == ["x.png"]


def test_staged_files_refuse_a_missing_folder_and_clean_up(tmp_path):
    with pytest.raises(ValueError, match="does not exist"), files.StagedFiles() as staged:
        pathlib.Path(staged.path(tmp_path / "x.png")).write_bytes(b"x")
        staged.path(tmp_path / "missing" / "y.png")
    assert os.listdir(tmp_path) == []


def test_staged_files_same_target_twice_is_written_once(tmp_path):
    with files.StagedFiles() as staged:
        pathlib.Path(staged.path(tmp_path / "x.png")).write_bytes(b"first")
        pathlib.Path(staged.path(tmp_path / "x.png")).write_bytes(b"second")
    assert (tmp_path / "x.png").read_bytes() == b"second"
    assert os.listdir(tmp_path) == ["x.png"]
