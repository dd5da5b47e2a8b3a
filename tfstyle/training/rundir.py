"""A run folder: the one owner of its layout and of finding the checkpoint to use.

Every command that reads or writes a training run (each trainer, translate, export, stylise,
evaluate) goes through `RunDir`, so they agree on where things are and on which checkpoint is
"the latest":

    <model_dir>/
      config.json          the run's frozen config as JSON, with "task" naming the trainer
      checkpoints/         tf.train.CheckpointManager files: checkpoint, ckpt-<step>.index/.data-*
      logs/                TensorBoard event files
      .worker-<type>-<id>/ scratch checkpoints of non-chief workers (removed when they finish)

The newest checkpoint is looked for in the `checkpoint` state file *and* among the `ckpt-*.index`
files, so a missing or damaged state file never hides a checkpoint; an unreadable checkpoint
(truncated by a crash, say) is skipped with a warning in favour of the previous one.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import logging
import os
import re
from typing import TypeVar

import tensorflow as tf

from tfstyle import files

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
CHECKPOINT_DIR = "checkpoints"
LOG_DIR = "logs"
TASK_KEY = "task"  # config.json key naming the trainer that wrote the run ("cyclegan", ...)

ConfigT = TypeVar("ConfigT")


def checkpoint_number(prefix: str) -> int:
    """The step number of a `.../ckpt-<N>` prefix, or -1 when it has none."""
    match = re.search(r"-(\d+)$", prefix)
    return int(match.group(1)) if match else -1


class RunDir:
    """The folder of one training run (`--model_dir`); nothing is created until something is written.

    Args:
        path: the run folder, absolute or relative to the working directory.
    """

    def __init__(self, path: str | os.PathLike):
        if not os.fspath(path):
            raise ValueError("--model_dir is required (a run folder)")
        self.path = os.path.abspath(os.fspath(path))

    def __repr__(self) -> str:
        return f"RunDir({self.path!r})"

    @property
    def config_path(self) -> str:
        return os.path.join(self.path, CONFIG_FILE)

    @property
    def checkpoint_dir(self) -> str:
        return os.path.join(self.path, CHECKPOINT_DIR)

    @property
    def log_dir(self) -> str:
        return os.path.join(self.path, LOG_DIR)

    def worker_checkpoint_dir(self, task_type: str, task_id: int) -> str:
        """Where a non-chief worker writes its (collective, then discarded) checkpoints."""
        return os.path.join(self.path, f".worker-{task_type}-{task_id}", CHECKPOINT_DIR)

    # -- checks ----------------------------------------------------------------------------------

    def check_writable(self) -> None:
        """Raises ValueError / PermissionError unless the run folder exists or can be created, and can be written."""
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise ValueError(f"--model_dir is not a directory: {self.path}")
        existing = self.path
        while not os.path.exists(existing):
            existing = os.path.dirname(existing)
        if not os.path.isdir(existing):
            raise ValueError(f"--model_dir cannot be created under a file: {existing}")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise PermissionError(f"--model_dir is not writable: {existing}")
        if os.path.isdir(self.path) and not os.access(self.path, os.R_OK):
            raise PermissionError(f"--model_dir is not readable: {self.path}")

    def check_exists(self) -> None:
        """Raises FileNotFoundError unless the run folder exists."""
        if not os.path.isdir(self.path):
            raise FileNotFoundError(f"no such model_dir: {self.path}")

    # -- config ----------------------------------------------------------------------------------

    def has_config(self) -> bool:
        return os.path.isfile(self.config_path)

    def task(self) -> str | None:
        """The trainer named in config.json ("cyclegan", ...), or None when the file names none.

        Raises:
            FileNotFoundError: no config.json (not a tfstyle run folder).
            ValueError: config.json is not a JSON object.
        """
        return self._read_config_values().get(TASK_KEY)

    def save_config(self, config, task: str) -> str:
        """Writes `config` (a dataclass) as config.json atomically, with `"task": task` first; returns its path."""
        os.makedirs(self.path, exist_ok=True)
        values = {TASK_KEY: task, **dataclasses.asdict(config)}
        files.write_text(self.config_path, json.dumps(values, indent=2) + "\n")
        return self.config_path

    def load_config(self, config_cls: type[ConfigT], task: str) -> ConfigT:
        """Reads config.json back into `config_cls`.

        Keys the class does not know (from a newer version) are ignored; missing ones take today's
        defaults; JSON lists become tuples where the field's default is a tuple.

        Raises:
            FileNotFoundError: no config.json (not a run folder).
            ValueError: the file is not a valid config, or was written by another trainer than `task`.
        """
        values = self._read_config_values()
        saved_task = values.pop(TASK_KEY, task)  # runs written before the key existed are taken as they are
        if saved_task != task:
            raise ValueError(f"{self.path} holds a {saved_task} run, not a {task} run")
        fields = {field.name: field for field in dataclasses.fields(config_cls)}
        kwargs = {}
        for name, value in values.items():
            if name not in fields:
                continue
            if isinstance(value, list) and isinstance(fields[name].default, tuple):
                value = tuple(value)
            kwargs[name] = value
        try:
            return config_cls(**kwargs)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{self.config_path}: {error}") from None

    def _read_config_values(self) -> dict:
        if not self.has_config():
            raise FileNotFoundError(f"no {CONFIG_FILE} in {self.path} (not a tfstyle run folder?)")
        with open(self.config_path, encoding="utf-8") as file:
            text = file.read()
        try:
            values = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"{self.config_path}: config is not valid JSON: {error}") from None
        if not isinstance(values, dict):
            raise ValueError(f"{self.config_path}: config JSON must be an object")
        return values

    # -- checkpoints -----------------------------------------------------------------------------

    def checkpoints(self, directory: str | None = None) -> list[str]:
        """Checkpoint prefixes in `directory` (default: `checkpoints/`), newest first.

        The union of what the `checkpoint` state file lists (when it is readable) and the
        `ckpt-*.index` files on disk, ordered by step number.
        """
        directory = os.path.abspath(directory or self.checkpoint_dir)
        if not os.path.isdir(directory):
            return []
        prefixes = {path[: -len(".index")] for path in glob.glob(os.path.join(directory, "ckpt-*.index"))}
        try:
            state = tf.train.get_checkpoint_state(directory)
        except Exception as error:  # noqa: BLE001 - a damaged state file must not hide the checkpoints
            logger.warning("checkpoint state file in %s is unreadable (%s); using the ckpt-* files", directory,
                           " ".join(str(error).split())[:200])
            state = None
        if state is not None:
            for path in [*state.all_model_checkpoint_paths, state.model_checkpoint_path]:
                if path:
                    path = path if os.path.isabs(path) else os.path.join(directory, path)
                    if os.path.exists(path + ".index"):
                        prefixes.add(path)
        return sorted(prefixes, key=checkpoint_number, reverse=True)

    def has_checkpoint(self) -> bool:
        return bool(self.checkpoints())

    def restore(self, checkpoint: tf.train.Checkpoint, *, partial: bool = False,
                directory: str | None = None) -> str | None:
        """Restores the newest readable checkpoint into `checkpoint`; returns its prefix, or None if there is none.

        Args:
            checkpoint: the objects to restore. With `partial`, only these need to be in the file
                (e.g. one generator of a CycleGAN run); without it, the file must also hold
                nothing they lack.
            partial: read a subset of a training checkpoint (`expect_partial`).
            directory: where to look (default `checkpoints/`).

        Raises:
            ValueError: checkpoints exist but none can be restored into `checkpoint` (the message
                lists why each failed).
        """
        candidates = self.checkpoints(directory)
        errors = []
        for path in candidates:
            try:
                status = checkpoint.restore(path)
                if partial:
                    status.expect_partial()
                status.assert_existing_objects_matched()
            except Exception as error:  # noqa: BLE001 - OpError, ValueError, AssertionError, IndexError ("Read less bytes")
                message = " ".join(str(error).split())[:300]
                logger.warning("cannot restore checkpoint %s (%s): trying the previous one", path, message)
                errors.append(f"{os.path.basename(path)}: {message}")
                continue
            logger.info("restored %s", path)
            return path
        if candidates:
            raise ValueError(f"no checkpoint in {directory or self.checkpoint_dir} can be restored: "
                             f"{'; '.join(errors)}")
        return None

    def check_has_checkpoint(self, hint: str = "") -> None:
        """Raises FileNotFoundError when the run has no checkpoint at all (`hint` says how to make one).

        Cheap (file names only): readers call it before building models, so a run that never saved
        fails at once.
        """
        if not self.has_checkpoint():
            raise FileNotFoundError(
                f"{self.path} has no checkpoint (nothing in {self.checkpoint_dir}){'; ' + hint if hint else ''}"
            )

    def restore_required(self, checkpoint: tf.train.Checkpoint, *, partial: bool = True, hint: str = "") -> str:
        """`restore` for readers (translate, export, stylise): a run without a checkpoint is an error.

        Raises:
            FileNotFoundError: no checkpoint at all (`hint` says how to make one).
            ValueError: none of the checkpoints can be restored into `checkpoint`.
        """
        self.check_has_checkpoint(hint)
        path = self.restore(checkpoint, partial=partial)
        assert path is not None  # there were candidates: restore returned one or raised
        return path
