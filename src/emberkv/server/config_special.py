"""The directives whose values are not a single scalar: save points, bind addresses, output buffer
limits, OOM score adjustments, keyspace event classes, latency percentiles and the master address.

The multi-argument ones take several words on a config line (``save 900 1 300 10``). Redis splits a
single non-empty argument into words too, in two different ways, and we split as it does:
``split_config_words`` for a config line (``save "900  1"`` is two words) and ``split_set_words`` for
CONFIG SET, which splits on every single space (``"900  1"`` holds an empty word and is refused).
"""

from __future__ import annotations

import re
from typing import Any

from emberkv.keyspace.db import NOTIFY_NEW
from emberkv.protocol.resp import split_args
from emberkv.server.config_values import (
    LLONG_MAX,
    BadValue,
    Kind,
    format_memory,
    parse_memory,
    quote,
)
from emberkv.server.pubsub import INVALID_EVENT_CLASS, NOTIFY_ALL, format_notify_flags, parse_notify_flags

SavePoints = list[tuple[int, int]]


def split_config_words(args: list[str]) -> list[str]:
    """The words of a multi-argument directive's config line: one non-empty argument is split again."""
    if len(args) == 1 and args[0]:
        words = split_args(args[0].encode("utf-8", "surrogateescape")) or []
        return [w.decode("utf-8", "surrogateescape") for w in words]
    return args


def split_set_words(value: str) -> list[str]:
    """The words of a multi-argument value given to CONFIG SET: split on single spaces; '' has none."""
    return value.split(" ") if value else []


class Save(Kind):
    """Snapshot points: a list of (seconds, changes). ``save ""`` means none."""

    multi_arg = True

    def parse(self, words: list[str], current: Any) -> SavePoints:
        if words == [""]:
            return []
        if len(words) % 2:
            raise BadValue("Invalid save parameters")
        points = []
        for i in range(0, len(words), 2):
            seconds, changes = _c_long(words[i]), _c_long(words[i + 1])
            if seconds is None or changes is None or seconds < 1 or changes < 0:
                raise BadValue("Invalid save parameters")
            points.append((seconds, changes))
        return points

    def render(self, value: SavePoints) -> str:
        return " ".join(f"{seconds} {changes}" for seconds, changes in value)

    def rewrite(self, value: SavePoints) -> list[str]:
        return [f"{seconds} {changes}" for seconds, changes in value] or ['""']


def _c_long(text: str) -> int | None:
    """A number as C's strtoll reads a whole word: optional spaces and sign, digits ('' is 0)."""
    match = re.fullmatch(r"[ \t\n\v\f\r]*([+-]?[0-9]+)?", text)
    if match is None:
        return None
    value = int(match.group(1) or 0)
    return max(min(value, LLONG_MAX), -LLONG_MAX - 1)


class Bind(Kind):
    multi_arg = True

    def parse(self, words: list[str], current: Any) -> list[str]:
        if len(words) > 16:
            raise BadValue("Too many bind addresses specified.")
        return [] if words == [""] else words

    def render(self, value: list[str]) -> str:
        return " ".join(value)


OUTPUT_CLASSES = ("normal", "replica", "pubsub")
_CLASS_NAMES = {"normal": "normal", "slave": "replica", "replica": "replica", "pubsub": "pubsub"}
BufferLimits = dict[str, tuple[int, int, int]]


class ClientOutputBufferLimit(Kind):
    """Per client class (normal, replica, pubsub): (hard bytes, soft bytes, soft seconds).

    A value names only the classes it changes; the others keep their current limits."""

    multi_arg = True

    def parse(self, words: list[str], current: BufferLimits) -> BufferLimits:
        if len(words) % 4:
            raise BadValue("Wrong number of arguments in buffer limit configuration.")
        limits = dict(current)
        for i in range(0, len(words), 4):
            name = _CLASS_NAMES.get(words[i].lower())
            if name is None:
                raise BadValue("Invalid client class specified in buffer limit configuration.")
            hard, soft = parse_memory(words[i + 1]), parse_memory(words[i + 2])
            seconds = _c_long(words[i + 3])
            if hard is None or soft is None or seconds is None or seconds < 0 or words[i + 3] == "":
                raise BadValue("Error in hard, soft or soft_seconds setting in buffer limit configuration.")
            limits[name] = (hard, soft, seconds)
        return limits

    def render(self, value: BufferLimits) -> str:
        return " ".join(f"{'slave' if name == 'replica' else name} {h} {s} {t}"
                        for name in OUTPUT_CLASSES for h, s, t in [value[name]])

    def rewrite(self, value: BufferLimits) -> list[str]:
        return [f"{name} {format_memory(h)} {format_memory(s)} {t}"
                for name in OUTPUT_CLASSES for h, s, t in [value[name]]]


class OomScoreAdjValues(Kind):
    multi_arg = True

    def parse(self, words: list[str], current: Any) -> list[int]:
        if len(words) != 3:
            raise BadValue("wrong number of arguments")
        values = [_c_long(word) for word in words]
        if any(v is None or not -2000 <= v <= 2000 for v in values):
            raise BadValue("Invalid oom-score-adj-values, elements must be between -2000 and 2000.")
        return [v for v in values if v is not None]

    def render(self, value: list[int]) -> str:
        return " ".join(map(str, value))


class NotifyKeyspaceEvents(Kind):
    """Event classes as a string of letters. The typed value keeps every letter set ('AKEn'); CONFIG GET
    shows Redis's spelling, which drops 'n' once 'A' is shown."""

    def parse(self, args: list[str], current: Any) -> str:
        flags = parse_notify_flags(self.parse_one(args))
        if flags is None:
            raise BadValue(INVALID_EVENT_CLASS)
        return _lossless(flags)

    def render(self, value: str) -> str:
        return format_notify_flags(parse_notify_flags(value) or 0)

    def rewrite(self, value: str) -> list[str]:
        return [quote(self.render(value))]


def _lossless(flags: int) -> str:
    text = format_notify_flags(flags)
    if flags & NOTIFY_ALL == NOTIFY_ALL and flags & NOTIFY_NEW:
        text += "n"
    return text


_C_DOUBLE = re.compile(r"[ \t\n\v\f\r]*[+-]?(([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"
                       r"|0[xX][0-9a-fA-F]+|inf(inity)?)", re.IGNORECASE)


class Percentiles(Kind):
    """latency-tracking-info-percentiles: floats in [0, 100], shown with up to six decimals."""

    multi_arg = True

    def parse(self, words: list[str], current: Any) -> list[float]:
        values = []
        for word in words if words != [""] else []:
            if not _C_DOUBLE.fullmatch(word):
                raise BadValue("Invalid latency-tracking-info-percentiles parameters")
            text = word.strip()
            value = float(int(text, 16)) if "x" in text.lower() else float(text)
            if not 0.0 <= value <= 100.0:
                raise BadValue("latency-tracking-info-percentiles parameters should sit between [0.0,100.0]")
            values.append(value)
        return values

    def render(self, value: list[float]) -> str:
        return " ".join(f"{v:f}".rstrip("0").rstrip(".") for v in value)


class Replicaof(Kind):
    """The master to replicate: (host, port), or None for ``no one``. Set only at start-up."""

    multi_arg = True

    def parse(self, words: list[str], current: Any) -> tuple[str, int] | None:
        if len(words) != 2:
            raise BadValue("wrong number of arguments")
        if words[0].lower() == "no" and words[1].lower() == "one":
            return None
        port = _c_long(words[1])
        if port is None or words[1] == "" or not 0 <= port <= 65535:
            raise BadValue("Invalid master port")
        return words[0], port

    def render(self, value: tuple[str, int] | None) -> str:
        return "" if value is None else f"{value[0]} {value[1]}"

