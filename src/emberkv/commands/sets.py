"""Sets: SADD, SREM, SCARD, SISMEMBER/SMISMEMBER, SMEMBERS, SPOP, SRANDMEMBER, SMOVE, SSCAN, and the
set algebra SINTER/SUNION/SDIFF (with their STORE forms) and SINTERCARD.

A set is a ``SetValue`` (a Python set of bytes). Redis 7.0 starts a set as an intset when its first
member is an integer and converts it, one way, to a hash table once a non-integer member arrives or
it grows past ``set-max-intset-entries``; ``big`` records that conversion. An intset keeps its
members sorted, which clients can see in SMEMBERS and SSCAN, so a set that is still an intset is
answered in numeric order. A result built by the algebra commands starts as an intset too.

SPOP is not deterministic, so it reaches the AOF as what it did: ``SREM key member`` for each popped
member, or ``DEL key`` when it took them all.
"""

from __future__ import annotations

import random
from itertools import islice

from emberkv.commands.args import INT64_MIN, parse_int, to_int_or_none
from emberkv.commands.errors import (
    COUNT_OUT_OF_RANGE,
    NOT_POSITIVE,
    OUT_OF_RANGE,
    SYNTAX,
    WRONGTYPE,
    CommandError,
)
from emberkv.commands.keys import CURSORS, parse_scan_options
from emberkv.commands.table import command, numkeys_getkeys
from emberkv.commands.typed import read_typed, write_typed
from emberkv.commands.zsets import RANDOM_REPEAT_LIMIT
from emberkv.keyspace.db import NOTIFY_GENERIC, NOTIFY_SET
from emberkv.keyspace.glob import glob_match
from emberkv.keyspace.scan import parse_cursor
from emberkv.keyspace.values import SetValue
from emberkv.protocol.replies import SetReply

NUMKEYS_NOT_POSITIVE = "ERR numkeys should be greater than 0"
TOO_MANY_KEYS = "ERR Number of keys can't be greater than number of args"
LIMIT_NEGATIVE = "ERR LIMIT can't be negative"
# Picking a uniformly random member of a Python set means walking to a random position. Up to this
# size that walk is cheap; SPOP on a larger set takes arbitrary members in O(1) each instead (the
# hash order of bytes is randomised per process, much as Redis's own bucket sampling is not uniform).
RANDOM_WALK_LIMIT = 4096


# -- shared helpers ------------------------------------------------------------------------------

def set_read(c, key: bytes) -> SetValue | None:
    """The set at key for reading (None when missing); WRONGTYPE for another type."""
    return read_typed(c, key, SetValue)


def set_write(c, key: bytes) -> SetValue | None:
    """The set at key, about to be changed in place (None when missing)."""
    return write_typed(c, key, SetValue)


def _all_integers(members) -> bool:
    return all(to_int_or_none(m) is not None for m in members)


def _check_encoding(c, s: SetValue, added) -> None:
    """Convert an intset (``big``) once it is too long or was given a non-integer member. Only called
    while the set is not big yet."""
    if len(s) > c.server.config["set-max-intset-entries"] or not _all_integers(added):
        s.big = True


def new_set(c, members: set) -> SetValue:
    """A set built from scratch (the algebra's results), encoded as Redis would build it."""
    s = SetValue(members)
    s.big = len(s) > c.server.config["set-max-intset-entries"] or not _all_integers(s)
    return s


def ordered(s: SetValue) -> list[bytes]:
    """The members in the order Redis lists them: numeric for an intset, any order otherwise."""
    return list(s) if s.big else sorted(s, key=int)


def _random_member(s: SetValue) -> bytes:
    return next(islice(s, random.randrange(len(s)), None))


def _removed(c, key: bytes, s: SetValue, count: int, event: bytes) -> None:
    """Account for count members taken out of s: the event, and deleting the key if s is empty."""
    ks, db = c.ks, c.db
    ks.notify(NOTIFY_SET, event, db, key)
    if s:
        ks.modified(db, key, count)
        return
    ks.delete_key(db, key)
    if count > 1:
        ks.modified(db, key, count - 1)
    ks.notify(NOTIFY_GENERIC, b"del", db, key)


# -- adding and removing -------------------------------------------------------------------------

@command("sadd", -3, "write denyoom fast", keys=(1, 1, 1), group="set")
def sadd(c, argv):
    """Add members to a set, creating it if needed; answers how many were not there yet."""
    key = argv[1]
    ks, db = c.ks, c.db
    s = ks.lookup_write(db, key)
    if s is None:
        s = SetValue()
        ks.add_key(db, key, s)
    elif type(s) is not SetValue:
        raise CommandError(WRONGTYPE)
    before = len(s)
    if len(argv) == 3:
        s.add(argv[2])
    else:
        s.update(argv[2:])
    added = len(s) - before
    if added:
        if not s.big:
            _check_encoding(c, s, argv[2:])
        ks.modified(db, key, added)
        ks.notify(NOTIFY_SET, b"sadd", db, key)
    return added


@command("srem", -3, "write fast", keys=(1, 1, 1), group="set")
def srem(c, argv):
    """Remove members from a set (deleting it once empty); answers how many were there."""
    key = argv[1]
    s = set_write(c, key)
    if s is None:
        return 0
    before = len(s)
    for member in argv[2:]:
        s.discard(member)
    removed = before - len(s)
    if removed:
        _removed(c, key, s, removed, b"srem")
    return removed


@command("smove", 4, "write fast", keys=(1, 2, 1), group="set")
def smove(c, argv):
    """Move a member from one set to another; 1 if it was moved."""
    src, dst, member = argv[1], argv[2], argv[3]
    ks, db = c.ks, c.db
    source = ks.lookup_write(db, src)
    target = ks.lookup_write(db, dst) if src != dst else source
    # A missing source answers 0 before either key's type is looked at.
    if source is None:
        return 0
    if type(source) is not SetValue or (target is not None and type(target) is not SetValue):
        raise CommandError(WRONGTYPE)
    if source is target:
        return int(member in source)
    if member not in source:
        return 0
    source.remove(member)
    _removed(c, src, source, 1, b"srem")
    if target is None:
        target = SetValue()
        ks.add_key(db, dst, target)
    if member not in target:
        target.add(member)
        if not target.big:
            _check_encoding(c, target, (member,))
        ks.modified(db, dst)
        ks.notify(NOTIFY_SET, b"sadd", db, dst)
    return 1


@command("spop", -2, "write fast", keys=(1, 1, 1), group="set")
def spop(c, argv):
    """Remove and return a random member, or up to count distinct random members."""
    argc = len(argv)
    if argc > 3:
        raise CommandError(SYNTAX)
    key = argv[1]
    if argc == 2:
        s = set_write(c, key)
        if s is None:
            return None
        if len(s) <= RANDOM_WALK_LIMIT:
            member = _random_member(s)
            s.remove(member)
        else:
            member = s.pop()
        _removed(c, key, s, 1, b"spop")
        c.propagate_as = [[b"SREM", key, member]]
        return member
    count = to_int_or_none(argv[2])
    if count is None or count < 0:
        raise CommandError(NOT_POSITIVE)
    s = set_write(c, key)
    if s is None or not count:
        return SetReply()
    if count >= len(s):
        members = ordered(s)
        s.clear()
        _removed(c, key, s, len(members), b"spop")
        c.propagate_as = [[b"DEL", key]]
        return SetReply(members)
    if len(s) <= RANDOM_WALK_LIMIT:
        members = random.sample(tuple(s), count)
        s.difference_update(members)
    else:
        pop = s.pop
        members = [pop() for _ in range(count)]
    _removed(c, key, s, count, b"spop")
    c.propagate_as = [[b"SREM", key, member] for member in members]
    return SetReply(members)


# -- reading -------------------------------------------------------------------------------------

@command("scard", 2, "readonly fast", keys=(1, 1, 1), group="set")
def scard(c, argv):
    """Number of members in a set."""
    s = set_read(c, argv[1])
    return 0 if s is None else len(s)


@command("sismember", 3, "readonly fast", keys=(1, 1, 1), group="set")
def sismember(c, argv):
    """1 if the member is in the set, else 0."""
    s = set_read(c, argv[1])
    return int(s is not None and argv[2] in s)


@command("smismember", -3, "readonly fast", keys=(1, 1, 1), group="set")
def smismember(c, argv):
    """For each member given, 1 if it is in the set, else 0."""
    s = set_read(c, argv[1])
    if s is None:
        return [0] * (len(argv) - 2)
    return [int(member in s) for member in argv[2:]]


@command("smembers", 2, "readonly", keys=(1, 1, 1), group="set")
def smembers(c, argv):
    """All members of a set."""
    s = set_read(c, argv[1])
    return SetReply() if s is None else SetReply(ordered(s))


@command("srandmember", -2, "readonly", keys=(1, 1, 1), group="set")
def srandmember(c, argv):
    """Random members without removing them: one, count distinct ones, or -count with repeats."""
    argc = len(argv)
    if argc > 3:
        raise CommandError(SYNTAX)
    if argc == 2:
        s = set_read(c, argv[1])
        return None if s is None else _random_member(s)
    count = parse_int(argv[2])
    if count == INT64_MIN:
        raise CommandError(COUNT_OUT_OF_RANGE)
    s = set_read(c, argv[1])
    if s is None or not count:
        return []
    # Redis would try to build any number of repeats (and die of a huge one); past this, refuse.
    if count < -RANDOM_REPEAT_LIMIT:
        raise CommandError(OUT_OF_RANGE)
    if count < 0:
        members = tuple(s)
        randrange, size = random.randrange, len(members)
        return [members[randrange(size)] for _ in range(-count)]
    if count >= len(s):
        return ordered(s)
    return random.sample(tuple(s), count)


@command("sscan", -3, "readonly", keys=(1, 1, 1), group="set")
def sscan(c, argv):
    """Walk a set's members a few at a time with a cursor."""
    cursor = parse_cursor(argv[2])
    s = set_read(c, argv[1])
    if s is None:
        return [b"0", []]
    pattern, count, _ = parse_scan_options(argv, 3)
    if not s.big:
        # An intset is answered whole in one call, as Redis does.
        next_cursor, members = 0, ordered(s)
    else:
        next_cursor, members = CURSORS.step(s, cursor, lambda: s, count)
        members = [m for m in members if m in s]
    if pattern is not None:
        members = [m for m in members if glob_match(pattern, m)]
    return [b"%d" % next_cursor, members]


# -- set algebra ---------------------------------------------------------------------------------

def _sources(c, keys: list[bytes]) -> list[SetValue | None]:
    """The sets at keys (None for missing ones); WRONGTYPE if any key holds another type."""
    return [set_read(c, key) for key in keys]


def _intersection(sets: list[SetValue | None]) -> set:
    if any(s is None for s in sets):
        return set()
    ordered_sets = sorted(sets, key=len)  # type: ignore[arg-type]
    return ordered_sets[0].intersection(*ordered_sets[1:])


def _union(sets: list[SetValue | None]) -> set:
    return set().union(*(s for s in sets if s is not None))


def _difference(sets: list[SetValue | None]) -> set:
    first = sets[0]
    if first is None:
        return set()
    return first.difference(*(s for s in sets[1:] if s is not None))


def _reply(c, members: set) -> SetReply:
    return SetReply(ordered(new_set(c, members)))


def _store(c, dst: bytes, members: set, event: bytes) -> int:
    """Write a result at dst (the *STORE commands); an empty result deletes dst."""
    ks, db = c.ks, c.db
    if members:
        ks.set_key(db, dst, new_set(c, members))
        ks.notify(NOTIFY_SET, event, db, dst)
    elif ks.delete_key(db, dst):
        ks.notify(NOTIFY_GENERIC, b"del", db, dst)
    return len(members)


@command("sinter", -2, "readonly", keys=(1, -1, 1), group="set")
def sinter(c, argv):
    """Members present in every one of the given sets."""
    return _reply(c, _intersection(_sources(c, argv[1:])))


@command("sunion", -2, "readonly", keys=(1, -1, 1), group="set")
def sunion(c, argv):
    """Members present in any of the given sets."""
    return _reply(c, _union(_sources(c, argv[1:])))


@command("sdiff", -2, "readonly", keys=(1, -1, 1), group="set")
def sdiff(c, argv):
    """Members of the first set that are in none of the others."""
    return _reply(c, _difference(_sources(c, argv[1:])))


@command("sinterstore", -3, "write denyoom", keys=(1, -1, 1), group="set")
def sinterstore(c, argv):
    """SINTER, with the result stored at a destination key; answers its size."""
    return _store(c, argv[1], _intersection(_sources(c, argv[2:])), b"sinterstore")


@command("sunionstore", -3, "write denyoom", keys=(1, -1, 1), group="set")
def sunionstore(c, argv):
    """SUNION, with the result stored at a destination key; answers its size."""
    return _store(c, argv[1], _union(_sources(c, argv[2:])), b"sunionstore")


@command("sdiffstore", -3, "write denyoom", keys=(1, -1, 1), group="set")
def sdiffstore(c, argv):
    """SDIFF, with the result stored at a destination key; answers its size."""
    return _store(c, argv[1], _difference(_sources(c, argv[2:])), b"sdiffstore")


@command("sintercard", -3, "readonly movablekeys", group="set", getkeys=numkeys_getkeys(1))
def sintercard(c, argv):
    """Size of the intersection of several sets, counting no further than an optional LIMIT."""
    numkeys = parse_int(argv[1], NUMKEYS_NOT_POSITIVE)
    if numkeys < 1:
        raise CommandError(NUMKEYS_NOT_POSITIVE)
    argc = len(argv)
    if numkeys > argc - 2:
        raise CommandError(TOO_MANY_KEYS)
    limit = 0
    j = 2 + numkeys
    while j < argc:
        if argv[j].lower() != b"limit" or j + 1 >= argc:
            raise CommandError(SYNTAX)
        limit = to_int_or_none(argv[j + 1])
        if limit is None or limit < 0:
            raise CommandError(LIMIT_NEGATIVE)
        j += 2
    sets = _sources(c, argv[2:2 + numkeys])
    if not limit:
        return len(_intersection(sets))
    if any(s is None for s in sets):
        return 0
    smallest, *others = sorted(sets, key=len)  # type: ignore[arg-type]
    found = 0
    for member in smallest:
        if all(member in s for s in others):
            found += 1
            if found == limit:
                break
    return found
