"""Reading redis.conf text and the ``emberkv-server`` command line, as redis-server reads them.

The command line is turned into config text first: ``--port 7000 --save 900 1`` becomes the lines
``port "7000"`` and ``save "900" "1"``, appended after the config file's contents (and standard
input's, with ``-``). So an option on the command line overrides the file, and a mistake in either is
reported the same way, with the line number in that combined text.

Lines are split into words as redis-cli splits them (``split_args``: quotes, escapes). The first word
names the directive, case-insensitively. ``include`` reads another file (or every file a glob names)
right there, relative to the working directory as Redis would have it at that point: Redis changes
directory as soon as it reads ``dir``, so a relative include after ``dir`` is found there.

Save points accumulate: the first ``save`` line anywhere replaces the defaults and the ones after it
add points, while ``save ""`` clears them. (Redis 7.0 loses track of "first" after an ``include`` and
then lets each later line replace the list; we keep the documented rule throughout.)
"""

from __future__ import annotations

import glob
import os
import time
from typing import Any, TextIO

from emberkv.protocol.resp import split_args
from emberkv.server.config_special import split_config_words
from emberkv.server.config_table import BY_NAME, FILE_ONLY, IGNORED
from emberkv.server.config_values import BadValue, quote

REDIS_VERSION = "7.0.15"  # the version the fatal error banner names: tools match the whole banner


class FatalConfigError(Exception):
    """A config error that stops start-up; str() is the whole message, printed to stderr before exit 1."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def fatal_line_error(line_number: int, line: str, reason: str) -> FatalConfigError:
    return FatalConfigError(f"\n*** FATAL CONFIG FILE ERROR (Redis {REDIS_VERSION}) ***\n"
                            f"Reading the configuration file, at line {line_number}\n"
                            f">>> '{line}'\n{reason}")


def fatal_open_error(path: str, exc: OSError) -> FatalConfigError:
    """Redis reports a config file it cannot read as a log line (role C: before the server exists)."""
    now = time.time()
    stamp = time.strftime("%d %b %Y %H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"
    reason = exc.strerror or str(exc)
    return FatalConfigError(f"{os.getpid()}:C {stamp} # Fatal error, can't open config file '{path}': {reason}")


def split_command_line(argv: list[str]) -> tuple[str | None, bool, str]:
    """(config file, read stdin?, options as config text) from redis-server style arguments."""
    config_file = None
    start = 0
    if argv and not argv[0].startswith("-"):
        config_file, start = argv[0], 1
    from_stdin = False
    lines: list[str] = []
    expects_value = False  # the last word was an option name still waiting for its first value
    for j in range(start, len(argv)):
        arg = argv[j]
        if arg == "-" and (j == 0 or j == len(argv) - 1):
            from_stdin = True
        elif not expects_value and arg.startswith("--"):
            lines.append(arg[2:] + " ")
            words = split_args(arg.encode("utf-8", "surrogateescape"))
            expects_value = words is not None and len(words) == 1
            if expects_value and arg.lower() == "--save":
                # A bare --save (last, or followed by another option) means `save ""`, as in Redis 7.0.
                if j == len(argv) - 1 or argv[j + 1].startswith("--"):
                    lines[-1] += '""'
                    expects_value = False
        else:
            if not lines:
                lines.append("")
            lines[-1] += quote(arg) + " "
            expects_value = False
    return config_file, from_stdin, "\n".join(lines)


def read_config_text(argv: list[str], stdin: TextIO | None) -> tuple[str | None, str]:
    """(absolute config file path or None, the whole config text to parse)."""
    config_file, from_stdin, options = split_command_line(argv)
    text = ""
    path = None
    if config_file is not None:
        path = os.path.abspath(config_file)
        text = _read_file(config_file)
    if from_stdin and stdin is not None:
        text += stdin.read()
    if options:
        text += "\n" + options
    return path, text


def _read_file(path: str, shown: str | None = None) -> str:
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "surrogateescape")
    except OSError as exc:
        raise fatal_open_error(shown or path, exc) from None


class ConfigLoader:
    """Applies config text to a dict of typed values (canonical name -> value)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values
        self.given: set[str] = set()  # canonical names set by the file or command line
        self.renamed_commands: list[tuple[str, str]] = []
        self.other_lines: list[tuple[str, list[str]]] = []  # user, loadmodule, sentinel
        self._save_seen = False

    def load(self, text: str) -> None:
        for number, raw in enumerate(text.split("\n"), 1):
            line = raw.strip(" \t\r\n")
            if not line or line.startswith("#"):
                continue
            words = split_args(line.encode("utf-8", "surrogateescape"))
            if words is None:
                raise fatal_line_error(number, line, "Unbalanced quotes in configuration line")
            if not words:
                continue
            args = [w.decode("utf-8", "surrogateescape") for w in words]
            try:
                self.apply(args[0].lower(), args[1:])
            except BadValue as exc:
                raise fatal_line_error(number, line, exc.reason) from None

    def apply(self, name: str, args: list[str]) -> None:
        directive = BY_NAME.get(name)
        if directive is None:
            self._apply_file_only(name, args)
            return
        kind = directive.kind
        if not kind.multi_arg and len(args) != 1:
            raise BadValue("wrong number of arguments")
        current = self.values[directive.name]
        value = kind.parse(split_config_words(args) if kind.multi_arg else args, current)
        if directive.name == "save":
            if self._save_seen and args != [""]:
                value = current + value
            self._save_seen = True
        self.values[directive.name] = value
        self.given.add(directive.name)

    def _apply_file_only(self, name: str, args: list[str]) -> None:
        if name in IGNORED and len(args) == 1:
            return
        fewest, most = FILE_ONLY.get(name, (-1, -1))
        if fewest < 0 or len(args) < fewest or (most is not None and len(args) > most):
            raise BadValue("Bad directive or wrong number of arguments")
        if name == "include":
            self._include(args[0])
        elif name == "rename-command":
            self.renamed_commands.append((args[0], args[1]))
        else:
            self.other_lines.append((name, args))

    def _include(self, pattern: str) -> None:
        path = os.path.join(self.values["dir"], pattern)
        if glob.has_magic(pattern):
            for match in sorted(glob.glob(path)):
                self.load(_read_file(match))
        else:
            self.load(_read_file(path, shown=pattern))
