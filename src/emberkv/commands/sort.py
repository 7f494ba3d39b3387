"""SORT and SORT_RO: the elements of a list, set or sorted set, ordered and optionally projected
through other keys (``BY weight_*``, ``GET obj_*->field``, ``GET #``), returned or stored as a list.

Behaviour clients can observe and that we keep:

* numeric order reads each key with C's strtod (leading blanks and "" are fine, out-of-range and NaN
  are errors); equal numbers fall back to byte order of the elements, so the order is total;
* a ``BY`` pattern without ``*`` (``BY nosort``) skips sorting: lists and sorted sets keep their order
  (reversed by DESC), sets their iteration order, except with STORE, where a set is sorted ALPHA so
  that replaying the command gives the same list;
* ALPHA compares bytes (Redis uses strcoll, which is byte order in the C and C.UTF-8 locales);
* sorting a sorted set converts it out of its compact encoding, as Redis does even for SORT_RO.
"""

from __future__ import annotations

import math

from emberkv.commands.args import parse_int
from emberkv.commands.errors import SYNTAX, WRONGTYPE, CommandError
from emberkv.commands.table import command
from emberkv.commands.zsets_ranges import strtod
from emberkv.keyspace.db import NOTIFY_GENERIC, NOTIFY_LIST
from emberkv.keyspace.values import HashValue, ListValue, RawString, SetValue, ZSetValue

NOT_DOUBLE = "ERR One or more scores can't be converted into double"


def _sort_getkeys(argv: list[bytes]) -> list[int]:
    """The sorted key, and the last STORE destination (skipping the arguments of LIMIT, GET, BY)."""
    keys = [1]
    store = None
    skip = {b"limit": 2, b"get": 1, b"by": 1}
    i = 2
    while i < len(argv):
        option = argv[i].lower()
        if option in skip:
            i += skip[option]
        elif option == b"store" and i + 1 < len(argv):
            store = i + 1
        i += 1
    return keys if store is None else [1, store]


@command("sort", -2, "write denyoom movablekeys", keys=(1, 1, 1), getkeys=_sort_getkeys)
def sort(c, argv):
    """Sort the elements of a list, set or sorted set, and return or store them."""
    return _sort(c, argv, readonly=False)


@command("sort_ro", -2, "readonly movablekeys", keys=(1, 1, 1))
def sort_ro(c, argv):
    """SORT without STORE, safe for read-only replicas and scripts."""
    return _sort(c, argv, readonly=True)


def lookup_by_pattern(c, pattern: bytes, element: bytes) -> bytes | None:
    """The string at pattern with its first '*' replaced by element, or the hash field named after
    '->'; '#' is the element itself. None when missing or of another type."""
    if pattern == b"#":
        return element
    star = pattern.find(b"*")
    if star < 0:
        return None
    arrow = pattern.find(b"->", star + 1)
    field = None
    if arrow >= 0 and arrow + 2 < len(pattern):
        field = pattern[arrow + 2:]
        pattern = pattern[:arrow]
    value = c.ks.lookup_read(c.db, pattern[:star] + element + pattern[star + 1:])
    if value is None:
        return None
    if field is not None:
        return value.get(field) if type(value) is HashValue else None
    return value if type(value) is bytes or type(value) is RawString else None


def _sort(c, argv: list[bytes], readonly: bool):
    desc = alpha = dontsort = False
    limit_start, limit_count = 0, -1
    sortby: bytes | None = None
    store: bytes | None = None
    gets: list[bytes] = []
    argc = len(argv)
    j = 2
    while j < argc:
        option = argv[j].lower()
        left = argc - j - 1
        if option == b"asc":
            desc = False
        elif option == b"desc":
            desc = True
        elif option == b"alpha":
            alpha = True
        elif option == b"limit" and left >= 2:
            limit_start, limit_count = parse_int(argv[j + 1]), parse_int(argv[j + 2])
            j += 2
        elif option == b"store" and left >= 1 and not readonly:
            store = argv[j + 1]
            j += 1
        elif option == b"by" and left >= 1:
            sortby = argv[j + 1]
            # Once a pattern without '*' was seen, a later BY does not bring sorting back.
            dontsort = dontsort or b"*" not in sortby
            j += 1
        elif option == b"get" and left >= 1:
            gets.append(argv[j + 1])
            j += 1
        else:
            raise CommandError(SYNTAX)
        j += 1

    value = c.ks.lookup_read(c.db, argv[1])
    kind = type(value)
    if value is not None and kind is not ListValue and kind is not SetValue and kind is not ZSetValue:
        raise CommandError(WRONGTYPE)
    if dontsort and kind is SetValue and store is not None:
        dontsort, alpha, sortby = False, True, None
    if kind is ZSetValue and not value.big:
        c.ks.lookup_write(c.db, argv[1])  # the encoding changes: let a running snapshot know first
        value.big = True

    size = 0 if value is None else len(value)
    start = min(max(limit_start, 0), size)
    limit_count = min(max(limit_count, -1), size)
    end = size - 1 if limit_count < 0 else start + limit_count - 1
    if start >= size:
        start, end = size - 1, size - 2
    end = min(end, size - 1)

    elements = _load(value, kind, dontsort, desc, start, end)
    if dontsort and kind is not SetValue:
        end -= start
        start = 0
    else:
        if not dontsort:
            elements = _sorted(c, elements, sortby, alpha, desc, store is not None)
    chosen = elements[start:end + 1] if end >= start else []

    if not gets:
        output = chosen
    else:
        output = []
        for element in chosen:
            for pattern in gets:
                output.append(lookup_by_pattern(c, pattern, element))
    if store is None:
        return output
    return _store(c, store, output)


def _load(value, kind, dontsort: bool, desc: bool, start: int, end: int) -> list[bytes]:
    """The elements to sort; for an unsorted list or sorted set only the LIMIT range, in order."""
    if value is None:
        return []
    if kind is SetValue:
        # An intset iterates in numeric order; a hash table in an order of its own.
        return list(value) if value.big else sorted(value, key=int)
    if kind is ListValue:
        if not dontsort:
            return list(value)
        if end < start:
            return []
        size = len(value)
        if desc:
            return [value[i] for i in range(size - 1 - start, size - 2 - end, -1)]
        return [value[i] for i in range(start, end + 1)]
    if not dontsort:
        return list(value.scores)
    if end < start:
        return []
    size = len(value.ranked)
    if desc:
        return [m for _, m in value.ranked.islice(size - 1 - end, size - start, reverse=True)]
    return [m for _, m in value.ranked.islice(start, end + 1)]


def _sorted(c, elements: list[bytes], sortby: bytes | None, alpha: bool, desc: bool,
            storing: bool) -> list[bytes]:
    if alpha:
        if sortby is None:
            return sorted(elements, reverse=desc)
        # Elements whose BY key is missing sort first, as if smaller than any string.
        keyed = []
        for element in elements:
            by = lookup_by_pattern(c, sortby, element)
            keyed.append(((0, b"") if by is None else (1, by), element))
        keyed.sort(key=lambda pair: pair[0], reverse=desc)
        return [element for _, element in keyed]
    scored = []
    failed = False
    for element in elements:
        by = element if sortby is None else lookup_by_pattern(c, sortby, element)
        score = 0.0
        if by is not None:
            parsed = strtod(by)
            if parsed is None or parsed[1] or math.isnan(parsed[0]):
                failed = True
            else:
                score = parsed[0]
        scored.append((score, element))
    if failed:
        raise CommandError(NOT_DOUBLE)
    scored.sort(reverse=desc)
    return [element for _, element in scored]


def _store(c, dst: bytes, output: list) -> int:
    ks, db = c.ks, c.db
    if output:
        ks.set_key(db, dst, ListValue(b"" if item is None else item for item in output))
        if len(output) > 1:
            ks.modified(db, dst, len(output) - 1)
        ks.notify(NOTIFY_LIST, b"sortstore", db, dst)
        ks.signal_ready(db, dst)
    elif ks.delete_key(db, dst):
        ks.notify(NOTIFY_GENERIC, b"del", db, dst)
    return len(output)
