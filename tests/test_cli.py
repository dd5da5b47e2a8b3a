"""Tests for tfstyle.cli: dataclass <-> flags, one-line errors and exit codes (with oneDNN on), progress lines."""

from __future__ import annotations

import configparser
import dataclasses
import functools
import logging
import os
import pathlib
import subprocess
import sys
import textwrap
from typing import Optional

import helpers
import pytest
from absl import flags

from tfstyle import cli, tf_startup


@dataclasses.dataclass(frozen=True)
class ToyConfig:
    steps: int = 10
    learning_rate: float = 0.02
    verbose: bool = False
    name: str = "toy"
    layer_weights: tuple[float, ...] = (1.0, 0.5)
    layers: tuple[str, ...] = ("block1_conv1", "block2_conv1")
    seed: Optional[int] = None  # noqa: UP045 - the typing spelling must work too
    max_size: int | None = None
    output: str | None = None
    init: str = dataclasses.field(
        default="content", metadata={"choices": ["content", "noise"], "help": "start"}
    )
    crop: tuple[int, ...] | None = None
    internal: int = dataclasses.field(default=3, metadata={"cli": False})


def _parsed(*args: str, skip: tuple[str, ...] = ()) -> flags.FlagValues:
    flag_values = flags.FlagValues()
    cli.define_flags(ToyConfig, flag_values, skip=skip)
    flag_values(["prog", *args])
    return flag_values


def test_defaults_round_trip():
    assert cli.config_from_flags(ToyConfig, _parsed()) == ToyConfig()


def test_every_field_kind_parses():
    flag_values = _parsed(
        "--steps=7", "--learning_rate=0.5", "--verbose", "--name=other", "--layer_weights=2,0.25",
        "--layers=a,b,c", "--seed=42", "--max_size=64", "--output=out.png", "--init=noise", "--crop=8,16",
    )
    config = cli.config_from_flags(ToyConfig, flag_values)
    assert config == ToyConfig(
        steps=7, learning_rate=0.5, verbose=True, name="other", layer_weights=(2.0, 0.25),
        layers=("a", "b", "c"), seed=42, max_size=64, output="out.png", init="noise", crop=(8, 16),
    )
    assert isinstance(config.seed, int) and isinstance(config.layer_weights[0], float)


def test_flag_defaults_and_help_come_from_the_dataclass():
    flag_values = _parsed()
    assert flag_values["steps"].default == 10
    assert flag_values["learning_rate"].default == 0.02
    assert flag_values["layer_weights"].default == ["1.0", "0.5"]
    assert flag_values["init"].help.endswith("start")  # absl prefixes the choices
    assert "internal" not in flag_values  # metadata cli=False
    with pytest.raises(flags.IllegalFlagValueError):
        flag_values["init"].parse("sideways")  # not one of the choices


def test_skip_and_overrides():
    flag_values = _parsed("--steps=3", skip=("name",))
    assert "name" not in flag_values
    config = cli.config_from_flags(ToyConfig, flag_values, steps=99, name="given")
    assert config.steps == 99 and config.name == "given"


@pytest.mark.parametrize("bad", ["--layer_weights=1,abc", "--crop=8,x", "--seed=many", "--max_size=1.5"])
def test_bad_value_raises_user_error(bad):
    flag_values = _parsed(bad)
    flag_name = bad[2:].split("=")[0]
    with pytest.raises(cli.UserError, match=f"--{flag_name}"):
        cli.config_from_flags(ToyConfig, flag_values)


def test_fail_prints_one_error_line_and_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.fail("cannot read\n  style.jpg:\tbroken")
    assert exit_info.value.code == cli.EXIT_BAD_INPUT == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "error: cannot read style.jpg: broken\n"


def test_fail_uses_the_given_code(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.fail("interrupted", cli.EXIT_INTERRUPTED)
    assert exit_info.value.code == 130
    assert capsys.readouterr().err.splitlines() == ["error: interrupted"]


SCRIPT = textwrap.dedent(
    """
    from absl import flags

    from tfstyle import cli

    flags.DEFINE_string("mode", "ok", "what main does")


    def main(argv):
        mode = flags.FLAGS.mode
        if mode == "value":
            raise ValueError("bad size: -1\\n(expected at least 32)")
        if mode == "missing":
            raise FileNotFoundError("no such file: style.jpg")
        if mode == "user":
            raise cli.UserError("--layers: unknown layer 'conv9'")
        if mode == "interrupt":
            raise KeyboardInterrupt
        if mode == "crash":
            raise RuntimeError("a real bug")
        if mode == "tensorflow":  # imported lazily, after the flags, as most commands do
            import os

            import tensorflow as tf
            from tensorflow.python.util import _pywrap_util_port

            features = tf.nn.conv2d(tf.ones([1, 8, 8, 3]), tf.ones([3, 3, 3, 4]), 1, "SAME")  # a oneDNN kernel
            raise ValueError(f"onednn={_pywrap_util_port.IsMklEnabled()} "
                             f"env={os.environ.get('TF_ENABLE_ONEDNN_OPTS')} sum={float(tf.reduce_sum(features))}")
        print("done")
        return 0


    if __name__ == "__main__":
        cli.main_wrapper(main)()
    """
)


@pytest.fixture(scope="module")
def script(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "command.py"
    path.write_text(SCRIPT)
    return path


def test_main_wrapper_success(script):
    result = helpers.run_script(script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"
    assert helpers.error_lines(result.stderr) == []


@pytest.mark.parametrize(
    "mode, code, message",
    [
        ("value", 2, "error: bad size: -1 (expected at least 32)"),
        ("missing", 2, "error: no such file: style.jpg"),
        ("user", 2, "error: --layers: unknown layer 'conv9'"),
        ("interrupt", 130, "error: interrupted"),
    ],
)
def test_main_wrapper_turns_user_errors_into_one_line(script, mode, code, message):
    result = helpers.run_script(script, f"--mode={mode}")
    assert helpers.one_error_line(result, code=code) == message


def test_main_wrapper_keeps_tracebacks_for_real_bugs(script):
    result = helpers.run_script(script, "--mode=crash")
    assert result.returncode not in (0, 2)
    assert "RuntimeError: a real bug" in result.stderr
    assert helpers.error_lines(result.stderr) == []


def test_unknown_flag_gives_one_error_line(script):
    result = helpers.run_script(script, "--no_such_flag=1")
    helpers.one_error_line(result, "no_such_flag")
    assert result.stdout == ""


# ---------------------------------------------------------------------------------------------
# oneDNN stays on, and TensorFlow's start-up notices still never reach the user
# ---------------------------------------------------------------------------------------------

ONEDNN_NOTICE = ("I0000 00:00:1796156518.682373    6112 port.cc:153] oneDNN custom operations are on. You may see "
                 "slightly different numerical results due to floating-point round-off errors from different "
                 "computation orders. To turn them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.")
CPU_NOTICE = ("I0000 00:00:1796156316.986622    5099 cpu_feature_guard.cc:227] This TensorFlow binary is optimized "
              "to use available CPU instructions in performance-critical operations.\n"
              "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the "
              "appropriate compiler flags.")
BANNER = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
REAL_WARNING = "W0000 00:00:1796156518.700000    6112 fake_kernel.cc:42] a real warning written during the import"
OTHER_INFO = "I0000 00:00:1796156518.700001    6112 other.cc:7] an INFO line that is not a known notice"


def _user_env(**settings: str) -> dict[str, str]:
    """helpers.env() as a user has it: no TF_ENABLE_ONEDNN_OPTS or TF_CPP_MIN_LOG_LEVEL unless given."""
    environment = {name: value for name, value in helpers.env().items()
                   if name not in ("TF_ENABLE_ONEDNN_OPTS", "TF_CPP_MIN_LOG_LEVEL")}
    return {**environment, **settings}


def _run_as_user(command: list[str], **settings: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=helpers.REPO,
                          env=_user_env(**settings), check=False)


def test_drop_start_up_notices_drops_only_the_known_info_notices():
    captured = "\n".join([BANNER, ONEDNN_NOTICE, REAL_WARNING, CPU_NOTICE, OTHER_INFO,
                          "To enable the following instructions: not after a notice", BANNER, ONEDNN_NOTICE,
                          "a Python line"]).encode() + b"\n"
    kept = tf_startup.drop_start_up_notices(captured, min_log_level=2).decode().splitlines()
    assert kept == [REAL_WARNING, OTHER_INFO, "To enable the following instructions: not after a notice",
                    "a Python line"]
    drop = tf_startup.drop_start_up_notices
    assert drop(captured, min_log_level=1) == drop(captured, 2)
    assert tf_startup.drop_start_up_notices(captured, min_log_level=0) == captured  # the user asked for INFO
    # A WARNING or ERROR from port.cc is not the notice, even with the same words.
    warning = ONEDNN_NOTICE.replace("I0000", "W0000", 1).encode() + b"\n"
    assert tf_startup.drop_start_up_notices(warning, min_log_level=2) == warning


def test_the_users_own_tensorflow_settings_win():
    # (Without them, oneDNN stays on: see the `onednn=True env=None` of the lazy-import test below.)
    probe = ("import os; from tfstyle import cli; from tensorflow.python.util import _pywrap_util_port as port; "
             "print(os.environ.get('TF_ENABLE_ONEDNN_OPTS'), os.environ['TF_CPP_MIN_LOG_LEVEL'], port.IsMklEnabled())")
    user = _run_as_user([sys.executable, "-c", probe], TF_ENABLE_ONEDNN_OPTS="0", TF_CPP_MIN_LOG_LEVEL="1")
    assert user.stdout.split() == ["0", "1", "False"], user.stderr[-3000:]


@functools.lru_cache(maxsize=1)
def _onednn_by_default() -> bool:
    """Whether TensorFlow turns oneDNN on by itself on this CPU (it does where it finds AVX-512; not on an
    AVX2-only one), asked of a plain `import tensorflow` in a user's environment."""
    probe = "from tensorflow.python.util import _pywrap_util_port as port; print(port.IsMklEnabled())"
    return _run_as_user([sys.executable, "-c", probe]).stdout.split()[-1] == "True"


def test_lazy_tensorflow_import_with_onednn_on_still_fails_with_one_line(script):
    # The CLI's lazy import keeps TensorFlow's own choice (on where the CPU has AVX-512) and still prints one line.
    result = _run_as_user([sys.executable, str(script), "--mode=tensorflow"])
    expected = f"error: onednn={_onednn_by_default()} env=None sum=5808.0"
    assert result.stderr.splitlines() == [expected], result.stderr[-3000:]
    assert result.returncode == 2


def test_matplotlib_is_kept_out_of_the_clis_tensorflow_import_and_imports_afterwards():
    pytest.importorskip("matplotlib")
    probe = ("import sys; {install}import tensorflow; import keras.src.visualization.plot_image_gallery as gallery; "
             "during = 'matplotlib' in sys.modules; import matplotlib.pyplot; "
             "print(during, gallery.plt is None, 'matplotlib.pyplot' in sys.modules)")
    library = _run_as_user([sys.executable, "-c", probe.format(install="")])
    cli_process = _run_as_user([sys.executable, "-c", probe.format(install="from tfstyle import cli; ")])
    # Plain `import tensorflow` imports matplotlib.pyplot through Keras (so the check below is not vacuous) ...
    assert library.stdout.split() == ["True", "False", "True"], library.stderr[-3000:]
    # ... a CLI's does not; Keras takes it as not installed, and it still imports normally afterwards.
    assert cli_process.stdout.split() == ["False", "True", "True"], cli_process.stderr[-3000:]


def _translate_command(how: str) -> list[str]:
    args = ["--model_dir=/nonexistent", "--input=/nonexistent/x.png", "--output=y.png"]
    if how == "console script":
        console_script = pathlib.Path(sys.executable).with_name("tfstyle-translate")
        if not console_script.exists():
            pytest.skip(f"{console_script} is not installed (pip install -e .)")
        return [str(console_script), *args]
    return [sys.executable, "-m", "tfstyle.cyclegan.translate", *args]


@pytest.mark.parametrize("how", ["python -m", "console script"])
def test_cli_importing_tensorflow_at_import_fails_with_one_line_with_onednn_on(how):
    # tfstyle.cyclegan.translate imports TensorFlow at module import, before main() checks --input.
    result = _run_as_user(_translate_command(how))
    assert result.stderr.splitlines() == ["error: --input does not exist: /nonexistent/x.png"], result.stderr[-3000:]
    assert result.returncode == 2


def test_a_user_asking_for_info_logs_sees_the_notices():
    # Also shows the test above is not vacuous: the same command imports TensorFlow with oneDNN on.
    if not _onednn_by_default():
        pytest.skip("TensorFlow leaves oneDNN off on this CPU (no AVX-512): it prints no oneDNN notice")
    result = _run_as_user(_translate_command("python -m"), TF_CPP_MIN_LOG_LEVEL="0")
    assert "oneDNN custom operations are on" in result.stderr
    assert result.stderr.splitlines()[-1] == "error: --input does not exist: /nonexistent/x.png"


def _console_scripts() -> list[tuple[str, str]]:
    """(name, "module:function") of every console script setup.cfg declares."""
    parser = configparser.ConfigParser()
    parser.read(helpers.REPO / "setup.cfg")
    lines = parser["options.entry_points"]["console_scripts"].strip().splitlines()
    return [tuple(part.strip() for part in line.split("=")) for line in lines if line.strip()]


@pytest.mark.parametrize("name, target", _console_scripts(), ids=[name for name, _ in _console_scripts()])
def test_every_command_gives_one_line_for_a_bad_flag_with_onednn_on(name, target):
    # As its console script runs it. Commands that import TensorFlow at module import (translate, export,
    # optimize) do so before the flags are parsed: a command importing it before tfstyle.cli fails here.
    module, function = target.split(":")
    launcher = (f"import sys; sys.argv = [{name!r}, '--no_such_flag=1']; "
                f"from {module} import {function}; sys.exit({function}())")
    result = _run_as_user([sys.executable, "-c", launcher])
    assert result.stderr.splitlines() == ["error: Unknown command line flag 'no_such_flag' (see --help)"], \
        result.stderr[-3000:]
    assert result.returncode == 2


@pytest.fixture
def fake_tensorflow(tmp_path):
    """A test-only `tensorflow` package, ahead of the real one on PYTHONPATH, whose import writes
    `body` to fd 2 (C++ style, unbuffered) and to sys.stderr; returns a function writing it."""

    def make(body: str) -> dict[str, str]:
        package = tmp_path / "tensorflow"
        package.mkdir()
        (package / "__init__.py").write_text(body)
        return {"PYTHONPATH": os.pathsep.join([str(tmp_path), str(helpers.REPO)])}

    return make


IMPORT_THEN_REPORT = ("import sys; from tfstyle import cli; import tensorflow; "
                      "print('after the import', file=sys.stderr)")


def test_real_output_during_the_tensorflow_import_is_shown_in_order(fake_tensorflow):
    extra_env = fake_tensorflow(textwrap.dedent(
        f"""
        import os
        import sys

        os.write(2, {(BANNER + chr(10) + ONEDNN_NOTICE + chr(10)).encode()!r})
        os.write(2, {(REAL_WARNING + chr(10)).encode()!r})
        print("a Python warning during the import", file=sys.stderr)
        os.write(2, {(OTHER_INFO + chr(10) + ONEDNN_NOTICE + chr(10)).encode()!r})
        """))
    result = helpers.run_script("-c", IMPORT_THEN_REPORT, extra_env=extra_env)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [REAL_WARNING, "a Python warning during the import", OTHER_INFO,
                                          "after the import"]


def test_a_failing_tensorflow_import_shows_everything_it_wrote(fake_tensorflow):
    extra_env = fake_tensorflow(f"import os\nos.write(2, {(ONEDNN_NOTICE + chr(10)).encode()!r})\n"
                                "raise ImportError('libcudart.so.12: cannot open shared object file')\n")
    result = helpers.run_script("-c", IMPORT_THEN_REPORT, extra_env=extra_env)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == ONEDNN_NOTICE
    assert lines[-1] == "ImportError: libcudart.so.12: cannot open shared object file"


class _FakeStream:
    """A non-TTY text stream (like a log file or CI pipe)."""

    def __init__(self):
        self.written = []

    def isatty(self):
        return False

    def write(self, text):
        self.written.append(text)

    def flush(self):
        pass


def test_progress_logs_lines_when_not_a_tty(caplog):
    stream = _FakeStream()
    caplog.set_level(logging.INFO, logger="tfstyle")
    # log_every_s is huge, so only the first and the final update log.
    progress = cli.Progress(total=5, description="stylize", unit="step", log_every_s=1e9, stream=stream)
    with progress:
        for step in range(5):
            progress.update(loss=1.0 / (step + 1))
    records = [record.getMessage() for record in caplog.records if record.name == "tfstyle"]
    assert len(records) == 2
    assert records[0].startswith("stylize 1/5 loss=1 ")
    assert records[1].startswith("stylize 5/5 loss=0.2 ")
    assert all(message.endswith("step/s") for message in records)
    assert stream.written == []  # no tqdm bar on a non-TTY


def test_progress_without_total_logs_counts(caplog):
    caplog.set_level(logging.INFO, logger="tfstyle")
    progress = cli.Progress(total=None, description="train", log_every_s=0.0, stream=_FakeStream())
    progress.update(2)
    progress.update(3)
    progress.close()
    messages = [record.getMessage() for record in caplog.records if record.name == "tfstyle"]
    assert [message.split()[:2] for message in messages] == [["train", "2"], ["train", "5"]]
