"""Argument parsing shared by all command families, with Redis's strictness and error texts.

Redis parses integers with string2ll (no spaces, no '+', no leading zeros, must fit in 64 bits) and
doubles with strtod (no leading space, nothing after the number, no NaN). Python's int() and float()
accept more ('+1', ' 1', '1_000', 'nan'), so every command goes through these instead.
"""

from __future__ import annotations

import math
import re

from emberkv.commands.errors import NOT_FLOAT, NOT_INTEGER, CommandError

# strtod's decimal form; hex floats and inf/infinity are handled separately.
_FLOAT = re.compile(rb"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\Z")
_HEX_FLOAT = re.compile(rb"[+-]?0[xX]([0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)([pP][+-]?[0-9]+)?\Z")
_INF = {b"inf": math.inf, b"+inf": math.inf, b"-inf": -math.inf, b"infinity": math.inf,
        b"+infinity": math.inf, b"-infinity": -math.inf}

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def parse_int(raw: bytes, error: str = NOT_INTEGER) -> int:
    """A signed 64-bit integer spelled exactly as Redis accepts it, else CommandError(error)."""
    value = to_int_or_none(raw)
    if value is None:
        raise CommandError(error)
    return value


def to_int_or_none(raw: bytes) -> int | None:
    """Like parse_int but None instead of an error (for INCR on a stored string, intset checks)."""
    # int() is lenient ('+1', ' 1', '01', '1_0'): the canonical spelling must give back the input.
    if len(raw) > 20:
        return None
    try:
        value = int(raw)
    except ValueError:
        return None
    if b"%d" % value != raw or not INT64_MIN <= value <= INT64_MAX:
        return None
    return value


def parse_float(raw: bytes, error: str = NOT_FLOAT) -> float:
    """A double as strtod reads it (inf allowed, NaN refused), else CommandError(error)."""
    value = to_float_or_none(raw)
    if value is None:
        raise CommandError(error)
    return value


def to_float_or_none(raw: bytes) -> float | None:
    if _FLOAT.match(raw):
        value = float(raw)
        # strtod reports overflow and underflow to zero as range errors, which Redis refuses.
        if value == 0.0 or math.isinf(value):
            mantissa = raw.lower().split(b"e")[0]
            if math.isinf(value) or mantissa.strip(b"+-.0"):
                return None
    elif raw.lower() in _INF:
        value = _INF[raw.lower()]
    elif _HEX_FLOAT.match(raw):
        text = raw.decode()
        try:
            value = float.fromhex(text if "p" in text.lower() else text + "p0")
        except OverflowError:
            return None
    else:
        return None
    return None if math.isnan(value) else value


def parse_db_index(raw: bytes, databases: int, error: str = "ERR DB index is out of range") -> int:
    index = parse_int(raw, NOT_INTEGER)
    if not 0 <= index < databases:
        raise CommandError(error)
    return index
