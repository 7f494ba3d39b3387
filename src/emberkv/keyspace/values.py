"""The value model: what a key holds in memory, and which Redis type and encoding it answers to.

Strings are plain ``bytes`` (the hot path never wraps them). Containers are small subclasses of the
built-in types so that TYPE, OBJECT ENCODING, the RDB writer and DEBUG DIGEST can tell them apart by
``type(value)`` alone, and so that each can remember the one fact Redis keeps that the contents do not
tell: whether it has been converted from its compact encoding (listpack/intset) to the big one. Redis
never converts back while the key lives, so neither do we (``big`` only goes from False to True).

=============  ================================  =======================================
Redis type     Python value                      OBJECT ENCODING
=============  ================================  =======================================
string         ``bytes`` / ``RawString``         int, embstr (<= 44 bytes), raw
list           ``ListValue`` (a deque)           quicklist (always, in Redis 7.0)
hash           ``HashValue`` (a dict)            listpack, hashtable once ``big``
set            ``SetValue`` (a set)              intset, hashtable once ``big``
zset           ``ZSetValue``                     listpack, skiplist once ``big``
=============  ================================  =======================================
"""

from __future__ import annotations

from collections import deque

from sortedcontainers import SortedList

# Largest string Redis stores as one "embstr" allocation (object header and bytes together).
EMBSTR_MAX = 44
# A string that reads as a 64-bit integer of at most 20 characters is stored as "int".
INT_ENCODING_MAX_LEN = 20


class RawString(bytes):
    """A string changed in place (APPEND, SETRANGE, SETBIT, ...): Redis reports it as ``raw``."""

    __slots__ = ()


class ListValue(deque):
    """A Redis list; head is index 0."""

    __slots__ = ()


class HashValue(dict):
    """A Redis hash: field -> value, both bytes."""

    __slots__ = ("big",)

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.big = False


class SetValue(set):
    """A Redis set of bytes members; ``big`` once it left the intset encoding."""

    __slots__ = ("big",)

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.big = False


class ZSetValue:
    """A Redis sorted set: ``scores`` maps member -> score, ``ranked`` keeps (score, member) in rank order.

    Ties in score are ordered by member bytes, exactly as Redis orders them, which is the order of the
    tuples. Both structures are always updated together through ``add`` and ``remove``.
    """

    __slots__ = ("scores", "ranked", "big")

    def __init__(self) -> None:
        self.scores: dict[bytes, float] = {}
        self.ranked: SortedList = SortedList()
        self.big = False

    def __len__(self) -> int:
        return len(self.scores)

    def add(self, member: bytes, score: float) -> None:
        old = self.scores.get(member)
        if old is not None:
            if old == score:
                return
            self.ranked.remove((old, member))
        self.scores[member] = score
        self.ranked.add((score, member))

    def remove(self, member: bytes) -> bool:
        score = self.scores.pop(member, None)
        if score is None:
            return False
        self.ranked.remove((score, member))
        return True


# Redis's type names, as TYPE and the RDB/digest code use them.
TYPE_NAMES: dict[type, bytes] = {
    bytes: b"string",
    RawString: b"string",
    ListValue: b"list",
    HashValue: b"hash",
    SetValue: b"set",
    ZSetValue: b"zset",
}


def type_name(value: object) -> bytes:
    return TYPE_NAMES[type(value)]


def is_string(value: object) -> bool:
    return type(value) is bytes or type(value) is RawString


def as_int_or_none(value: bytes) -> int | None:
    """The integer a string canonically spells (no sign +, no leading zeros, no spaces), else None."""
    if not value or len(value) > INT_ENCODING_MAX_LEN:
        return None
    try:
        n = int(value)
    except ValueError:
        return None
    if not -(2**63) <= n < 2**63 or str(n).encode() != value:
        return None
    return n


def string_encoding(value: bytes) -> bytes:
    if type(value) is RawString:
        return b"raw"
    if as_int_or_none(value) is not None:
        return b"int"
    return b"embstr" if len(value) <= EMBSTR_MAX else b"raw"


def copy_value(value: object) -> object:
    """An independent copy of a value, keeping its encoding state (strings are immutable: shared)."""
    kind = type(value)
    if kind is bytes or kind is RawString:
        return value
    if kind is ListValue:
        return ListValue(value)
    if kind is ZSetValue:
        dup = ZSetValue()
        dup.scores = dict(value.scores)
        dup.ranked = value.ranked.copy()
    elif kind is HashValue or kind is SetValue:
        dup = kind(value)
    else:
        raise TypeError(f"cannot copy a {kind.__name__}")
    dup.big = value.big
    return dup
