"""Tests of the run-folder owner (`tfstyle.training.rundir.RunDir`): finding the checkpoint to use whatever
happened to the `checkpoint` state file, falling back past a corrupt one, and config.json with its task key."""

from __future__ import annotations

import dataclasses
import glob
import json
import logging
import os

import pytest
import tensorflow as tf

from tfstyle.training.rundir import RunDir


@dataclasses.dataclass(frozen=True)
class _Config:
    model_dir: str = ""
    sizes: tuple[int, ...] = (1, 2)
    rate: float = 0.5


def _make_run(path, steps=(1, 2, 3)) -> RunDir:
    """A run folder whose checkpoints hold `value` == their step number."""
    run_dir = RunDir(path)
    value = tf.Variable(0.0)
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(value=value), run_dir.checkpoint_dir, max_to_keep=10)
    for step in steps:
        value.assign(float(step))
        manager.save(checkpoint_number=step)
    return run_dir


def _restore(run_dir: RunDir, **kwargs) -> tuple[str | None, float]:
    value = tf.Variable(-1.0)
    path = run_dir.restore(tf.train.Checkpoint(value=value), **kwargs)
    return path, float(value.numpy())


def _names(run_dir: RunDir) -> list[str]:
    return [os.path.basename(path) for path in run_dir.checkpoints()]


def test_layout_paths(tmp_path):
    run_dir = RunDir(tmp_path / "run")
    assert run_dir.path == str(tmp_path / "run")
    assert (run_dir.config_path, run_dir.checkpoint_dir, run_dir.log_dir) == tuple(
        str(tmp_path / "run" / name) for name in ("config.json", "checkpoints", "logs"))
    assert run_dir.worker_checkpoint_dir("worker", 1) == str(tmp_path / "run" / ".worker-worker-1" / "checkpoints")
    assert not os.path.exists(run_dir.path)  # nothing is created until something is written
    with pytest.raises(ValueError, match="--model_dir is required"):
        RunDir("")


def test_newest_first_and_restore(tmp_path):
    run_dir = _make_run(tmp_path)
    assert _names(run_dir) == ["ckpt-3", "ckpt-2", "ckpt-1"]
    assert run_dir.has_checkpoint()
    assert _restore(run_dir) == (os.path.join(run_dir.checkpoint_dir, "ckpt-3"), 3.0)


def test_state_file_deleted_garbage_or_stale_still_finds_the_newest(tmp_path):
    run_dir = _make_run(tmp_path)
    state_file = os.path.join(run_dir.checkpoint_dir, "checkpoint")
    os.remove(state_file)
    assert _names(run_dir) == ["ckpt-3", "ckpt-2", "ckpt-1"]
    assert _restore(run_dir)[1] == 3.0
    with open(state_file, "w") as file:
        file.write("model_checkpoint_path: {{{ not a proto")
    assert _names(run_dir) == ["ckpt-3", "ckpt-2", "ckpt-1"]
    # A stale state file naming only an older checkpoint, and one whose files are gone.
    with open(state_file, "w") as file:
        file.write('model_checkpoint_path: "ckpt-1"\nall_model_checkpoint_paths: "ckpt-1"\n'
                   'all_model_checkpoint_paths: "ckpt-9"\n')
    assert _names(run_dir) == ["ckpt-3", "ckpt-2", "ckpt-1"]
    assert _restore(run_dir)[1] == 3.0


def test_truncated_or_garbage_checkpoint_falls_back_to_the_previous(tmp_path, caplog):
    run_dir = _make_run(tmp_path)
    (data,) = glob.glob(os.path.join(run_dir.checkpoint_dir, "ckpt-3.data-*"))
    os.truncate(data, os.path.getsize(data) // 2)  # a crash mid-write
    with caplog.at_level(logging.WARNING, logger="tfstyle.training.rundir"):
        assert _restore(run_dir) == (os.path.join(run_dir.checkpoint_dir, "ckpt-2"), 2.0)
    assert "ckpt-3" in caplog.text and "trying the previous one" in caplog.text
    with open(os.path.join(run_dir.checkpoint_dir, "ckpt-2.index"), "wb") as file:
        file.write(b"\x00garbage" * 10)
    assert _restore(run_dir)[1] == 1.0
    for path in glob.glob(os.path.join(run_dir.checkpoint_dir, "ckpt-1.data-*")):
        os.truncate(path, 3)
    with pytest.raises(ValueError, match=r"no checkpoint in .* can be restored: ckpt-3: .*; ckpt-2: .*; ckpt-1: "):
        _restore(run_dir)


def test_a_checkpoint_of_other_objects_is_skipped_and_partial_reads_a_subset(tmp_path):
    run_dir = RunDir(tmp_path)
    first, second = tf.Variable(1.0), tf.Variable(2.0)
    tf.train.CheckpointManager(tf.train.Checkpoint(value=first, other=second), run_dir.checkpoint_dir,
                               max_to_keep=1).save(checkpoint_number=4)
    value = tf.Variable(0.0)
    assert run_dir.restore(tf.train.Checkpoint(value=value), partial=True).endswith("ckpt-4")
    assert float(value.numpy()) == 1.0
    missing = tf.Variable(0.0)
    with pytest.raises(ValueError, match="ckpt-4"):  # nothing named `absent` in the file
        run_dir.restore(tf.train.Checkpoint(absent=missing))


def test_no_checkpoint(tmp_path):
    run_dir = RunDir(tmp_path / "run")
    assert run_dir.checkpoints() == [] and not run_dir.has_checkpoint()
    assert _restore(run_dir) == (None, -1.0)
    os.makedirs(run_dir.checkpoint_dir)
    with pytest.raises(FileNotFoundError, match=r"has no checkpoint .*; train it first"):
        run_dir.restore_required(tf.train.Checkpoint(value=tf.Variable(0.0)), hint="train it first")


def test_config_round_trip_with_task_key(tmp_path):
    run_dir = RunDir(tmp_path / "run")
    config = _Config(model_dir=run_dir.path, sizes=(3, 4, 5))
    assert run_dir.save_config(config, task="fit") == run_dir.config_path
    values = json.loads(open(run_dir.config_path).read())
    assert list(values) == ["task", "model_dir", "sizes", "rate"] and values["task"] == "fit"
    assert run_dir.task() == "fit"
    assert run_dir.load_config(_Config, task="fit") == config  # the JSON list is a tuple again
    assert os.listdir(run_dir.path) == ["config.json"]  # written atomically: no temp file left


def test_config_of_another_task_is_refused(tmp_path):
    run_dir = RunDir(tmp_path)
    run_dir.save_config(_Config(), task="cyclegan")
    with pytest.raises(ValueError, match=r"holds a cyclegan run, not a adain run"):
        run_dir.load_config(_Config, task="adain")


def test_old_config_without_task_key_and_from_newer_versions(tmp_path):
    run_dir = RunDir(tmp_path)
    with open(run_dir.config_path, "w") as file:
        json.dump({"model_dir": "m", "sizes": [7], "from_the_future": True}, file)  # no "task", no "rate"
    assert run_dir.task() is None
    assert run_dir.load_config(_Config, task="anything") == _Config(model_dir="m", sizes=(7,), rate=0.5)


@pytest.mark.parametrize("text, message", [
    ("{not json", "config is not valid JSON"),
    ("[1, 2]", "config JSON must be an object"),
    ('{"rate": 1.0, "model_dir": "m", "sizes": [1], "unknown": 0, "rate_typo": 1}', None),
])
def test_bad_config_files(tmp_path, text, message):
    run_dir = RunDir(tmp_path)
    with pytest.raises(FileNotFoundError, match="no config.json"):
        run_dir.load_config(_Config, task="fit")
    with open(run_dir.config_path, "w") as file:
        file.write(text)
    if message is None:
        assert run_dir.load_config(_Config, task="fit").rate == 1.0
        return
    with pytest.raises(ValueError, match=message):
        run_dir.load_config(_Config, task="fit")


def test_check_writable(tmp_path):
    (tmp_path / "file").write_text("x")
    RunDir(tmp_path / "new" / "run").check_writable()  # may be created
    with pytest.raises(ValueError, match="not a directory"):
        RunDir(tmp_path / "file").check_writable()
    with pytest.raises(ValueError, match="cannot be created under a file"):
        RunDir(tmp_path / "file" / "run").check_writable()
    with pytest.raises(FileNotFoundError, match="no such model_dir"):
        RunDir(tmp_path / "missing").check_exists()
