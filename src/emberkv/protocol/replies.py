"""Reply values a command handler returns; the encoder (protocol/resp.py) turns them into bytes.

Handlers speak in Python values, never in RESP: ``bytes`` is a bulk string, ``int`` an integer, ``None``
a null, ``list``/``tuple`` an array. The small types below cover the rest of RESP2 and RESP3, each with
its RESP2 fallback (a map becomes a flat array, a double a bulk string, a set an array).
"""

from __future__ import annotations


class SimpleString(bytes):
    """``+OK``: a status reply."""

    __slots__ = ()


class ErrorReply(bytes):
    """``-ERR ...``: an error as a value, for error elements inside an array (EXEC's replies)."""

    __slots__ = ()


class Map(list):
    """A RESP3 map given as a flat list ``[k1, v1, k2, v2, ...]``; RESP2 sends it as that array."""

    __slots__ = ()


class SetReply(list):
    """A RESP3 set (``~``); RESP2 sends an array."""

    __slots__ = ()


class Double(float):
    """A RESP3 double (``,``); RESP2 sends the same text as a bulk string."""

    __slots__ = ()


class Verbatim(bytes):
    """A RESP3 verbatim string (``=txt:``), e.g. INFO; RESP2 sends a bulk string."""

    __slots__ = ()


class Push(list):
    """Out-of-band data (pub/sub messages): RESP3 ``>``, RESP2 a plain array."""

    __slots__ = ()


class _NullArray:
    """``*-1`` in RESP2 (a timed-out BLPOP, an aborted EXEC); RESP3 has one null for everything."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NULL_ARRAY"


NULL_ARRAY = _NullArray()

OK = SimpleString(b"OK")
QUEUED = SimpleString(b"QUEUED")
PONG = SimpleString(b"PONG")


class NoReply:
    """Returned by a handler that has already sent its reply (or must send none, like QUIT's close)."""

    __slots__ = ()


NO_REPLY = NoReply()
