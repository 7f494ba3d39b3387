"""Counters on strings: INCR, DECR, INCRBY, DECRBY and INCRBYFLOAT.

The integer commands read the stored string as a signed 64-bit integer exactly as Redis spells one
(no spaces, no '+', no leading zeros) and store the result as its decimal text, which OBJECT ENCODING
reports as int. The key keeps its time to live. INCRBYFLOAT computes in x87 extended precision like
Redis (commands/longdouble.py) and is logged as ``SET k <result> KEEPTTL`` so that replaying the AOF
does not depend on how the replaying side rounds.
"""

from __future__ import annotations

from emberkv.commands.args import INT64_MAX, INT64_MIN, parse_int, to_int_or_none
from emberkv.commands.errors import NOT_INTEGER, OVERFLOW, WRONGTYPE, CommandError
from emberkv.commands.longdouble import incr_long_double
from emberkv.commands.table import command
from emberkv.keyspace.db import NOTIFY_STRING
from emberkv.keyspace.values import RawString

DECREMENT_OVERFLOW = "ERR decrement would overflow"


def _incr_by(c, key: bytes, delta: int) -> int:
    ks, db = c.ks, c.db
    value = ks.lookup_write(db, key)
    if value is None:
        result = delta
        ks.add_key(db, key, b"%d" % result)
    else:
        if type(value) is not bytes and type(value) is not RawString:
            raise CommandError(WRONGTYPE)
        current = to_int_or_none(value)
        if current is None:
            raise CommandError(NOT_INTEGER)
        result = current + delta
        if result > INT64_MAX or result < INT64_MIN:
            raise CommandError(OVERFLOW)
        ks.set_key(db, key, b"%d" % result, keepttl=True)
    if ks.notify_flags:
        ks.notify(NOTIFY_STRING, b"incrby", db, key)
    return result


@command("incr", 2, "write denyoom fast", keys=(1, 1, 1), group="string")
def incr(c, argv):
    """Add one to the integer stored at a key."""
    return _incr_by(c, argv[1], 1)


@command("decr", 2, "write denyoom fast", keys=(1, 1, 1), group="string")
def decr(c, argv):
    """Subtract one from the integer stored at a key."""
    return _incr_by(c, argv[1], -1)


@command("incrby", 3, "write denyoom fast", keys=(1, 1, 1), group="string")
def incrby(c, argv):
    """Add an integer to the integer stored at a key."""
    return _incr_by(c, argv[1], parse_int(argv[2]))


@command("decrby", 3, "write denyoom fast", keys=(1, 1, 1), group="string")
def decrby(c, argv):
    """Subtract an integer from the integer stored at a key."""
    delta = parse_int(argv[2])
    if delta == INT64_MIN:
        # Its negation does not fit in 64 bits; Redis refuses it before looking at the key.
        raise CommandError(DECREMENT_OVERFLOW)
    return _incr_by(c, argv[1], -delta)


@command("incrbyfloat", 3, "write denyoom fast", keys=(1, 1, 1), group="string")
def incrbyfloat(c, argv):
    """Add a floating point number to the number stored at a key."""
    ks, db, key = c.ks, c.db, argv[1]
    value = ks.lookup_write(db, key)
    if value is not None and type(value) is not bytes and type(value) is not RawString:
        raise CommandError(WRONGTYPE)
    result = incr_long_double(b"0" if value is None else value, argv[2])
    if value is None:
        ks.add_key(db, key, result)
    else:
        ks.set_key(db, key, result, keepttl=True)
    ks.notify(NOTIFY_STRING, b"incrbyfloat", db, key)
    c.propagate_as = [[b"SET", key, result, b"KEEPTTL"]]
    return result
