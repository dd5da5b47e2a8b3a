"""TensorFlow's import for the CLIs: without its start-up notices (so that a failing CLI prints exactly one
`error:` line) and without the plotting library it loads for nothing (so that a CLI starts sooner).

A command must be able to fail with exactly one `error:` line, but TensorFlow's C++ runtime writes
to file descriptor 2 while `import tensorflow` loads its shared libraries, before absl logging is
set up, so TF_CPP_MIN_LOG_LEVEL does not hide those lines. TF 2.21 on CPU with oneDNN on (its
default) writes the "All log messages before absl::InitializeLog() is called are written to STDERR"
banner and port.cc's INFO "oneDNN custom operations are on", twice; with TF_CPP_MIN_LOG_LEVEL=0 also
cpu_feature_guard.cc's INFO "This TensorFlow binary is optimized ...". The CLIs used to set
TF_ENABLE_ONEDNN_OPTS=0 to avoid the oneDNN pair, and paid for it: the optimize CLI (40 Adam
iterations at 256 px, whole process, 3 interleaved runs each on a quiet 2-core AMD EPYC) takes 32.2
s with oneDNN on against 40.1 s off, 0.80x the wall time and 0.76x the CPU time
(experiments/bench_onednn.py, experiments/results/onednn_cpu_2026-12-01_quiet.json); a small
CycleGAN run (64 px, ResNet-3, ngf 16) trained at 4.2 instead of 1.9 steps/s (one run each, shared
CPU).

`install()` (which `tfstyle.cli` calls when it is imported, before TensorFlow, so every CLI has it)
sets TF_CPP_MIN_LOG_LEVEL=2 unless the user chose a level, leaves TF_ENABLE_ONEDNN_OPTS to the user,
and installs a one-shot `sys.meta_path` finder. Around the first `import tensorflow` (at module
import or lazily after the flags are parsed, under `python -m` or a console script alike) it points
fd 2 at a temp file, then restores it and writes back every captured line except those known INFO
notices, and those only when TF_CPP_MIN_LOG_LEVEL >= 1 (the level at which TensorFlow hides INFO
once absl is set up). Warnings and errors written during the import, from C++ or Python, are shown,
in order; if the import fails, everything captured is shown. Library code is not affected: nothing
happens unless `install()` runs before TensorFlow is imported.

During that same first import, matplotlib is kept out (`sys.modules` says it is not installed): `import
tensorflow` imports Keras for `tf.keras`, and Keras imports `matplotlib.pyplot` at module level for its
`keras.visualization.plot_*` helpers alone, which no tfstyle CLI calls. That import took 0.43 s of a
2.9 s `import tensorflow` on a 2-core Xeon (experiments/profile_startup.py), a tenth of a default
optimize run's start-up. Keras handles a missing matplotlib (its plot helpers then say it is required);
matplotlib itself imports normally afterwards, for anything that asks for it later.

What TensorFlow prints later goes through absl logging and obeys TF_CPP_MIN_LOG_LEVEL, whose default
2 still shows ERROR lines: with oneDNN on, CycleGAN training logs one "meta_optimizer.cc] remapper
failed: ... LeakyReluGrad" line when its step is first optimised (grappler's oneDNN Conv+BiasAdd+
LeakyRelu fusion under a gradient tape; grappler keeps that graph unfused and the run goes on). It
is not an `error:` line.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import os
import re
import sys
import tempfile
from collections.abc import Iterator

# ---------------------------------------------------------------------------------------------
# TensorFlow's pre-absl start-up notices (see the module docstring)
# ---------------------------------------------------------------------------------------------

# A C++ log line written before absl is initialised: severity, MMDD hh:mm:ss.micros (TF 2.21 prints
# "0000 00:00:<epoch seconds>" there), thread, file:line]
_GLOG_LINE = re.compile(
    rb"^(?P<severity>[IWEF])\d{4} \d\d:\d\d:\d+\.\d+ +\d+ (?P<source>[\w.]+):\d+\] (?P<message>.*)")
_ABSL_BANNER = b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
# (source file, start of the message) of the INFO notices TensorFlow prints on every start.
_START_UP_NOTICES = (
    (b"port.cc", b"oneDNN custom operations are on."),
    (b"cpu_feature_guard.cc", b"This TensorFlow binary is optimized to use available CPU instructions"),
)
# cpu_feature_guard's notice goes on over a second line.
_NOTICE_CONTINUATION = b"To enable the following instructions:"


def _tf_min_log_level() -> int:
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


def drop_start_up_notices(captured: bytes, min_log_level: int) -> bytes:
    """`captured` stderr bytes without TensorFlow's known INFO start-up notices (and the absl banner
    announcing them) when `min_log_level` (TF_CPP_MIN_LOG_LEVEL) hides INFO, i.e. is >= 1.

    Every other line, unknown INFO lines included, is kept byte for byte and in order.
    """
    if min_log_level < 1:
        return captured
    kept = []
    after_notice = False
    for line in captured.splitlines(keepends=True):
        text = line.rstrip(b"\r\n")
        match = _GLOG_LINE.match(text)
        is_notice = text == _ABSL_BANNER or (after_notice and text.startswith(_NOTICE_CONTINUATION)) or bool(
            match and match["severity"] == b"I"
            and any(match["source"] == source and match["message"].startswith(start)
                    for source, start in _START_UP_NOTICES))
        after_notice = is_notice and match is not None
        if not is_notice:
            kept.append(line)
    return b"".join(kept)


def _write_fd(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


@contextlib.contextmanager
def _start_up_notices_filtered() -> Iterator[None]:
    """Runs the block with fd 2 pointed at a temp file, then writes back what it caught, less the
    known start-up notices (everything, if the block raised)."""
    capture = None
    try:
        capture = tempfile.TemporaryFile()
        saved_stderr = os.dup(2)
    except OSError:  # no stderr, or no writable temp folder: import unfiltered
        if capture is not None:
            capture.close()
        yield
        return
    with capture:
        for stream in (sys.stdout, sys.stderr):  # what Python buffered so far goes out first
            with contextlib.suppress(Exception):
                stream.flush()
        os.dup2(capture.fileno(), 2)
        succeeded = False
        try:
            yield
            succeeded = True
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()  # Python-level writes made during the block belong to the capture
            os.dup2(saved_stderr, 2)
            os.close(saved_stderr)
            capture.seek(0)
            captured = capture.read()
            with contextlib.suppress(OSError):  # stderr closed meanwhile: nothing to show it on
                _write_fd(2, drop_start_up_notices(captured, _tf_min_log_level()) if succeeded else captured)


# Packages TensorFlow's import loads only for features no CLI uses (see the module docstring).
_KEPT_OUT_OF_IMPORT = ("matplotlib",)


@contextlib.contextmanager
def _kept_out(names: tuple[str, ...]) -> Iterator[None]:
    """Runs the block as if the packages `names` (not yet imported) were not installed: an import of one of
    them, or of a submodule, raises ModuleNotFoundError. Afterwards they import normally again."""
    hidden = [name for name in names if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # the import system's "not found" marker
    try:
        yield
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


class _QuietLoader(importlib.abc.Loader):
    """Wraps TensorFlow's own loader: its `exec_module` runs inside `_start_up_notices_filtered`, with the
    packages of `_KEPT_OUT_OF_IMPORT` kept out."""

    def __init__(self, finder: _TensorFlowImportHook, loader: importlib.abc.Loader):
        self._finder = finder
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        self._finder.uninstall()
        module.__loader__ = self._loader  # TensorFlow sees its own loader, as if we had never been here
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        with _start_up_notices_filtered(), _kept_out(_KEPT_OUT_OF_IMPORT):
            self._loader.exec_module(module)

    def __getattr__(self, name):  # is_package, get_resource_reader, ...: the real loader's
        return getattr(self._loader, name)


class _TensorFlowImportHook(importlib.abc.MetaPathFinder):
    """A `sys.meta_path` finder that gives the first `import tensorflow` a `_QuietLoader`, once."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "tensorflow":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is None or not hasattr(spec.loader, "exec_module"):
                    return None  # a namespace or legacy loader: let the import go as usual
                spec.loader = _QuietLoader(self, spec.loader)
                return spec
        return None

    def install(self) -> None:
        if "tensorflow" not in sys.modules and not any(isinstance(f, type(self)) for f in sys.meta_path):
            sys.meta_path.insert(0, self)

    def uninstall(self) -> None:
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)




def install() -> None:
    """Sets TF_CPP_MIN_LOG_LEVEL=2 unless the user chose a level, and filters TensorFlow's first import
    and keeps matplotlib out of it (a no-op when TensorFlow is already imported or the hook is installed)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _TensorFlowImportHook().install()
