"""Lists, part one: LPUSH/RPUSH (and the X forms), LPOP/RPOP, LLEN, LRANGE, LINDEX, LSET, LINSERT,
LREM, LTRIM and LPOS. Moves, multi-key pops and the blocking pops live in lists_blocking.py.

A list is a ``ListValue`` (a deque, head at index 0), so pushes and pops at either end are O(1) and
LRANGE walks from whichever end is nearer. Redis 7.0 always reports lists as ``quicklist``, so there
is no encoding to track. An emptied list is deleted at once, as Redis never keeps an empty one.

Every write that adds elements signals the key as ready, so clients blocked in BLPOP and friends get
their turn once the command (or the whole transaction) has finished.

Redis checks arguments and the key in a per-command order (LRANGE parses its indexes before looking
at the key, LINDEX after); each handler follows the order Redis uses, since it decides which error a
client sees.
"""

from __future__ import annotations

from itertools import islice

from emberkv.commands.args import INT64_MIN, parse_int, to_int_or_none
from emberkv.commands.errors import NO_SUCH_KEY, NOT_POSITIVE, SYNTAX, CommandError
from emberkv.commands.table import command
from emberkv.commands.typed import read_typed, write_typed
from emberkv.keyspace.db import NOTIFY_GENERIC, NOTIFY_LIST
from emberkv.keyspace.values import ListValue
from emberkv.protocol.replies import NULL_ARRAY, OK

INDEX_OUT_OF_RANGE = "ERR index out of range"
RANK_ZERO = (
    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use "
    "negative to start from the end of the list"
)
COUNT_NEGATIVE = "ERR COUNT can't be negative"
MAXLEN_NEGATIVE = "ERR MAXLEN can't be negative"


# -- shared helpers ------------------------------------------------------------------------------

def list_read(c, key: bytes) -> ListValue | None:
    """The list at key for reading (None when missing); WRONGTYPE for another type."""
    return read_typed(c, key, ListValue)


def list_write(c, key: bytes) -> ListValue | None:
    """The list at key, about to be changed in place (None when missing)."""
    return write_typed(c, key, ListValue)


def push_elements(c, key: bytes, lst: ListValue | None, elements, left: bool) -> int:
    """Push elements at one end of the list at key (created when lst is None); the new length."""
    ks, db = c.ks, c.db
    if lst is None:
        lst = ListValue()
        ks.add_key(db, key, lst)
    if left:
        lst.extendleft(elements)
    else:
        lst.extend(elements)
    ks.modified(db, key, len(elements))
    ks.notify(NOTIFY_LIST, b"lpush" if left else b"rpush", db, key)
    ks.signal_ready(db, key)
    return len(lst)


def popped(c, key: bytes, lst: ListValue, count: int, event: bytes) -> None:
    """Account for count elements taken off lst: the event, and deleting the key if it is empty."""
    ks, db = c.ks, c.db
    ks.notify(NOTIFY_LIST, event, db, key)
    if lst:
        ks.modified(db, key, count)
        return
    ks.delete_key(db, key)
    if count > 1:
        ks.modified(db, key, count - 1)
    ks.notify(NOTIFY_GENERIC, b"del", db, key)


def pop_many(c, key: bytes, lst: ListValue, count: int, left: bool) -> list[bytes]:
    """Take up to count elements off one end of lst, in the order they come off."""
    if count >= len(lst):
        items = list(lst)
        if not left:
            items.reverse()
        lst.clear()
    else:
        take = lst.popleft if left else lst.pop
        items = [take() for _ in range(count)]
    popped(c, key, lst, len(items), b"lpop" if left else b"rpop")
    return items


def _clamp_range(start: int, end: int, length: int) -> tuple[int, int] | None:
    """LRANGE/LTRIM indexes (negative from the tail) as a non-empty [start, end], or None."""
    if start < 0:
        start += length
    if end < 0:
        end += length
    if start < 0:
        start = 0
    if start > end or start >= length:
        return None
    return start, min(end, length - 1)


# -- pushes --------------------------------------------------------------------------------------

@command("lpush", -3, "write denyoom fast", keys=(1, 1, 1), group="list")
def lpush(c, argv):
    """Put elements at the head of a list, creating the list if needed; answers the new length."""
    key = argv[1]
    return push_elements(c, key, list_write(c, key), argv[2:], True)


@command("rpush", -3, "write denyoom fast", keys=(1, 1, 1), group="list")
def rpush(c, argv):
    """Put elements at the tail of a list, creating the list if needed; answers the new length."""
    key = argv[1]
    return push_elements(c, key, list_write(c, key), argv[2:], False)


@command("lpushx", -3, "write denyoom fast", keys=(1, 1, 1), group="list")
def lpushx(c, argv):
    """LPUSH that only acts on a list that already exists (answers 0 otherwise)."""
    lst = list_write(c, argv[1])
    return 0 if lst is None else push_elements(c, argv[1], lst, argv[2:], True)


@command("rpushx", -3, "write denyoom fast", keys=(1, 1, 1), group="list")
def rpushx(c, argv):
    """RPUSH that only acts on a list that already exists (answers 0 otherwise)."""
    lst = list_write(c, argv[1])
    return 0 if lst is None else push_elements(c, argv[1], lst, argv[2:], False)


# -- pops ----------------------------------------------------------------------------------------

@command("lpop", -2, "write fast", keys=(1, 1, 1), group="list")
def lpop(c, argv):
    """Take one element (or up to count) off the head of a list."""
    return _pop(c, argv, True)


@command("rpop", -2, "write fast", keys=(1, 1, 1), group="list")
def rpop(c, argv):
    """Take one element (or up to count) off the tail of a list."""
    return _pop(c, argv, False)


def _pop(c, argv: list[bytes], left: bool):
    argc = len(argv)
    key = argv[1]
    if argc == 2:
        lst = list_write(c, key)
        if lst is None:
            return None
        value = lst.popleft() if left else lst.pop()
        popped(c, key, lst, 1, b"lpop" if left else b"rpop")
        return value
    if argc > 3:
        raise CommandError(f"ERR wrong number of arguments for '{'lpop' if left else 'rpop'}' command")
    count = to_int_or_none(argv[2])
    if count is None or count < 0:
        raise CommandError(NOT_POSITIVE)
    lst = list_write(c, key)
    if lst is None:
        return NULL_ARRAY
    if not count:
        return []
    return pop_many(c, key, lst, count, left)


# -- reading -------------------------------------------------------------------------------------

@command("llen", 2, "readonly fast", keys=(1, 1, 1), group="list")
def llen(c, argv):
    """Number of elements in a list (0 when the key is missing)."""
    lst = list_read(c, argv[1])
    return 0 if lst is None else len(lst)


@command("lrange", 4, "readonly", keys=(1, 1, 1), group="list")
def lrange(c, argv):
    """Elements between two indexes (inclusive; negative ones count from the tail)."""
    start = parse_int(argv[2])
    end = parse_int(argv[3])
    lst = list_read(c, argv[1])
    if lst is None:
        return []
    length = len(lst)
    bounds = _clamp_range(start, end, length)
    if bounds is None:
        return []
    start, end = bounds
    if start == 0 and end == length - 1:
        return list(lst)
    # A deque is walked from one end: start from the one nearer to the range.
    if start <= length - 1 - end:
        return list(islice(lst, start, end + 1))
    items = list(islice(reversed(lst), length - 1 - end, length - start))
    items.reverse()
    return items


@command("lindex", 3, "readonly", keys=(1, 1, 1), group="list")
def lindex(c, argv):
    """The element at an index (negative counts from the tail), or null."""
    lst = list_read(c, argv[1])
    if lst is None:
        return None
    index = parse_int(argv[2])
    if index < 0:
        index += len(lst)
    if not 0 <= index < len(lst):
        return None
    return lst[index]


@command("lpos", -3, "readonly", keys=(1, 1, 1), group="list")
def lpos(c, argv):
    """Positions of an element in a list, with RANK (which match), COUNT and MAXLEN options."""
    rank, count, maxlen = 1, None, 0
    argc = len(argv)
    j = 3
    while j < argc:
        option = argv[j].lower()
        if j + 1 >= argc:
            raise CommandError(SYNTAX)
        raw = argv[j + 1]
        if option == b"rank":
            rank = parse_int(raw)
            if rank == 0:
                raise CommandError(RANK_ZERO)
        elif option == b"count":
            count = to_int_or_none(raw)
            if count is None or count < 0:
                raise CommandError(COUNT_NEGATIVE)
        elif option == b"maxlen":
            maxlen = to_int_or_none(raw)
            if maxlen is None or maxlen < 0:
                raise CommandError(MAXLEN_NEGATIVE)
        else:
            raise CommandError(SYNTAX)
        j += 2
    lst = list_read(c, argv[1])
    if lst is None:
        return None if count is None else []
    found = _positions(lst, argv[2], rank, 1 if count is None else count, maxlen)
    if count is None:
        return found[0] if found else None
    return found


def _positions(lst: ListValue, element: bytes, rank: int, count: int, maxlen: int) -> list[int]:
    """Indexes of matches, skipping the first |rank|-1, at most count of them (0: all), looking at
    no more than maxlen elements (0: all) from the head, or from the tail when rank is negative."""
    length = len(lst)
    from_tail = rank < 0
    if rank == INT64_MIN:
        # Redis negates a negative rank; -2**63 stays negative there, so every match qualifies,
        # which is exactly what rank -1 does.
        rank = -1
    skip = -rank - 1 if from_tail else rank - 1
    limit = length if not maxlen else min(maxlen, length)
    found: list[int] = []
    walk = reversed(lst) if from_tail else iter(lst)
    for seen, item in enumerate(islice(walk, limit)):
        if item == element:
            if skip:
                skip -= 1
                continue
            found.append(length - 1 - seen if from_tail else seen)
            if len(found) == count:
                break
    return found


# -- changing elements ---------------------------------------------------------------------------

@command("lset", 4, "write denyoom", keys=(1, 1, 1), group="list")
def lset(c, argv):
    """Replace the element at an index."""
    key = argv[1]
    lst = list_write(c, key)
    if lst is None:
        raise CommandError(NO_SUCH_KEY)
    index = parse_int(argv[2])
    if index < 0:
        index += len(lst)
    if not 0 <= index < len(lst):
        raise CommandError(INDEX_OUT_OF_RANGE)
    lst[index] = argv[3]
    ks, db = c.ks, c.db
    ks.modified(db, key)
    ks.notify(NOTIFY_LIST, b"lset", db, key)
    return OK


@command("linsert", 5, "write denyoom", keys=(1, 1, 1), group="list")
def linsert(c, argv):
    """Insert an element before or after the first occurrence of a pivot element."""
    where = argv[2].lower()
    if where not in (b"before", b"after"):
        raise CommandError(SYNTAX)
    key = argv[1]
    lst = list_write(c, key)
    if lst is None:
        return 0
    try:
        index = lst.index(argv[3])
    except ValueError:
        return -1
    lst.insert(index if where == b"before" else index + 1, argv[4])
    ks, db = c.ks, c.db
    ks.modified(db, key)
    ks.notify(NOTIFY_LIST, b"linsert", db, key)
    return len(lst)


@command("lrem", 4, "write", keys=(1, 1, 1), group="list")
def lrem(c, argv):
    """Remove occurrences of an element: the first count, the last -count, or all for 0."""
    count = parse_int(argv[2])
    key, element = argv[1], argv[3]
    lst = list_write(c, key)
    if lst is None:
        return 0
    before = len(lst)
    if count == 0:
        kept = [item for item in lst if item != element]
    else:
        kept = _without_first(reversed(lst) if count < 0 else lst, element, abs(count))
        if count < 0:
            kept.reverse()
    removed = before - len(kept)
    if removed:
        lst.clear()
        lst.extend(kept)
        popped(c, key, lst, removed, b"lrem")
    return removed


def _without_first(items, element: bytes, limit: int) -> list[bytes]:
    kept = []
    for item in items:
        if limit and item == element:
            limit -= 1
        else:
            kept.append(item)
    return kept


@command("ltrim", 4, "write", keys=(1, 1, 1), group="list")
def ltrim(c, argv):
    """Keep only the elements between two indexes (inclusive); an empty range deletes the list."""
    start = parse_int(argv[2])
    end = parse_int(argv[3])
    key = argv[1]
    lst = list_write(c, key)
    if lst is None:
        return OK
    length = len(lst)
    bounds = _clamp_range(start, end, length)
    if bounds is None:
        lst.clear()
    else:
        start, end = bounds
        for _ in range(length - 1 - end):
            lst.pop()
        for _ in range(start):
            lst.popleft()
    # Redis reports the key as changed (WATCH, the ltrim event) even when nothing was cut.
    popped(c, key, lst, length - len(lst), b"ltrim")
    return OK
