"""Long jobs under faults, on a real small disk: a tmpfs mounted for the test (root only; skipped where the
machine cannot mount one). After each fault the previous good state is intact, the command says what happened in
one `error:` line, and a rerun resumes or redoes only what was lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import helpers
import pytest

TINY = ["--load_size=36", "--image_size=32", "--generator=resnet_2blocks", "--ngf=8", "--ndf=8", "--netD=n_layers",
        "--n_layers_d=2", "--pool_size=4"]
FIXTURE = helpers.REPO / "tests" / "fixtures" / "torch_generators" / "resnet_9blocks_instance.pth"


def _mount(path, *options: str) -> bool:
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(path)],
                            capture_output=True, check=False)
    return result.returncode == 0


@pytest.fixture
def small_disk(tmp_path):
    """A folder on a tmpfs of 2600 KiB (one tiny CycleGAN checkpoint is ~1.6 MB); `resize(kib)` and
    `read_only(folder)` change it under a running job, as a disk that fills or fails."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or not _mount(disk, "size=2600k"):
        pytest.skip("needs root and tmpfs mounts to make a small disk")

    class Disk:
        path = disk

        @staticmethod
        def resize(kib: int) -> None:
            subprocess.run(["mount", "-o", f"remount,size={kib}k", str(disk)], check=True)

        @staticmethod
        def read_only(folder, on: bool = True) -> None:
            """Makes `folder` (in use: open files keep the disk busy) read-only by mounting an empty read-only
            tmpfs over it, or undoes that."""
            command = ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)] if on else \
                ["umount", str(folder)]
            subprocess.run(command, check=True)
            overlays.append(folder) if on else overlays.remove(folder)

    overlays: list = []
    yield Disk
    for folder in overlays:
        subprocess.run(["umount", "-l", str(folder)], check=False)
    subprocess.run(["umount", "-l", str(disk)], check=False)


def _train(data, model_dir, *extra):
    return helpers.run_module("tfstyle.cyclegan.train", f"--domain_a={data / 'A'}", f"--domain_b={data / 'B'}",
                              f"--model_dir={model_dir}", *TINY, "--checkpoint_every_steps=2", *extra)


def test_disk_full_at_a_checkpoint_keeps_the_last_one_and_a_rerun_resumes(small_disk, tmp_path):
    data = helpers.make_two_domain_set(tmp_path / "data")
    run = small_disk.path / "run"
    full = _train(data, run, "--max_steps=4")
    helpers.one_error_line(full, r"cannot write checkpoint ckpt-4 .*No space left on device; the last saved one "
                                 r"is ckpt-2: free space .* rerun", code=1)
    names = sorted(os.listdir(run / "checkpoints"))
    assert "ckpt-2.index" in names and not any(name.startswith("ckpt-4") for name in names)  # no half-written one
    translated = tmp_path / "out.png"  # the kept checkpoint is whole
    result = helpers.run_module("tfstyle.cyclegan.translate", "--model_dir", run, "--input", data / "A" / "a_00.png",
                                "--output", translated)
    assert result.returncode == 0, result.stderr[-1500:]

    small_disk.resize(8192)
    resumed = _train(data, run, "--max_steps=4")
    assert resumed.returncode == 0, resumed.stderr[-1500:]
    assert "at step 2" in resumed.stderr and "ckpt-4" in resumed.stderr  # redid steps 3 and 4 only


@pytest.mark.slow
def test_checkpoint_folder_made_read_only_mid_run(small_disk, tmp_path):
    from tfstyle.cyclegan import config as config_lib
    from tfstyle.cyclegan import trainer
    from tfstyle.training import loop, rundir

    data = helpers.make_two_domain_set(tmp_path / "data")
    small_disk.resize(8192)
    config = config_lib.tiny(domain_a=str(data / "A"), domain_b=str(data / "B"), model_dir=str(small_disk.path / "run"),
                             max_steps=4, checkpoint_every_steps=2)

    checkpoints = small_disk.path / "run" / "checkpoints"

    def fail_after_step_2(info):
        if info.step == 3:
            small_disk.read_only(checkpoints)

    with pytest.raises(loop.CheckpointWriteFailed, match=r"ckpt-4 .*Read-only file system; the last saved one is "
                                                         r"ckpt-2"):
        trainer.train(config, callback=fail_after_step_2)
    small_disk.read_only(checkpoints, on=False)
    assert [os.path.basename(path) for path in rundir.RunDir(config.model_dir).checkpoints()] == ["ckpt-2"]
    resumed = trainer.train(config)
    assert resumed.step == 4


@pytest.mark.slow
def test_export_on_a_full_disk_writes_nothing_and_a_killed_export_leaves_no_version(small_disk, tmp_path):
    run = tmp_path / "run"
    imported = helpers.run_module("tfstyle.cyclegan.import_torch", FIXTURE, "--model_dir", run)
    assert imported.returncode == 0, imported.stderr[-1500:]
    small_disk.resize(64)  # the SavedModel needs ~400 KB
    export_dir = small_disk.path / "export"
    full = helpers.run_module("tfstyle.cyclegan.export", "--model_dir", run, "--export_dir", export_dir)
    helpers.one_error_line(full, "No space left on device", code=full.returncode)
    assert full.returncode != 0
    assert not export_dir.exists() or os.listdir(export_dir) == []

    small_disk.resize(8192)
    process = subprocess.Popen([sys.executable, "-m", "tfstyle.cyclegan.export", "--model_dir", str(run),
                                "--export_dir", str(export_dir)], env=helpers.env(), cwd=helpers.REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:  # kill -9 while it stages the version
        if export_dir.exists() and any(name.startswith(".tmp-") for name in os.listdir(export_dir)):
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    process.wait(30)
    if process.returncode == 0:
        pytest.fail("the export finished before it could be killed while staging")
    assert [name for name in os.listdir(export_dir) if not name.startswith(".")] == []  # no partial version
    again = helpers.run_module("tfstyle.cyclegan.export", "--model_dir", run, "--export_dir", export_dir)
    assert again.returncode == 0, again.stderr[-1500:]
    assert [name for name in os.listdir(export_dir) if not name.startswith(".")] == ["1"]
