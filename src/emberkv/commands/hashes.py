"""Hashes: HSET/HMSET/HSETNX, HGET/HMGET, HDEL, HLEN, HSTRLEN, HEXISTS, HKEYS/HVALS/HGETALL,
HINCRBY/HINCRBYFLOAT, HRANDFIELD and HSCAN.

A hash is a ``HashValue`` (a dict, so field order is insertion order, as in Redis's listpack). Redis
keeps a small hash as a listpack and converts it, one way, to a hash table once it holds more than
``hash-max-listpack-entries`` fields or is handed a field or value longer than
``hash-max-listpack-value`` bytes; HSET checks every argument up front, even for fields it then
overwrites. ``big`` records that conversion: OBJECT ENCODING reports it, HSCAN answers a listpack in
one call, and the RDB writer picks the record type from it.

HINCRBYFLOAT computes in long double like INCRBYFLOAT and reaches the AOF as ``HSET key field
<result>``, so that replaying it cannot drift.
"""

from __future__ import annotations

import random
from itertools import chain, islice

from emberkv.commands.args import INT64_MAX, INT64_MIN, parse_int, to_int_or_none
from emberkv.commands.errors import (
    COUNT_OUT_OF_RANGE,
    NOT_FLOAT,
    OUT_OF_RANGE,
    OVERFLOW,
    SYNTAX,
    CommandError,
    wrong_arity,
)
from emberkv.commands.keys import CURSORS, parse_scan_options
from emberkv.commands.longdouble import (
    INCR_NAN_OR_INF,
    add_long_double,
    format_long_double,
    parse_long_double,
)
from emberkv.commands.table import command
from emberkv.commands.typed import read_typed, write_typed
from emberkv.commands.zsets import RANDOM_REPEAT_LIMIT
from emberkv.keyspace.db import NOTIFY_GENERIC, NOTIFY_HASH
from emberkv.keyspace.glob import glob_match
from emberkv.keyspace.scan import parse_cursor
from emberkv.keyspace.values import HashValue
from emberkv.protocol.replies import OK, Map

HASH_NOT_INTEGER = "ERR hash value is not an integer"
HASH_NOT_FLOAT = "ERR hash value is not a float"
INCR_NOT_FINITE = "ERR value is NaN or Infinity"


# -- shared helpers ------------------------------------------------------------------------------

def hash_read(c, key: bytes) -> HashValue | None:
    """The hash at key for reading (None when missing); WRONGTYPE for another type."""
    return read_typed(c, key, HashValue)


def hash_write(c, key: bytes) -> HashValue | None:
    """The hash at key, about to be changed in place (None when missing)."""
    return write_typed(c, key, HashValue)


def _hash_create(c, key: bytes) -> HashValue:
    h = HashValue()
    c.ks.add_key(c.db, key, h)
    return h


def _check_encoding(c, h: HashValue, written) -> None:
    """Convert a listpack hash to a hash table (``big``) when it is too long or was handed a field or
    value that is too long. Only called while the hash is not big yet."""
    config = c.server.config
    if len(h) > config["hash-max-listpack-entries"]:
        h.big = True
        return
    limit = config["hash-max-listpack-value"]
    for item in written:
        if len(item) > limit:
            h.big = True
            return


def _changed(c, key: bytes, event: bytes, changes: int = 1) -> None:
    ks, db = c.ks, c.db
    ks.modified(db, key, changes)
    ks.notify(NOTIFY_HASH, event, db, key)


# -- setting fields ------------------------------------------------------------------------------

@command("hset", -4, "write denyoom fast", keys=(1, 1, 1), group="hash")
def hset(c, argv):
    """Set field/value pairs in a hash, creating it if needed; answers how many fields are new."""
    return _hset(c, argv, "hset")


@command("hmset", -4, "write denyoom fast", keys=(1, 1, 1), group="hash")
def hmset(c, argv):
    """HSET under its older name, answering OK."""
    _hset(c, argv, "hmset")
    return OK


def _hset(c, argv: list[bytes], name: str) -> int:
    argc = len(argv)
    if argc & 1:
        raise CommandError(wrong_arity(name))
    key = argv[1]
    h = hash_write(c, key)
    if h is None:
        h = _hash_create(c, key)
    before = len(h)
    if argc == 4:
        h[argv[2]] = argv[3]
    else:
        for i in range(2, argc, 2):
            h[argv[i]] = argv[i + 1]
    if not h.big:
        _check_encoding(c, h, argv[2:])
    _changed(c, key, b"hset", (argc - 2) >> 1)
    return len(h) - before


@command("hsetnx", 4, "write denyoom fast", keys=(1, 1, 1), group="hash")
def hsetnx(c, argv):
    """Set a field only if the hash does not have it yet; 1 if it was set."""
    key, field = argv[1], argv[2]
    h = hash_write(c, key)
    if h is None:
        h = _hash_create(c, key)
    elif field in h:
        return 0
    h[field] = argv[3]
    if not h.big:
        _check_encoding(c, h, argv[2:])
    _changed(c, key, b"hset")
    return 1


@command("hincrby", 4, "write denyoom fast", keys=(1, 1, 1), group="hash")
def hincrby(c, argv):
    """Add an integer to the number stored in a field (a missing field counts as 0)."""
    incr = parse_int(argv[3])
    key, field = argv[1], argv[2]
    h = hash_write(c, key)
    current = None if h is None else h.get(field)
    if current is None:
        value = 0
    else:
        value = to_int_or_none(current)
        if value is None:
            raise CommandError(HASH_NOT_INTEGER)
    value += incr
    if not INT64_MIN <= value <= INT64_MAX:
        raise CommandError(OVERFLOW)
    new = b"%d" % value
    _store_field(c, key, h, field, new, b"hincrby")
    return value


@command("hincrbyfloat", 4, "write denyoom fast", keys=(1, 1, 1), group="hash")
def hincrbyfloat(c, argv):
    """Add a decimal number to the number stored in a field, computed in long double precision."""
    incr = parse_long_double(argv[3])
    if incr is None:
        raise CommandError(NOT_FLOAT)
    if isinstance(incr, float):
        raise CommandError(INCR_NOT_FINITE)
    key, field = argv[1], argv[2]
    h = hash_write(c, key)
    current = None if h is None else h.get(field)
    if current is None:
        total = incr
    else:
        value = parse_long_double(current)
        if value is None:
            raise CommandError(HASH_NOT_FLOAT)
        total = add_long_double(value, incr)
        if isinstance(total, float):
            raise CommandError(INCR_NAN_OR_INF)
    new = format_long_double(total)
    _store_field(c, key, h, field, new, b"hincrbyfloat")
    c.propagate_as = [[b"HSET", key, field, new]]
    return new


def _store_field(c, key: bytes, h: HashValue | None, field: bytes, value: bytes, event: bytes) -> None:
    if h is None:
        h = _hash_create(c, key)
    h[field] = value
    if not h.big:
        _check_encoding(c, h, (field, value))
    _changed(c, key, event)


@command("hdel", -3, "write fast", keys=(1, 1, 1), group="hash")
def hdel(c, argv):
    """Remove fields from a hash (deleting the hash once empty); answers how many were there."""
    key = argv[1]
    h = hash_write(c, key)
    if h is None:
        return 0
    removed = 0
    for field in argv[2:]:
        if h.pop(field, None) is not None:
            removed += 1
    if removed:
        ks, db = c.ks, c.db
        ks.notify(NOTIFY_HASH, b"hdel", db, key)
        if h:
            ks.modified(db, key, removed)
        else:
            ks.delete_key(db, key)
            if removed > 1:
                ks.modified(db, key, removed - 1)
            ks.notify(NOTIFY_GENERIC, b"del", db, key)
    return removed


# -- reading -------------------------------------------------------------------------------------

@command("hget", 3, "readonly fast", keys=(1, 1, 1), group="hash")
def hget(c, argv):
    """The value of one field, or null."""
    h = hash_read(c, argv[1])
    return None if h is None else h.get(argv[2])


@command("hmget", -3, "readonly fast", keys=(1, 1, 1), group="hash")
def hmget(c, argv):
    """The values of several fields (null for each missing one)."""
    h = hash_read(c, argv[1])
    if h is None:
        return [None] * (len(argv) - 2)
    get = h.get
    return [get(field) for field in argv[2:]]


@command("hlen", 2, "readonly fast", keys=(1, 1, 1), group="hash")
def hlen(c, argv):
    """Number of fields in a hash."""
    h = hash_read(c, argv[1])
    return 0 if h is None else len(h)


@command("hstrlen", 3, "readonly fast", keys=(1, 1, 1), group="hash")
def hstrlen(c, argv):
    """Length in bytes of one field's value (0 when missing)."""
    h = hash_read(c, argv[1])
    value = None if h is None else h.get(argv[2])
    return 0 if value is None else len(value)


@command("hexists", 3, "readonly fast", keys=(1, 1, 1), group="hash")
def hexists(c, argv):
    """1 if the hash has the field, else 0."""
    h = hash_read(c, argv[1])
    return int(h is not None and argv[2] in h)


@command("hkeys", 2, "readonly", keys=(1, 1, 1), group="hash")
def hkeys(c, argv):
    """All field names of a hash."""
    h = hash_read(c, argv[1])
    return [] if h is None else list(h)


@command("hvals", 2, "readonly", keys=(1, 1, 1), group="hash")
def hvals(c, argv):
    """All values of a hash."""
    h = hash_read(c, argv[1])
    return [] if h is None else list(h.values())


@command("hgetall", 2, "readonly", keys=(1, 1, 1), group="hash")
def hgetall(c, argv):
    """All fields with their values (a map in RESP3)."""
    h = hash_read(c, argv[1])
    return Map() if h is None else Map(chain.from_iterable(h.items()))


# -- HRANDFIELD / HSCAN --------------------------------------------------------------------------

@command("hrandfield", -2, "readonly", keys=(1, 1, 1), group="hash")
def hrandfield(c, argv):
    """Random fields: one, count distinct ones, or -count with repeats; optionally with values."""
    if len(argv) == 2:
        h = hash_read(c, argv[1])
        if h is None:
            return None
        return next(islice(h, random.randrange(len(h)), None))
    count = parse_int(argv[2])
    if count == INT64_MIN:
        raise CommandError(COUNT_OUT_OF_RANGE)
    if len(argv) > 4 or (len(argv) == 4 and argv[3].lower() != b"withvalues"):
        raise CommandError(SYNTAX)
    withvalues = len(argv) == 4
    if withvalues and not -(INT64_MAX // 2) <= count <= INT64_MAX // 2:
        raise CommandError(OUT_OF_RANGE)
    h = hash_read(c, argv[1])
    if h is None or count == 0:
        return []
    # Redis would try to build any number of repeats (and die of a huge one); past this, refuse.
    if count < -RANDOM_REPEAT_LIMIT:
        raise CommandError(OUT_OF_RANGE)
    items = list(h.items())
    size = len(items)
    if count < 0:
        randrange = random.randrange
        picks = [items[randrange(size)] for _ in range(-count)]
    elif count >= size:
        picks = items
    else:
        # Distinct picks, kept in the hash's order as Redis's listpack sampling keeps them.
        picks = [items[i] for i in sorted(random.sample(range(size), count))]
    if not withvalues:
        return [field for field, _ in picks]
    if c.resp == 2:
        return list(chain.from_iterable(picks))
    return [list(pair) for pair in picks]


@command("hscan", -3, "readonly", keys=(1, 1, 1), group="hash")
def hscan(c, argv):
    """Walk a hash's fields and values a few at a time with a cursor."""
    cursor = parse_cursor(argv[2])
    h = hash_read(c, argv[1])
    if h is None:
        return [b"0", []]
    pattern, count, _ = parse_scan_options(argv, 3)
    if not h.big:
        # A listpack is answered whole in one call, as Redis does.
        next_cursor, fields = 0, list(h)
    else:
        next_cursor, fields = CURSORS.step(h, cursor, h.keys, count)
    out: list[bytes] = []
    for field in fields:
        value = h.get(field)
        if value is None or (pattern is not None and not glob_match(pattern, field)):
            continue
        out.append(field)
        out.append(value)
    return [b"%d" % next_cursor, out]
