"""Tests for tfstyle.cli: dataclass <-> flags, one-line errors and exit codes, progress lines."""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
import textwrap
from typing import Optional

import pytest
from absl import flags

from tfstyle import cli

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


def _run(script, *args):
    environment = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                          env=environment, timeout=60)


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_main_wrapper_success(script):
    result = _run(script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"
    assert _error_lines(result.stderr) == []


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
    result = _run(script, f"--mode={mode}")
    assert result.returncode == code
    assert _error_lines(result.stderr) == [message]
    assert "Traceback" not in result.stderr


def test_main_wrapper_keeps_tracebacks_for_real_bugs(script):
    result = _run(script, "--mode=crash")
    assert result.returncode not in (0, 2)
    assert "RuntimeError: a real bug" in result.stderr
    assert _error_lines(result.stderr) == []


def test_unknown_flag_gives_one_error_line(script):
    result = _run(script, "--no_such_flag=1")
    assert result.returncode != 0
    errors = _error_lines(result.stderr)
    assert len(errors) == 1 and "no_such_flag" in errors[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


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
