"""Lists, part two: moving elements between lists (LMOVE, RPOPLPUSH), popping from the first non-empty
of several lists (LMPOP), and the blocking forms BLPOP, BRPOP, BLMOVE, BRPOPLPUSH and BLMPOP.

A blocking command first tries to serve itself like its non-blocking twin. When every key is empty it
parks the client (server/blocking.py) unless it runs inside MULTI, where it answers at once as if it
had timed out. A write that feeds a parked key runs the command again with the same argv; that second
run looks only at the key that was signalled (Redis 7.0 serves a waiter from the ready key, not from
the first non-empty key of its argv) and keeps waiting, silently, if the key now holds another type.

The AOF gets effects, not requests (spec §3.5): BLPOP becomes ``LPOP key``, BLMOVE ``LMOVE ...``,
BRPOPLPUSH ``RPOPLPUSH src dst``, and LMPOP/BLMPOP ``LPOP key n`` / ``RPOP key n`` with n the number
actually popped.
"""

from __future__ import annotations

from emberkv.commands.args import parse_int
from emberkv.commands.errors import SYNTAX, WRONGTYPE, CommandError
from emberkv.commands.lists import list_write, pop_many, popped, push_elements
from emberkv.commands.table import COMMANDS, command, numkeys_getkeys
from emberkv.commands.zsets_pop import COUNT_NOT_POSITIVE, NUMKEYS_NOT_POSITIVE, parse_timeout
from emberkv.keyspace.values import ListValue
from emberkv.protocol.replies import NULL_ARRAY

_SIDES = {b"left": True, b"right": False}
_POP = (b"RPOP", b"LPOP")  # indexed by "from the left?"


def _side(raw: bytes) -> bool:
    """LEFT -> True, RIGHT -> False; anything else is a syntax error."""
    left = _SIDES.get(raw.lower())
    if left is None:
        raise CommandError(SYNTAX)
    return left


def _candidates(c, keys: list[bytes]):
    """(key, list) of the first non-empty list among keys, or (None, None).

    On a retry of a parked command only the key that was signalled is tried, and a key of another
    type there is nothing to take (the client keeps waiting) instead of an error."""
    retry = c.blocked is not None
    if retry:
        keys = [c.blocked.ready_key]
    ks, db = c.ks, c.db
    for key in keys:
        value = ks.lookup_write(db, key)
        if value is None:
            continue
        if type(value) is not ListValue:
            if retry:
                continue
            raise CommandError(WRONGTYPE)
        return key, value
    return None, None


# -- LMOVE / RPOPLPUSH ---------------------------------------------------------------------------

@command("lmove", 5, "write denyoom", keys=(1, 2, 1), group="list")
def lmove(c, argv):
    """Pop an element from one end of a list and push it on either end of another (or the same)."""
    return _move(c, argv[1], argv[2], _side(argv[3]), _side(argv[4]))


@command("rpoplpush", 3, "write denyoom", keys=(1, 2, 1), group="list")
def rpoplpush(c, argv):
    """Pop the tail of a list and push it onto the head of another (or the same) list."""
    return _move(c, argv[1], argv[2], False, True)


def _move(c, src: bytes, dst: bytes, from_left: bool, to_left: bool, lst: ListValue | None = None):
    """Move one element from src (its list given when already looked up) to dst; the element."""
    if lst is None:
        lst = list_write(c, src)
        if lst is None:
            return None
    target = lst if dst == src else list_write(c, dst)
    value = lst.popleft() if from_left else lst.pop()
    # Redis pushes first, so the destination's event comes before the source's pop event.
    push_elements(c, dst, target, (value,), to_left)
    popped(c, src, lst, 1, b"lpop" if from_left else b"rpop")
    return value


# -- LMPOP ---------------------------------------------------------------------------------------

def _parse_mpop(argv: list[bytes], numkeys_at: int) -> tuple[list[bytes], bool, int]:
    """(keys, from the left?, count) of LMPOP / BLMPOP, with numkeys at argv[numkeys_at]."""
    numkeys = parse_int(argv[numkeys_at], NUMKEYS_NOT_POSITIVE)
    if numkeys < 1:
        raise CommandError(NUMKEYS_NOT_POSITIVE)
    where_at = numkeys_at + numkeys + 1
    argc = len(argv)
    if where_at >= argc:
        raise CommandError(SYNTAX)
    left = _side(argv[where_at])
    count = 0
    j = where_at + 1
    while j < argc:
        if count or argv[j].lower() != b"count" or j + 1 >= argc:
            raise CommandError(SYNTAX)
        count = parse_int(argv[j + 1], COUNT_NOT_POSITIVE)
        if count < 1:
            raise CommandError(COUNT_NOT_POSITIVE)
        j += 2
    return argv[numkeys_at + 1:where_at], left, count or 1


def _mpop_from(c, key: bytes, lst: ListValue, count: int, left: bool) -> list:
    items = pop_many(c, key, lst, count, left)
    c.propagate_as = [[_POP[left], key, b"%d" % len(items)]]
    return [key, items]


@command("lmpop", -4, "write movablekeys", group="list", getkeys=numkeys_getkeys(1))
def lmpop(c, argv):
    """Pop up to count elements from one end of the first non-empty list among several keys."""
    keys, left, count = _parse_mpop(argv, 1)
    key, lst = _candidates(c, keys)
    if lst is None:
        return NULL_ARRAY
    return _mpop_from(c, key, lst, count, left)


# -- blocking pops -------------------------------------------------------------------------------

@command("blpop", -3, "write noscript blocking", keys=(1, -2, 1), group="list")
def blpop(c, argv):
    """LPOP over several keys that waits until one of them has an element to give."""
    return _bpop(c, argv, True)


@command("brpop", -3, "write noscript blocking", keys=(1, -2, 1), group="list")
def brpop(c, argv):
    """RPOP over several keys that waits until one of them has an element to give."""
    return _bpop(c, argv, False)


def _bpop(c, argv: list[bytes], left: bool):
    deadline = parse_timeout(c, argv[-1])
    keys = argv[1:-1]
    key, lst = _candidates(c, keys)
    if lst is not None:
        value = lst.popleft() if left else lst.pop()
        popped(c, key, lst, 1, b"lpop" if left else b"rpop")
        c.propagate_as = [[_POP[left], key]]
        return [key, value]
    if c.in_exec:
        return NULL_ARRAY
    cmd = COMMANDS[b"blpop" if left else b"brpop"]
    return c.server.blocking.block(c, keys, deadline, cmd, argv)


@command("blmpop", -5, "write blocking movablekeys", group="list", getkeys=numkeys_getkeys(2))
def blmpop(c, argv):
    """LMPOP that waits until one of the keys has elements to give."""
    keys, left, count = _parse_mpop(argv, 2)
    deadline = parse_timeout(c, argv[1])
    key, lst = _candidates(c, keys)
    if lst is not None:
        return _mpop_from(c, key, lst, count, left)
    if c.in_exec:
        return NULL_ARRAY
    return c.server.blocking.block(c, keys, deadline, COMMANDS[b"blmpop"], argv)


@command("blmove", 6, "write denyoom noscript blocking", keys=(1, 2, 1), group="list")
def blmove(c, argv):
    """LMOVE that waits until the source list has an element to give."""
    from_left, to_left = _side(argv[3]), _side(argv[4])
    deadline = parse_timeout(c, argv[5])
    value = _bmove(c, argv, from_left, to_left, deadline)
    if isinstance(value, bytes):
        c.propagate_as = [[b"LMOVE", argv[1], argv[2], argv[3], argv[4]]]
    return value


@command("brpoplpush", 4, "write denyoom noscript blocking", keys=(1, 2, 1), group="list")
def brpoplpush(c, argv):
    """RPOPLPUSH that waits until the source list has an element to give."""
    deadline = parse_timeout(c, argv[3])
    value = _bmove(c, argv, False, True, deadline)
    if isinstance(value, bytes):
        c.propagate_as = [[b"RPOPLPUSH", argv[1], argv[2]]]
    return value


def _bmove(c, argv: list[bytes], from_left: bool, to_left: bool, deadline: int):
    src, dst = argv[1], argv[2]
    _, lst = _candidates(c, [src])
    if lst is not None:
        return _move(c, src, dst, from_left, to_left, lst)
    if c.in_exec:
        # Redis answers a plain null here, but the null array when a wait times out.
        return None
    return c.server.blocking.block(c, [src], deadline, COMMANDS[argv[0].lower()], argv)
