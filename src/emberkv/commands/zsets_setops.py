"""Sorted sets, part four: ZUNION, ZINTER, ZDIFF, their STORE forms, and ZINTERCARD.

Inputs may be sorted sets or plain sets (whose members score 1). Scores are combined with Redis's
floating-point conventions, which clients can observe: a weighted score that is NaN (inf * 0) counts
as 0 in a union, a SUM that meets inf and -inf gives 0, and MIN/MAX keep the current value when the
other side is NaN. Redis visits the inputs from the smallest to the largest (a stable order for equal
sizes), which decides how a SUM of three or more scores rounds; we visit them in the same order.
"""

from __future__ import annotations

import math

from emberkv.commands.args import parse_float, parse_int
from emberkv.commands.errors import SYNTAX, WRONGTYPE, CommandError
from emberkv.commands.table import command, numkeys_getkeys
from emberkv.commands.zsets import scored_reply, store_zset
from emberkv.keyspace.values import SetValue, ZSetValue

_SUM, _MIN, _MAX = 0, 1, 2
_AGGREGATES = {b"sum": _SUM, b"min": _MIN, b"max": _MAX}
_UNION, _INTER, _DIFF = 0, 1, 2
_STORE_EVENTS = (b"zunionstore", b"zinterstore", b"zdiffstore")


def _sources(c, argv: list[bytes], numkeys_at: int, name: str) -> tuple[list, int]:
    """The inputs named after numkeys (None for missing keys) and the index after them."""
    numkeys = parse_int(argv[numkeys_at])
    if numkeys < 1:
        raise CommandError(f"ERR at least 1 input key is needed for '{name}' command")
    end = numkeys_at + 1 + numkeys
    if end > len(argv):
        raise CommandError(SYNTAX)
    ks, db = c.ks, c.db
    sources = []
    for key in argv[numkeys_at + 1:end]:
        value = ks.lookup_read(db, key)
        if value is not None and type(value) is not ZSetValue and type(value) is not SetValue:
            raise CommandError(WRONGTYPE)
        sources.append(value)
    return sources, end


def _scores_of(value) -> dict:
    """member -> score of one input (a plain set's members all score 1)."""
    if value is None:
        return {}
    if type(value) is ZSetValue:
        return value.scores
    return dict.fromkeys(value, 1.0)


def _aggregate(target: float, value: float, how: int) -> float:
    if how == _SUM:
        total = target + value
        return 0.0 if math.isnan(total) else total
    if how == _MIN:
        return value if value < target else target
    return value if value > target else target


def _compute(op: int, inputs: list[dict], weights: list[float], how: int) -> dict:
    """member -> combined score."""
    if op == _DIFF:
        first, rest = inputs[0], [s for s in inputs[1:] if s]
        return {m: s for m, s in first.items() if not any(m in other for other in rest)}
    order = sorted(range(len(inputs)), key=lambda i: len(inputs[i]))
    if op == _UNION:
        result: dict = {}
        for i in order:
            weight = weights[i]
            for member, score in inputs[i].items():
                value = weight * score
                if math.isnan(value):
                    value = 0.0
                current = result.get(member)
                result[member] = value if current is None else _aggregate(current, value, how)
        return result
    smallest, others = inputs[order[0]], [(inputs[i], weights[i]) for i in order[1:]]
    weight0 = weights[order[0]]
    result = {}
    for member, score in smallest.items():
        value = weight0 * score
        if math.isnan(value):
            value = 0.0
        for other, weight in others:
            found = other.get(member)
            if found is None:
                break
            value = _aggregate(value, found * weight, how)
        else:
            result[member] = value
    return result


def _setop(c, argv: list[bytes], op: int, store: bool, name: str):
    numkeys_at = 2 if store else 1
    sources, j = _sources(c, argv, numkeys_at, name)
    weights = [1.0] * len(sources)
    how = _SUM
    withscores = False
    argc = len(argv)
    while j < argc:
        option = argv[j].lower()
        remaining = argc - j
        if op != _DIFF and option == b"weights" and remaining > len(sources):
            weights = [parse_float(w, "ERR weight value is not a float")
                       for w in argv[j + 1:j + 1 + len(sources)]]
            j += 1 + len(sources)
        elif op != _DIFF and option == b"aggregate" and remaining >= 2:
            how_found = _AGGREGATES.get(argv[j + 1].lower())
            if how_found is None:
                raise CommandError(SYNTAX)
            how = how_found
            j += 2
        elif not store and option == b"withscores":
            withscores = True
            j += 1
        else:
            raise CommandError(SYNTAX)
    result = _compute(op, [_scores_of(v) for v in sources], weights, how)
    pairs = sorted((s, m) for m, s in result.items())
    if store:
        return store_zset(c, argv[1], pairs, _STORE_EVENTS[op])
    return scored_reply(c, pairs, withscores)


@command("zunion", -3, "readonly movablekeys", group="sorted-set", getkeys=numkeys_getkeys(1, False))
def zunion(c, argv):
    """Union of sorted sets, scores combined by SUM, MIN or MAX after weighting."""
    return _setop(c, argv, _UNION, False, "zunion")


@command("zinter", -3, "readonly movablekeys", group="sorted-set", getkeys=numkeys_getkeys(1, False))
def zinter(c, argv):
    """Intersection of sorted sets, scores combined by SUM, MIN or MAX after weighting."""
    return _setop(c, argv, _INTER, False, "zinter")


@command("zdiff", -3, "readonly movablekeys", group="sorted-set", getkeys=numkeys_getkeys(1, False))
def zdiff(c, argv):
    """Members of the first sorted set that none of the others hold."""
    return _setop(c, argv, _DIFF, False, "zdiff")


@command("zunionstore", -4, "write denyoom movablekeys", keys=(1, 1, 1), group="sorted-set",
         getkeys=numkeys_getkeys(2, True))
def zunionstore(c, argv):
    """Store the union of sorted sets in a key."""
    return _setop(c, argv, _UNION, True, "zunionstore")


@command("zinterstore", -4, "write denyoom movablekeys", keys=(1, 1, 1), group="sorted-set",
         getkeys=numkeys_getkeys(2, True))
def zinterstore(c, argv):
    """Store the intersection of sorted sets in a key."""
    return _setop(c, argv, _INTER, True, "zinterstore")


@command("zdiffstore", -4, "write denyoom movablekeys", keys=(1, 1, 1), group="sorted-set",
         getkeys=numkeys_getkeys(2, True))
def zdiffstore(c, argv):
    """Store the difference between the first sorted set and the others in a key."""
    return _setop(c, argv, _DIFF, True, "zdiffstore")


@command("zintercard", -3, "readonly movablekeys", group="sorted-set",
         getkeys=numkeys_getkeys(1, False))
def zintercard(c, argv):
    """Size of the intersection of sorted sets, optionally counting no further than a limit."""
    sources, j = _sources(c, argv, 1, "zintercard")
    limit = 0
    argc = len(argv)
    while j < argc:
        if argv[j].lower() == b"limit" and argc - j >= 2:
            limit = parse_int(argv[j + 1], "ERR LIMIT can't be negative")
            if limit < 0:
                raise CommandError("ERR LIMIT can't be negative")
            j += 2
        else:
            raise CommandError(SYNTAX)
    inputs = sorted((_scores_of(v) for v in sources), key=len)
    smallest, others = inputs[0], inputs[1:]
    count = 0
    for member in smallest:
        if all(member in other for other in others):
            count += 1
            if count == limit:
                break
    return count
