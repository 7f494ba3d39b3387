"""Sorted sets, part three: taking members off either end. ZPOPMIN/ZPOPMAX, ZMPOP, and the blocking
BZPOPMIN/BZPOPMAX/BZMPOP.

A blocking pop that finds every key empty parks its client (server/blocking.py). A write that
creates a sorted set signals the key, and the parked command runs again with the same argv; on that
second run it looks only at the key that was signalled, and treats a key of another type as nothing
to take (Redis 7.0 serves waiters from the ready key and leaves waiters of other types parked).

What reaches the AOF is the effect: ``ZPOPMIN key`` for BZPOPMIN, and ``ZPOPMIN key <n>`` with the
number actually popped for ZMPOP and BZMPOP.
"""

from __future__ import annotations

import math

from emberkv.commands.args import parse_int
from emberkv.commands.errors import NOT_POSITIVE, SYNTAX, WRONGTYPE, CommandError
from emberkv.commands.longdouble import parse_long_double, round_long_double
from emberkv.commands.table import COMMANDS, command, numkeys_getkeys
from emberkv.commands.zsets import removed_members, scored_reply, zset_write
from emberkv.keyspace.values import ZSetValue
from emberkv.protocol.replies import NULL_ARRAY, Double

NUMKEYS_NOT_POSITIVE = "ERR numkeys should be greater than 0"
COUNT_NOT_POSITIVE = "ERR count should be greater than 0"
TIMEOUT_NOT_FLOAT = "ERR timeout is not a float or out of range"
TIMEOUT_NEGATIVE = "ERR timeout is negative"
# Waits longer than this (about 285,000 years) are taken as no timeout at all.
FOREVER_MS = 2**53

_POP_NAMES = (b"ZPOPMIN", b"ZPOPMAX")
_POP_EVENTS = (b"zpopmin", b"zpopmax")


def pop_members(c, key: bytes, zs: ZSetValue, count: int, from_max: bool) -> list[tuple[float, bytes]]:
    """Remove up to count members from one end of zs; returns (score, member) in popping order."""
    ranked, scores = zs.ranked, zs.scores
    if count == 1:
        item = ranked.pop(-1 if from_max else 0)
        del scores[item[1]]
        items = [item]
    else:
        n = min(count, len(ranked))
        if from_max:
            items = ranked[len(ranked) - n:]
            items.reverse()
            del ranked[len(ranked) - n:]
        else:
            items = ranked[:n]
            del ranked[:n]
        for _, member in items:
            del scores[member]
    removed_members(c, key, zs, len(items), _POP_EVENTS[from_max])
    return items


def parse_timeout(c, raw: bytes) -> int:
    """A blocking timeout in seconds as an absolute deadline in ms (0: wait forever).

    Redis reads it as a long double, multiplies by 1000 in long double and rounds up to a 64-bit
    integer (so 0.0001 waits 1 ms rather than forever); a product beyond that integer's range (inf
    included) comes out as its most negative value, hence 'timeout is negative' for inf and huge
    values."""
    value = parse_long_double(raw)
    if value is None:
        raise CommandError(TIMEOUT_NOT_FLOAT)
    ms = value if isinstance(value, float) else round_long_double(value * 1000)
    if isinstance(ms, float) or not -(2**63) <= ms < 2**63:
        raise CommandError(TIMEOUT_NEGATIVE)
    wait = math.ceil(ms)
    if wait < 0:
        raise CommandError(TIMEOUT_NEGATIVE)
    # Redis does not range-check the deadline; beyond any plausible wait, wait forever.
    if not wait or wait > FOREVER_MS:
        return 0
    return c.ks.now_ms + wait


# -- ZPOPMIN / ZPOPMAX -----------------------------------------------------------------------------

@command("zpopmin", -2, "write fast", keys=(1, 1, 1), group="sorted-set")
def zpopmin(c, argv):
    """Remove and return the members with the lowest scores."""
    if len(argv) == 2:
        # The benchmarked form: one member, looked up without the shared helpers' layers.
        key = argv[1]
        zs = c.ks.lookup_write(c.db, key)
        if zs is None:
            return []
        if type(zs) is not ZSetValue:
            raise CommandError(WRONGTYPE)
        score, member = zs.ranked.pop(0)
        del zs.scores[member]
        removed_members(c, key, zs, 1, b"zpopmin")
        return [member, Double(score)]
    return _zpop(c, argv, False)


@command("zpopmax", -2, "write fast", keys=(1, 1, 1), group="sorted-set")
def zpopmax(c, argv):
    """Remove and return the members with the highest scores."""
    return _zpop(c, argv, True)


def _zpop(c, argv: list[bytes], from_max: bool):
    argc = len(argv)
    if argc > 3:
        raise CommandError(SYNTAX)
    count = 1
    if argc == 3:
        count = parse_int(argv[2], NOT_POSITIVE)
        if count < 0:
            raise CommandError(NOT_POSITIVE)
    key = argv[1]
    zs = zset_write(c, key)
    if zs is None or not count:
        return []
    items = pop_members(c, key, zs, count, from_max)
    if argc == 2:
        score, member = items[0]
        return [member, Double(score)]
    return scored_reply(c, items, True)


# -- ZMPOP -----------------------------------------------------------------------------------------

def _parse_mpop(argv: list[bytes], numkeys_at: int) -> tuple[list[bytes], bool, int]:
    """(keys, from max?, count) of ZMPOP / BZMPOP, with numkeys at argv[numkeys_at]."""
    numkeys = parse_int(argv[numkeys_at], NUMKEYS_NOT_POSITIVE)
    if numkeys < 1:
        raise CommandError(NUMKEYS_NOT_POSITIVE)
    where_at = numkeys_at + numkeys + 1
    argc = len(argv)
    if where_at >= argc:
        raise CommandError(SYNTAX)
    where = argv[where_at].lower()
    if where not in (b"min", b"max"):
        raise CommandError(SYNTAX)
    count = 0
    j = where_at + 1
    while j < argc:
        if not count and argv[j].lower() == b"count" and j + 1 < argc:
            count = parse_int(argv[j + 1], COUNT_NOT_POSITIVE)
            if count < 1:
                raise CommandError(COUNT_NOT_POSITIVE)
            j += 2
        else:
            raise CommandError(SYNTAX)
    return argv[numkeys_at + 1:where_at], where == b"max", count or 1


def _mpop_from(c, key: bytes, zs: ZSetValue, count: int, from_max: bool) -> list:
    items = pop_members(c, key, zs, count, from_max)
    c.propagate_as = [[_POP_NAMES[from_max], key, b"%d" % len(items)]]
    return [key, [[m, Double(s)] for s, m in items]]


@command("zmpop", -4, "write movablekeys", group="sorted-set", getkeys=numkeys_getkeys(1))
def zmpop(c, argv):
    """Pop members from the first non-empty sorted set among several keys."""
    keys, from_max, count = _parse_mpop(argv, 1)
    for key in keys:
        zs = zset_write(c, key)
        if zs is not None:
            return _mpop_from(c, key, zs, count, from_max)
    return NULL_ARRAY


# -- blocking pops ---------------------------------------------------------------------------------

@command("bzpopmin", -3, "write noscript blocking fast", keys=(1, -2, 1), group="sorted-set")
def bzpopmin(c, argv):
    """ZPOPMIN over several keys that waits until one of them has a member to give."""
    return _bzpop(c, argv, False)


@command("bzpopmax", -3, "write noscript blocking fast", keys=(1, -2, 1), group="sorted-set")
def bzpopmax(c, argv):
    """ZPOPMAX over several keys that waits until one of them has a member to give."""
    return _bzpop(c, argv, True)


def _candidates(c, keys: list[bytes]):
    """The keys to try with their sorted sets: all in order the first time, the ready key on a
    retry. Raises WRONGTYPE only on the first try."""
    retry = c.blocked is not None
    if retry:
        keys = [c.blocked.ready_key]
    for key in keys:
        value = c.ks.lookup_write(c.db, key)
        if value is None:
            continue
        if type(value) is not ZSetValue:
            if retry:
                continue
            raise CommandError(WRONGTYPE)
        return key, value
    return None, None


def _bzpop(c, argv: list[bytes], from_max: bool):
    deadline = parse_timeout(c, argv[-1])
    key, zs = _candidates(c, argv[1:-1])
    if zs is not None:
        score, member = pop_members(c, key, zs, 1, from_max)[0]
        c.propagate_as = [[_POP_NAMES[from_max], key]]
        return [key, member, Double(score)]
    if c.in_exec:
        return NULL_ARRAY
    cmd = COMMANDS[b"bzpopmax" if from_max else b"bzpopmin"]
    return c.server.blocking.block(c, argv[1:-1], deadline, cmd, argv)


@command("bzmpop", -5, "write blocking movablekeys", group="sorted-set", getkeys=numkeys_getkeys(2))
def bzmpop(c, argv):
    """ZMPOP that waits until one of the keys has members to give."""
    keys, from_max, count = _parse_mpop(argv, 2)
    deadline = parse_timeout(c, argv[1])
    key, zs = _candidates(c, keys)
    if zs is not None:
        return _mpop_from(c, key, zs, count, from_max)
    if c.in_exec:
        return NULL_ARRAY
    return c.server.blocking.block(c, keys, deadline, COMMANDS[b"bzmpop"], argv)
