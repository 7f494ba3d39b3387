"""Value kinds of configuration directives: how each reads its arguments, shows itself and is rewritten.

Every directive has one kind. A kind turns the directive's arguments (strings, already split) into a
typed value, or raises ``BadValue`` with Redis's reason text (the words after " - " in a CONFIG SET
error, or the last line of a FATAL CONFIG FILE ERROR). It also renders the value as CONFIG GET shows it
and as CONFIG REWRITE writes it. Reason texts are Redis 7.0's, word for word: scripts match on them.

Numbers are read as Redis reads them: integers strictly (no sign '+', no spaces, no leading zeros),
memory sizes as digits with an optional unit (b, k, kb, m, mb, g, gb in any case; 'k' is 1000 and
'kb' 1024) and written back by REWRITE in the largest binary unit that divides them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

LLONG_MAX = (1 << 63) - 1
LLONG_MIN = -(1 << 63)
ULLONG_MAX = (1 << 64) - 1
INT_MAX = (1 << 31) - 1
INT_MIN = -(1 << 31)
UINT_MAX = (1 << 32) - 1

_INT = re.compile(r"-?(0|[1-9][0-9]*)")
_MEMORY = re.compile(r"([0-9]*)(b|k|kb|m|mb|g|gb)?", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000 ** 2, "mb": 1024 ** 2, "g": 1000 ** 3,
          "gb": 1024 ** 3}


class BadValue(Exception):
    """An argument a directive refuses; ``reason`` is Redis's text for it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def quote(text: str) -> str:
    """Text in double quotes with Redis's escapes (how fatal errors and REWRITE show a string)."""
    out = ['"']
    for ch in text.encode("utf-8", "surrogateescape"):
        if ch in (0x5C, 0x22):
            out.append("\\" + chr(ch))
        elif ch in _REPR_ESCAPES:
            out.append(_REPR_ESCAPES[ch])
        elif 0x20 <= ch < 0x7F:
            out.append(chr(ch))
        else:
            out.append(f"\\x{ch:02x}")
    out.append('"')
    return "".join(out)


_REPR_ESCAPES = {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x07: "\\a", 0x08: "\\b"}


def parse_int(text: str) -> int:
    if not _INT.fullmatch(text) or text == "-0":
        raise BadValue("argument couldn't be parsed into an integer")
    value = int(text)
    if not LLONG_MIN <= value <= LLONG_MAX:
        raise BadValue("argument couldn't be parsed into an integer")
    return value


def parse_memory(text: str) -> int | None:
    """Bytes for a memory size, or None. An empty digit part reads as 0, as in Redis ('gb' is 0)."""
    match = _MEMORY.fullmatch(text)
    if match is None:
        return None
    value = int(match.group(1) or 0) * _UNITS[(match.group(2) or "").lower()]
    return value if value <= ULLONG_MAX else None


def format_memory(value: int) -> str:
    """A byte count as REWRITE writes it: 1gb, 64mb, 4kb, or plain bytes."""
    for unit, size in (("gb", 1 << 30), ("mb", 1 << 20), ("kb", 1 << 10)):
        if value and value % size == 0:
            return f"{value // size}{unit}"
    return str(value)


def _check_range(value: int, lo: int, hi: int, shown: Callable[[int], str] = str) -> int:
    if not lo <= value <= hi:
        raise BadValue(f"argument must be between {shown(lo)} and {shown(hi)} inclusive")
    return value


class Kind:
    """A value kind. Single-argument kinds get exactly one word; ``multi_arg`` kinds get the words
    their caller split (see config_special) and check the count themselves. ``current`` is the value
    being replaced, for kinds whose new value only updates part of it."""

    multi_arg = False

    def parse(self, args: list[str], current: Any) -> Any:
        raise NotImplementedError

    def render(self, value: Any) -> str:
        return str(value)

    def rewrite(self, value: Any) -> list[str]:
        """The argument text of each line REWRITE writes for this value (one line per element)."""
        return [self.render(value)]

    def parse_one(self, args: list[str]) -> str:
        if len(args) != 1:
            raise BadValue("wrong number of arguments")
        return args[0]


class Bool(Kind):
    def __init__(self, check: Callable[[bool], None] | None = None) -> None:
        self.check = check

    def parse(self, args: list[str], current: Any) -> bool:
        text = self.parse_one(args).lower()
        if text not in ("yes", "no"):
            raise BadValue("argument must be 'yes' or 'no'")
        if self.check:
            self.check(text == "yes")
        return text == "yes"

    def render(self, value: bool) -> str:
        return "yes" if value else "no"


class Int(Kind):
    def __init__(self, lo: int, hi: int, clamp: tuple[int, int] | None = None) -> None:
        self.lo, self.hi, self.clamp = lo, hi, clamp

    def parse(self, args: list[str], current: Any) -> int:
        value = _check_range(parse_int(self.parse_one(args)), self.lo, self.hi)
        if self.clamp:  # e.g. hz: any int is accepted, the server then keeps it within its limits
            value = min(max(value, self.clamp[0]), self.clamp[1])
        return value


class Memory(Kind):
    def __init__(self, lo: int = 0, hi: int = LLONG_MAX, floor: int = 0) -> None:
        self.lo, self.hi, self.floor = lo, hi, floor

    def parse(self, args: list[str], current: Any) -> int:
        value = parse_memory(self.parse_one(args))
        if value is None:
            raise BadValue("argument must be a memory value")
        # floor: a size accepted but raised to the smallest the server works with (repl-backlog-size)
        return max(_check_range(value, self.lo, self.hi), self.floor)

    def rewrite(self, value: int) -> list[str]:
        return [format_memory(value)]


class Octal(Kind):
    """unixsocketperm: file mode bits written in octal, shown in octal."""

    def parse(self, args: list[str], current: Any) -> int:
        text = self.parse_one(args)
        if not re.fullmatch(r"(-?[0-7]+)?", text):
            raise BadValue("argument couldn't be parsed as an octal number")
        return _check_range(int(text or "0", 8), 0, 0o777, lambda v: f"{v:o}")

    def render(self, value: int) -> str:
        return f"{value:o}"


class MemoryOrPercent(Kind):
    """maxmemory-clients: bytes (int), or a share of maxmemory written 'N%' (kept as that str)."""

    def parse(self, args: list[str], current: Any) -> int | str:
        text = self.parse_one(args)
        if text.endswith("%") and re.fullmatch(r"(0|[1-9][0-9]*)%", text):
            percent = int(text[:-1])
            if percent > 100:
                raise BadValue("percentage argument must be less or equal to 100")
            return text if percent else 0
        value = parse_memory(text)
        if value is None:
            raise BadValue("argument must be a memory or percent value")
        if value > LLONG_MAX:  # Redis keeps percentages as negative numbers: these look like one
            raise BadValue("percentage argument must be less or equal to 100")
        return value

    def rewrite(self, value: int | str) -> list[str]:
        return [value if isinstance(value, str) else format_memory(value)]


class Enum(Kind):
    def __init__(self, *names: str) -> None:
        self.names = names

    def parse(self, args: list[str], current: Any) -> str:
        text = self.parse_one(args).lower()
        if text not in self.names:
            raise BadValue("argument(s) must be one of the following: " + ", ".join(self.names))
        return text


class String(Kind):
    """Free text; ``check`` may refuse some values (raising BadValue). REWRITE quotes it."""

    def __init__(self, check: Callable[[str], None] | None = None) -> None:
        self.check = check

    def parse(self, args: list[str], current: Any) -> str:
        text = self.parse_one(args)
        if self.check:
            self.check(text)
        return text

    def rewrite(self, value: str) -> list[str]:
        return [quote(value)]


def plain_name(what: str, noun: str) -> Callable[[str], None]:
    """A check for appendfilename and friends: a bare name, not a path, and not empty."""

    def check(text: str) -> None:
        if what != "dbfilename" and not text:
            raise BadValue(f"{what} can't be empty")
        if "/" in text:
            raise BadValue(f"{what} can't be a path, just a {noun}")

    return check


def check_hostname(text: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9.-]*", text):
        raise BadValue("Hostnames may only contain alphanumeric characters, hyphens or dots")


def check_no_defrag(enable: bool) -> None:
    """activedefrag: like Debian's Redis (built without jemalloc's defrag hooks), emberkv cannot."""
    if enable:
        raise BadValue("Active defragmentation cannot be enabled: it requires a Redis server compiled with a "
                       "modified Jemalloc like the one shipped by default with the Redis source distribution")


# proc-title-template variables; the value is non-empty for those Redis can expand to something while
# reading the config (the title itself, the server mode and the unix socket are still empty then).
_TITLE_VARIABLES = {"title": "", "server-mode": "", "unixsocket": "", "listen-addr": "*:6379",
                    "port": "6379", "tls-port": "0", "config-file": "redis.conf"}


def check_proc_title(text: str) -> None:
    """A template must name only known {variables} ('{{' and '}}' are literal braces) and must not
    expand to nothing but spaces."""
    out: list[str] = []
    i = 0
    while i < len(text):
        pair = text[i:i + 2]
        if pair in ("{{", "}}"):
            out.append(pair[0])
            i += 2
        elif text[i] == "{":
            end = text.find("}", i + 1)
            name = text[i + 1:end] if end > 0 else None
            if name not in _TITLE_VARIABLES:
                raise BadValue("template format is invalid or contains unknown variables")
            out.append(_TITLE_VARIABLES[name])
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    if not "".join(out).strip(" "):
        raise BadValue("template format is invalid or contains unknown variables")


class Dir(Kind):
    """The working directory: must exist; kept as an absolute path (Redis chdirs to it at once)."""

    def __init__(self, base: Callable[[], str] = os.getcwd) -> None:
        self.base = base

    def parse(self, args: list[str], current: Any) -> str:
        text = self.parse_one(args)
        path = os.path.normpath(os.path.join(current or self.base(), text))
        if not text or not os.path.exists(path):
            raise BadValue("No such file or directory")
        if not os.path.isdir(path):
            raise BadValue("Not a directory")
        if not os.access(path, os.X_OK):
            raise BadValue("Permission denied")
        return path

    def rewrite(self, value: str) -> list[str]:
        return [quote(value)]
