"""Sorted sets, part one: ZADD and ZINCRBY, ZREM, ZCARD, ZSCORE, ZMSCORE, ZRANK, ZREVRANK, ZRANDMEMBER
and ZSCAN, plus the helpers the other sorted-set modules share.

Ranges live in zsets_ranges.py, pops (blocking or not) in zsets_pop.py, ZUNION/ZINTER/ZDIFF in
zsets_setops.py.

A ``ZSetValue`` keeps ``scores`` (member -> score) and ``ranked``, a SortedList of (score, member)
tuples, so rank and range lookups are bisections. Two facts of Redis's compact encoding must be
reproduced because clients can observe them: when a sorted set turns from listpack into skiplist
(``big``, one way), and that a listpack stores a score of -0 as 0 (``ZSCORE`` then answers ``0``,
while a skiplist keeps ``-0``).
"""

from __future__ import annotations

import math
import random

from emberkv.commands.args import INT64_MAX, parse_float, parse_int
from emberkv.commands.errors import SYNTAX, WRONGTYPE, CommandError
from emberkv.commands.keys import CURSORS, parse_scan_options
from emberkv.commands.table import command
from emberkv.commands.typed import read_typed, write_typed
from emberkv.keyspace.db import NOTIFY_GENERIC, NOTIFY_ZSET
from emberkv.keyspace.glob import glob_match
from emberkv.keyspace.scan import parse_cursor
from emberkv.keyspace.values import ZSetValue
from emberkv.protocol.replies import Double
from emberkv.protocol.resp import format_double

NAN_SCORE = "ERR resulting score is not a number (NaN)"
# ZRANDMEMBER with a negative count may repeat members, so its reply is not bounded by the set's size.
# Redis tries to build any size asked for (and dies of it for huge counts); we refuse past this many.
RANDOM_REPEAT_LIMIT = 1 << 24


# -- shared helpers ------------------------------------------------------------------------------

def zset_read(c, key: bytes) -> ZSetValue | None:
    """The sorted set at key for reading (None when missing); WRONGTYPE for another type."""
    return read_typed(c, key, ZSetValue)


def zset_write(c, key: bytes) -> ZSetValue | None:
    """The sorted set at key, about to be changed in place (None when missing)."""
    return write_typed(c, key, ZSetValue)


def build_zset(c, pairs: list[tuple[float, bytes]]) -> ZSetValue:
    """A new sorted set of already sorted (score, member) pairs, encoded as Redis would store it."""
    config = c.server.config
    zs = ZSetValue()
    zs.big = len(pairs) > config["zset-max-listpack-entries"] or any(
        len(m) > config["zset-max-listpack-value"] for _, m in pairs)
    if not zs.big:
        pairs = [(s + 0.0, m) for s, m in pairs]  # x + 0.0 turns -0 into 0 and leaves the rest alone
    zs.scores = {m: s for s, m in pairs}
    zs.ranked.update(pairs)
    return zs


def store_zset(c, dst: bytes, pairs: list[tuple[float, bytes]], event: bytes) -> int:
    """Write a computed result at dst (the *STORE commands): an empty result deletes dst."""
    ks, db = c.ks, c.db
    if pairs:
        ks.set_key(db, dst, build_zset(c, pairs))
        ks.notify(NOTIFY_ZSET, event, db, dst)
        ks.signal_ready(db, dst)
    elif ks.delete_key(db, dst):
        ks.notify(NOTIFY_GENERIC, b"del", db, dst)
    return len(pairs)


def removed_members(c, key: bytes, zs: ZSetValue, removed: int, event: bytes) -> None:
    """Account for members removed in place: dirty counter, events, and deleting an emptied key."""
    ks, db = c.ks, c.db
    ks.notify(NOTIFY_ZSET, event, db, key)
    if zs.scores:
        ks.modified(db, key, removed)
        return
    ks.delete_key(db, key)
    if removed > 1:
        ks.modified(db, key, removed - 1)
    ks.notify(NOTIFY_GENERIC, b"del", db, key)


def scored_reply(c, pairs, withscores: bool) -> list:
    """Members (with their scores when asked: flat in RESP2, [member, score] pairs in RESP3)."""
    if not withscores:
        return [m for _, m in pairs]
    if c.resp == 2:
        out: list = []
        for s, m in pairs:
            out.append(m)
            out.append(Double(s))
        return out
    return [[m, Double(s)] for s, m in pairs]


# -- ZADD / ZINCRBY --------------------------------------------------------------------------------

_NX, _XX, _GT, _LT, _CH, _INCR = 1, 2, 4, 8, 16, 32
_ZADD_OPTIONS = {b"nx": _NX, b"xx": _XX, b"gt": _GT, b"lt": _LT, b"ch": _CH, b"incr": _INCR}


@command("zadd", -4, "write denyoom fast", keys=(1, 1, 1), group="sorted-set")
def zadd(c, argv):
    """Add members with their scores to a sorted set, or change the scores of present members."""
    if len(argv) == 4 and argv[2].lower() not in _ZADD_OPTIONS:
        # ZADD key score member on an existing sorted set, the benchmarked case: no option loop and
        # no lists. A new key or another type takes the general path below.
        score = parse_float(argv[2])
        ks, db, key, member = c.ks, c.db, argv[1], argv[3]
        zs = ks.lookup_write(db, key)
        if zs is not None and type(zs) is ZSetValue:
            current = zs.scores.get(member)
            if current is None:
                _insert(c, zs, member, score)
            elif current != score:
                _rescore(zs, member, current, score)
            else:
                return 0
            ks.modified(db, key)
            ks.notify(NOTIFY_ZSET, b"zadd", db, key)
            return 1 if current is None else 0
    return _zadd(c, argv, 0)


@command("zincrby", 4, "write denyoom fast", keys=(1, 1, 1), group="sorted-set")
def zincrby(c, argv):
    """Add an increment to the score of one member of a sorted set."""
    return _zadd(c, argv, _INCR)


def _zadd(c, argv: list[bytes], opts: int):
    argc = len(argv)
    first = 2
    # Options come first, and stop at the first argument that is not one (ZINCRBY reads them too).
    while first < argc:
        flag = _ZADD_OPTIONS.get(argv[first].lower())
        if flag is None:
            break
        opts |= flag
        first += 1
    elements = argc - first
    if not elements or elements & 1:
        raise CommandError(SYNTAX)
    if opts & _NX and opts & _XX:
        raise CommandError("ERR XX and NX options at the same time are not compatible")
    if (opts & _GT and opts & (_NX | _LT)) or (opts & _LT and opts & _NX):
        raise CommandError("ERR GT, LT, and/or NX options at the same time are not compatible")
    incr = opts & _INCR
    if incr and elements > 2:
        raise CommandError("ERR INCR option supports a single increment-element pair")
    scores = [parse_float(argv[i]) for i in range(first, argc, 2)]

    ks, db, key = c.ks, c.db, argv[1]
    zs = ks.lookup_write(db, key)
    created = False
    if zs is None:
        if opts & _XX:
            return None if incr else 0
        config = c.server.config
        zs = ZSetValue()
        zs.big = (config["zset-max-listpack-entries"] == 0
                  or len(argv[first + 1]) > config["zset-max-listpack-value"])
        created = True
    elif type(zs) is not ZSetValue:
        raise CommandError(WRONGTYPE)

    members = zs.scores
    added = updated = processed = 0
    score = 0.0
    for n, score in enumerate(scores):
        member = argv[first + 1 + 2 * n]
        current = members.get(member)
        if current is None:
            if opts & _XX:
                continue
            _insert(c, zs, member, score)
            added += 1
            processed += 1
            continue
        if opts & _NX:
            continue
        if incr:
            score += current
            if math.isnan(score):
                raise CommandError(NAN_SCORE)
        if (opts & _LT and score >= current) or (opts & _GT and score <= current):
            continue
        processed += 1
        if score != current:
            _rescore(zs, member, current, score)
            updated += 1

    if added or updated:
        if created:
            ks.add_key(db, key, zs)
            if added + updated > 1:
                ks.modified(db, key, added + updated - 1)
            ks.signal_ready(db, key)
        else:
            ks.modified(db, key, added + updated)
        ks.notify(NOTIFY_ZSET, b"zincr" if incr else b"zadd", db, key)
    if incr:
        return Double(score) if processed else None
    return added + updated if opts & _CH else added


def _insert(c, zs: ZSetValue, member: bytes, score: float) -> None:
    """Add a new member, leaving the compact encoding first if the set outgrows it."""
    if not zs.big:
        config = c.server.config
        if (len(zs.scores) >= config["zset-max-listpack-entries"]
                or len(member) > config["zset-max-listpack-value"]):
            zs.big = True
        else:
            score += 0.0  # a listpack stores -0 as 0; x + 0.0 changes nothing else
    zs.scores[member] = score
    zs.ranked.add((score, member))


def _rescore(zs: ZSetValue, member: bytes, current: float, score: float) -> None:
    zs.ranked.remove((current, member))
    if not zs.big:
        score += 0.0
    zs.scores[member] = score
    zs.ranked.add((score, member))


# -- removing and reading members ------------------------------------------------------------------

@command("zrem", -3, "write fast", keys=(1, 1, 1), group="sorted-set")
def zrem(c, argv):
    """Remove members from a sorted set."""
    key = argv[1]
    zs = zset_write(c, key)
    if zs is None:
        return 0
    members, ranked = zs.scores, zs.ranked
    removed = 0
    for member in argv[2:]:
        score = members.pop(member, None)
        if score is not None:
            ranked.remove((score, member))
            removed += 1
    if removed:
        removed_members(c, key, zs, removed, b"zrem")
    return removed


@command("zcard", 2, "readonly fast", keys=(1, 1, 1), group="sorted-set")
def zcard(c, argv):
    """Number of members in a sorted set."""
    zs = zset_read(c, argv[1])
    return 0 if zs is None else len(zs.scores)


@command("zscore", 3, "readonly fast", keys=(1, 1, 1), group="sorted-set")
def zscore(c, argv):
    """Score of one member of a sorted set."""
    zs = zset_read(c, argv[1])
    if zs is None:
        return None
    score = zs.scores.get(argv[2])
    return None if score is None else Double(score)


@command("zmscore", -3, "readonly fast", keys=(1, 1, 1), group="sorted-set")
def zmscore(c, argv):
    """Scores of several members of a sorted set (null for those absent)."""
    zs = zset_read(c, argv[1])
    if zs is None:
        return [None] * (len(argv) - 2)
    get = zs.scores.get
    out = []
    for member in argv[2:]:
        score = get(member)
        out.append(None if score is None else Double(score))
    return out


@command("zrank", 3, "readonly fast", keys=(1, 1, 1), group="sorted-set")
def zrank(c, argv):
    """Position of a member in a sorted set, lowest score first."""
    return _rank(c, argv, False)


@command("zrevrank", 3, "readonly fast", keys=(1, 1, 1), group="sorted-set")
def zrevrank(c, argv):
    """Position of a member in a sorted set, highest score first."""
    return _rank(c, argv, True)


def _rank(c, argv: list[bytes], reverse: bool):
    zs = zset_read(c, argv[1])
    if zs is None:
        return None
    member = argv[2]
    score = zs.scores.get(member)
    if score is None:
        return None
    rank = zs.ranked.bisect_left((score, member))
    return len(zs.scores) - 1 - rank if reverse else rank


# -- ZRANDMEMBER -------------------------------------------------------------------------------------

@command("zrandmember", -2, "readonly", keys=(1, 1, 1), group="sorted-set")
def zrandmember(c, argv):
    """Random members of a sorted set; a negative count allows the same member more than once."""
    if len(argv) == 2:
        zs = zset_read(c, argv[1])
        if zs is None:
            return None
        return zs.ranked[random.randrange(len(zs.ranked))][1]
    count = parse_int(argv[2])
    if count < -INT64_MAX:
        raise CommandError(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
    if len(argv) > 4 or (len(argv) == 4 and argv[3].lower() != b"withscores"):
        raise CommandError(SYNTAX)
    withscores = len(argv) == 4
    if withscores and not -(INT64_MAX // 2) <= count <= INT64_MAX // 2:
        raise CommandError("ERR value is out of range")
    if count < -RANDOM_REPEAT_LIMIT:
        raise CommandError("ERR value is out of range")
    zs = zset_read(c, argv[1])
    if zs is None or count == 0:
        return []
    ranked = zs.ranked
    size = len(ranked)
    if count < 0:
        picks = [ranked[random.randrange(size)] for _ in range(-count)]
    elif count >= size:
        picks = list(ranked)
        random.shuffle(picks)
    else:
        picks = [ranked[i] for i in random.sample(range(size), count)]
    return scored_reply(c, picks, withscores)


# -- ZSCAN -------------------------------------------------------------------------------------------

@command("zscan", -3, "readonly", keys=(1, 1, 1), group="sorted-set")
def zscan(c, argv):
    """Walk a sorted set's members and scores a few at a time with a cursor."""
    cursor = parse_cursor(argv[2])
    zs = zset_read(c, argv[1])
    if zs is None:
        return [b"0", []]
    pattern, count, _ = parse_scan_options(argv, 3)
    scores = zs.scores
    if not zs.big:
        # A listpack is returned whole in one call, in rank order, as Redis does.
        next_cursor, found = 0, [m for _, m in zs.ranked]
    else:
        next_cursor, found = CURSORS.step(zs, cursor, lambda: list(scores), count)
    out = []
    for member in found:
        score = scores.get(member)
        if score is None or (pattern is not None and not glob_match(pattern, member)):
            continue
        out.append(member)
        out.append(format_double(score))
    return [b"%d" % next_cursor, out]
