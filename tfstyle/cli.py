"""The command-line edge shared by every tfstyle command.

* `define_flags(Config)` turns a frozen dataclass into absl flags (defaults and help from the
  dataclass, so the library and the CLI can never disagree);
* `config_from_flags(Config)` turns the parsed flags back into the dataclass;
* `main_wrapper(main)` runs a command so that bad input gives one `error: ...` line on stderr
  and a non-zero exit, never a traceback;
* `Progress` is a tqdm bar on a TTY and plain log lines otherwise.

Library code never imports absl.flags; only the `__main__` / CLI modules call this.

One-line errors with oneDNN on: importing this module installs `tfstyle.tf_startup`'s filter of
TensorFlow's start-up notices (see there).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time
import types
import typing
from collections.abc import Callable

from absl import app, flags

from tfstyle import tf_startup

# Only the CLIs import this module, before TensorFlow: from here on, TensorFlow's first import
# hides its start-up notices (the user's own TF_CPP_MIN_LOG_LEVEL wins).
tf_startup.install()


EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class UserError(Exception):
    """An error caused by the user's input; the CLI prints its message as `error: ...`."""


def fail(message: str, code: int = EXIT_BAD_INPUT) -> typing.NoReturn:
    """Prints `error: <message>` (one line) to stderr and exits with `code`."""
    message = " ".join(str(message).split())
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


def _flag_kind(annotation) -> tuple[str, type | None]:
    """Maps a dataclass field type to ('int'|'float'|'bool'|'string'|'list', element type)."""
    if isinstance(annotation, str):  # from __future__ annotations
        annotation = eval(annotation, {"typing": typing, "tuple": tuple})  # noqa: S307 - our own source
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _flag_kind(args[0])
    if origin is tuple:
        return "list", typing.get_args(annotation)[0]
    if annotation is bool:
        return "bool", None
    if annotation is int:
        return "int", None
    if annotation is float:
        return "float", None
    return "string", None


def define_flags(config_cls, flag_values: flags.FlagValues = flags.FLAGS, skip: tuple[str, ...] = ()) -> None:
    """Defines one absl flag per field of the dataclass `config_cls`.

    A field's `metadata` (built with `tfstyle.options`) may hold `help` (text), `choices` (an enum),
    `aliases` (further names of the same flag, e.g. a reference implementation's) and `cli` (False: no
    flag). Tuples become comma separated list flags; `None` defaults become empty strings / unset values.
    """
    types_by_name = typing.get_type_hints(config_cls)  # resolves string annotations in their module
    defined = []
    for field in dataclasses.fields(config_cls):
        if field.name in skip or field.metadata.get("cli") is False:
            continue
        default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        help_text = field.metadata.get("help", field.name.replace("_", " "))
        kind, element = _flag_kind(types_by_name[field.name])
        choices = field.metadata.get("choices")
        if choices:
            flags.DEFINE_enum(field.name, default, choices, help_text, flag_values=flag_values)
        elif kind == "bool":
            flags.DEFINE_bool(field.name, default, help_text, flag_values=flag_values)
        elif kind == "int" and default is not None:
            flags.DEFINE_integer(field.name, default, help_text, flag_values=flag_values)
        elif kind == "float" and default is not None:
            flags.DEFINE_float(field.name, default, help_text, flag_values=flag_values)
        elif kind == "list":
            flags.DEFINE_list(
                field.name, [str(v) for v in default] if default else [], help_text, flag_values=flag_values
            )
        else:
            flags.DEFINE_string(field.name, None if default is None else str(default), help_text,
                                flag_values=flag_values)
        defined.append(field.name)
        for alias in field.metadata.get("aliases", ()):  # the reference implementation's name for the flag
            flags.DEFINE_alias(alias, field.name, flag_values=flag_values)
            defined.append(alias)
    # absl files these flags under tfstyle.cli, and `--help` lists only the main module's key flags:
    # make them key flags of the module that called us, named as absl names it (argv[0] for __main__).
    caller = sys._getframe(1).f_globals.get("__name__", "")  # noqa: SLF001
    module_name = sys.argv[0] if caller == "__main__" else caller
    for name in defined:
        flag_values.register_key_flag_for_module(module_name, flag_values[name])


def config_from_flags(config_cls, flag_values: flags.FlagValues = flags.FLAGS, **overrides):
    """Builds `config_cls` from parsed flags of the same names (plus `overrides`).

    Raises:
        UserError: a value does not parse (e.g. a non-number in a list of floats).
    """
    values = {}
    types_by_name = typing.get_type_hints(config_cls)
    for field in dataclasses.fields(config_cls):
        if field.name in overrides or field.name not in flag_values:
            continue
        value = flag_values[field.name].value
        kind, element = _flag_kind(types_by_name[field.name])
        try:
            if kind == "list":
                value = tuple(element(v) for v in value) if element in (int, float) else tuple(value)
            elif kind == "int" and isinstance(value, str):
                value = int(value) if value != "" else None
            elif kind == "float" and isinstance(value, str):
                value = float(value) if value != "" else None
        except ValueError:
            raise UserError(f"--{field.name}: cannot parse {value!r}") from None
        if value in ("", ()) and field.default is None:  # unset optional string / list
            value = None
        values[field.name] = value
    values.update(overrides)
    return config_cls(**values)


def setup_logging(verbose: bool = False) -> None:
    """Plain `LEVEL message` lines on stderr (absl's prefix is noise for users)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s" if verbose else "%(levelname).1s %(message)s",
        stream=sys.stderr,
        force=True,
    )
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.WARNING)


def _flags_parser(argv: list[str]) -> list[str]:
    """absl's parser, but a bad flag gives one `error:` line instead of a usage dump, and asking for
    help (`--help`, `-?`, `--helpshort`, `--helpfull`: absl prints the usage, then exits 1) exits 0."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        fail(f"{error} (see --help)")
    except SystemExit as exit_request:
        asked_for_help = any(arg.split("=")[0] in _HELP_FLAGS for arg in argv[1:])
        if exit_request.code == 1 and asked_for_help:
            sys.exit(0)
        raise


_HELP_FLAGS = ("--help", "-help", "-?", "--helpshort", "-helpshort", "--helpfull", "-helpfull")


def main_wrapper(main: Callable[[list[str]], int | None]) -> Callable[[], None]:
    """Returns an entry point that runs `main(argv)` under absl with user-facing error handling.

    UserError, ValueError, FileNotFoundError and PermissionError become one `error:` line and
    exit code 2; other OSErrors (a full or read-only disk) one `error:` line and exit code 1; Ctrl-C exits
    130 with a short message.
    """

    def guarded(argv: list[str]) -> int | None:
        try:
            return main(argv)
        except (UserError, ValueError, FileNotFoundError, PermissionError, IsADirectoryError) as error:
            fail(str(error))
        except OSError as error:  # the disk: full, read-only, gone
            fail(str(error), 1)
        except KeyboardInterrupt:
            fail("interrupted", EXIT_INTERRUPTED)

    def run() -> None:
        app.run(guarded, flags_parser=_flags_parser)

    return run


class Progress:
    """Progress reporting for CLIs: a tqdm bar on a TTY, a log line every `log_every_s` otherwise."""

    def __init__(self, total: int | None, description: str, unit: str = "it", log_every_s: float = 10.0,
                 stream=None, already_elapsed_s: float = 0.0):
        self.total = total
        self.description = description
        self.unit = unit
        self.log_every_s = log_every_s
        self._stream = stream or sys.stderr
        self._bar = None
        self._last_log = 0.0
        self._count = 0
        self._start = time.perf_counter() - already_elapsed_s
        if self._stream.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=description, unit=unit, file=self._stream, dynamic_ncols=True)

    def update(self, count: int = 1, **postfix) -> None:
        self._count += count
        if self._bar is not None:
            self._bar.update(count)
            if postfix:
                self._bar.set_postfix({k: _short(v) for k, v in postfix.items()}, refresh=False)
            return
        now = time.perf_counter()
        finished = self.total is not None and self._count >= self.total
        if now - self._last_log >= self.log_every_s or finished or self._count == count:
            self._last_log = now
            rate = self._count / max(now - self._start, 1e-9)
            of_total = f"/{self.total}" if self.total else ""
            details = " ".join(f"{k}={_short(v)}" for k, v in postfix.items())
            logging.getLogger("tfstyle").info(
                "%s %d%s %s %.2f %s/s", self.description, self._count, of_total, details, rate, self.unit
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
