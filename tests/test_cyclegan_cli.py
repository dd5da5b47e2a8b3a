"""`python -m tfstyle.cyclegan.train` in a subprocess: bad input, signals, kill -9, MultiWorker.

Bad input must give exactly one `error:` line, a non-zero exit and no traceback, and leave no
model_dir behind. The signal / crash / MultiWorker tests train for real (tiny models on two_domains)
and are marked slow. Data: the `two_domains` set (bundled images, no ../shared needed).
"""

from __future__ import annotations

import glob
import json
import os
import re
import signal
import subprocess
import sys
import time

import helpers
import pytest

from tfstyle.cyclegan import config as config_lib

TINY_FLAGS = ["--load_size=36", "--image_size=32", "--generator=resnet_2blocks", "--ngf=8", "--ndf=8",
              "--netD=n_layers", "--n_layers_d=2", "--pool_size=4"]


def _domains(folder) -> list[str]:
    return [f"--domain_a={folder / 'A'}", f"--domain_b={folder / 'B'}"]


def _train(*args, timeout=300) -> subprocess.CompletedProcess:
    return helpers.run_module("tfstyle.cyclegan.train", *args, timeout=timeout)


def _assert_one_error_line(proc: subprocess.CompletedProcess, pattern: str, code: int = 2) -> None:
    helpers.one_error_line(proc, pattern, code)


# ---------------------------------------------------------------------------------------------
# Bad input: one `error:` line, exit 2, nothing written
# ---------------------------------------------------------------------------------------------


def test_bad_inputs_give_one_error_line(two_domains, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "readme.txt").write_text("no images here")
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / "photo.jpg").write_bytes(b"not a jpeg at all")
    (tmp_path / "a_file").write_text("x")
    model_dir = tmp_path / "run"
    good = [*_domains(two_domains)]
    cases = [
        ([f"--domain_a={tmp_path / 'empty'}", f"--domain_b={two_domains / 'B'}", f"--model_dir={model_dir}"],
         r"--domain_a: .*no image"),
        ([f"--domain_a={two_domains / 'A'}", f"--domain_b={tmp_path / 'text'}", f"--model_dir={model_dir}"],
         r"--domain_b: .*no image"),
        ([f"--domain_a={tmp_path / 'fake'}", f"--domain_b={two_domains / 'B'}", f"--model_dir={model_dir}"],
         r"--domain_a: not an image .*photo\.jpg"),
        ([*good, f"--model_dir={tmp_path / 'a_file'}"], r"--model_dir is not a directory"),
        ([*good, f"--model_dir={tmp_path / 'a_file' / 'run'}"], r"--model_dir cannot be created under a file"),
        (["--dataset=cycle_gan/no_such_set", f"--model_dir={model_dir}"], r"unknown TFDS dataset .*horse2zebra"),
        ([*good], r"--model_dir is required"),
        ([*good, f"--model_dir={model_dir}", "--image_size=30"], r"multiple of 4"),
        ([*good, f"--model_dir={model_dir}", "--no_such_flag=1"], r"no_such_flag"),
    ]
    for args, pattern in cases:
        _assert_one_error_line(_train(*TINY_FLAGS, "--max_steps=1", *args), pattern)
        assert not model_dir.exists(), args


def test_unreadable_or_incompatible_model_dir(two_domains, tmp_path):
    model_dir = tmp_path / "run"
    model_dir.mkdir()
    flags = [*_domains(two_domains), f"--model_dir={model_dir}", *TINY_FLAGS]
    (model_dir / "config.json").write_text("{ this is not json")
    _assert_one_error_line(_train(*flags), r"config.json: config is not valid JSON")
    saved = config_lib.tiny(domain_a=str(two_domains / "A"), domain_b=str(two_domains / "B"), model_dir=str(model_dir),
                            ngf=16, image_size=64, load_size=72)
    config_lib.save_config(saved)
    _assert_one_error_line(_train(*flags), r"different image_size \(saved 64, now 32\), ngf \(saved 16, now 8\)")
    assert sorted(os.listdir(model_dir)) == ["config.json"]
    assert config_lib.load_config(model_dir) == saved


# ---------------------------------------------------------------------------------------------
# Slow: signals, kill -9, MultiWorker
# ---------------------------------------------------------------------------------------------


def _latest_step(model_dir) -> int:
    steps = [int(re.search(r"ckpt-(\d+)\.index$", p).group(1))
             for p in glob.glob(os.path.join(model_dir, "checkpoints", "ckpt-*.index"))]
    return max(steps, default=0)


def _start(args, log_path) -> subprocess.Popen:
    log = open(log_path, "w")  # noqa: SIM115 - closed by the child's exit
    return subprocess.Popen([sys.executable, "-m", "tfstyle.cyclegan.train", *args], stdout=log, stderr=log,
                            env=helpers.env(), text=True)


def _wait_for_checkpoint(model_dir, above: int, proc: subprocess.Popen, timeout: float = 240) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "training exited early"
        step = _latest_step(model_dir)
        if step > above:
            return step
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("no checkpoint in time")


@pytest.mark.slow
def test_sigterm_sigint_and_kill_9_recovery(two_domains, tmp_path):
    model_dir = tmp_path / "run"
    flags = [*_domains(two_domains), f"--model_dir={model_dir}", *TINY_FLAGS,
             "--checkpoint_every_steps=2", "--epochs=1000", "--decay_epochs=1000"]
    # SIGTERM: finish the step, save, exit 0 with a log line.
    proc = _start(flags, tmp_path / "term.log")
    _wait_for_checkpoint(model_dir, 0, proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 0, (tmp_path / "term.log").read_text()[-2000:]
    log = (tmp_path / "term.log").read_text()
    stopped = int(re.search(r"stopped by SIGTERM at step (\d+)", log).group(1))
    assert _latest_step(model_dir) == stopped

    # kill -9 in the middle of the resumed run: nothing is saved at the kill ...
    proc = _start(flags, tmp_path / "kill.log")
    _wait_for_checkpoint(model_dir, stopped, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert f"resumed from {model_dir}/checkpoints/ckpt-{stopped}" in (tmp_path / "kill.log").read_text()
    killed_at = _latest_step(model_dir)
    assert killed_at > stopped

    # ... and the next run resumes from the last checkpoint; SIGINT also saves, and exits 130.
    proc = _start(flags, tmp_path / "int.log")
    _wait_for_checkpoint(model_dir, killed_at, proc)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 130
    log = (tmp_path / "int.log").read_text()
    assert f"resumed from {model_dir}/checkpoints/ckpt-{killed_at}" in log
    interrupted = int(re.search(r"stopped by SIGINT at step (\d+)", log).group(1))
    assert _latest_step(model_dir) == interrupted > killed_at


@pytest.mark.slow
def test_multi_worker_two_processes(two_domains, tmp_path, free_ports):
    """Two workers on localhost (TF_CONFIG), MultiWorkerMirroredStrategy, global batch 2: the chief
    writes checkpoints, logs and config; the other worker's temporary folder is gone at the end."""
    model_dir = tmp_path / "run"
    cluster = {"worker": [f"localhost:{port}" for port in free_ports(2)]}
    flags = [*_domains(two_domains), f"--model_dir={model_dir}", *TINY_FLAGS,
             "--strategy=multi_worker", "--batch_size=2", "--max_steps=4", "--checkpoint_every_steps=2"]
    procs = []
    for index in range(2):
        env = helpers.env(TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        log = open(tmp_path / f"worker{index}.log", "w")  # noqa: SIM115
        procs.append(subprocess.Popen([sys.executable, "-m", "tfstyle.cyclegan.train", *flags], stdout=log,
                                      stderr=log, env=env))
    try:
        codes = [proc.wait(timeout=400) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    logs = [(tmp_path / f"worker{i}.log").read_text() for i in range(2)]
    assert codes == [0, 0], "\n".join(log[-2000:] for log in logs)
    assert all(re.search(r"strategy CollectiveAllReduceStrategy, 2 replica\(s\)", log) for log in logs)
    assert all("step 4 (epoch 2), max_steps" in log for log in logs)
    assert _latest_step(model_dir) == 4
    assert sorted(os.listdir(model_dir)) == ["checkpoints", "config.json", "logs"]  # no .worker-* left
    assert len(glob.glob(str(model_dir / "logs" / "events.*"))) == 1  # the chief's only
