"""Sorted sets, part two: ranges by rank, score and member (ZRANGE and its older spellings,
ZRANGESTORE, ZCOUNT, ZLEXCOUNT, ZREMRANGEBYRANK/SCORE/LEX).

Every range becomes a span ``[lo, hi)`` of positions in ``ranked`` found by bisection, so a range
costs O(log n) plus the elements it returns.

Score bounds are read the way C's strtod reads them (Redis calls it directly here): leading white
space is skipped, an empty string is 0, overflow becomes ±inf; only NaN and trailing garbage are
refused. Lex ranges assume, as Redis documents, that all members share one score; then members are
in byte order and bisection finds the span. When scores differ Redis's answer depends on its
encoding, and we reproduce the listpack's: walk from the first member at or above the minimum while
members stay at or below the maximum.
"""

from __future__ import annotations

import math
import re

from emberkv.commands.args import parse_int, to_float_or_none
from emberkv.commands.errors import SYNTAX, CommandError
from emberkv.commands.table import command
from emberkv.commands.zsets import removed_members, scored_reply, store_zset, zset_read, zset_write
from emberkv.keyspace.values import ZSetValue

NOT_FLOAT_RANGE = "ERR min or max is not a float"
NOT_LEX_RANGE = "ERR min or max not valid string range item"

_SPACE = b" \t\n\v\f\r"
_DECIMAL = re.compile(rb"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\Z")


def strtod(raw: bytes) -> tuple[float, bool] | None:
    """C's strtod over all of raw: (value, out of range?), or None if raw is not entirely a number.

    More lenient than args.parse_float, which is what Redis uses for arguments elsewhere: score ranges
    and SORT call strtod itself, and clients rely on what it accepts."""
    if not raw:
        return 0.0, False
    text = raw.lstrip(_SPACE)
    if not text:
        return None
    try:
        value = to_float_or_none(text)
    except OverflowError:  # a hex float beyond the double range
        return (-math.inf if text.startswith(b"-") else math.inf), True
    if value is not None:
        return value, False
    if _DECIMAL.match(text):
        return float(text), True  # over- or underflow: strtod gives ±inf or 0 and flags a range error
    return None


class _Top:
    """Compares above every member, so (score, _TOP) sorts after every (score, member)."""

    __slots__ = ()

    def __lt__(self, other: object) -> bool:
        return False

    def __le__(self, other: object) -> bool:
        return other is self

    def __gt__(self, other: object) -> bool:
        return other is not self

    def __ge__(self, other: object) -> bool:
        return True


_TOP = _Top()


# -- score ranges ----------------------------------------------------------------------------------

def parse_score_range(lo: bytes, hi: bytes) -> tuple[float, bool, float, bool]:
    """(min, min exclusive?, max, max exclusive?) from two score bounds, '(' marking exclusive."""
    bounds = []
    for raw in (lo, hi):
        exclusive = raw[:1] == b"("
        parsed = strtod(raw[1:] if exclusive else raw)
        if parsed is None:
            raise CommandError(NOT_FLOAT_RANGE)
        bounds.append(parsed[0])
        bounds.append(exclusive)
    return bounds[0], bounds[1], bounds[2], bounds[3]


def score_span(zs: ZSetValue, rng: tuple[float, bool, float, bool]) -> tuple[int, int]:
    """Positions [lo, hi) of the members whose scores are in rng."""
    low, lowex, high, highex = rng
    ranked = zs.ranked
    lo = ranked.bisect_left((low, _TOP) if lowex else (low,))
    hi = ranked.bisect_left((high,) if highex else (high, _TOP))
    return lo, max(lo, hi)


# -- lex ranges ------------------------------------------------------------------------------------

# A lex bound is (kind, value, exclusive): kind -1 is '-', 1 is '+', 0 a member given with '[' or '('.
LexBound = tuple[int, bytes, bool]


def _lex_bound(raw: bytes) -> LexBound:
    if raw == b"-":
        return -1, b"", True
    if raw == b"+":
        return 1, b"", True
    if raw[:1] == b"[":
        return 0, raw[1:], False
    if raw[:1] == b"(":
        return 0, raw[1:], True
    raise CommandError(NOT_LEX_RANGE)


def parse_lex_range(lo: bytes, hi: bytes) -> tuple[LexBound, LexBound]:
    return _lex_bound(lo), _lex_bound(hi)


def _gte_min(member: bytes, bound: LexBound) -> bool:
    kind, value, exclusive = bound
    if kind:
        return kind < 0
    return member > value if exclusive else member >= value


def _lte_max(member: bytes, bound: LexBound) -> bool:
    kind, value, exclusive = bound
    if kind:
        return kind > 0
    return member < value if exclusive else member <= value


def _lex_empty(low: LexBound, high: LexBound) -> bool:
    """True when the range cannot hold anything (min above max, or equal with an exclusive end)."""
    if low[0] != high[0]:
        above = low[0] > high[0]
        same = False
    else:
        above = low[0] == 0 and low[1] > high[1]
        same = low[0] != 0 or low[1] == high[1]
    return above or (same and (low[2] or high[2]))


def lex_span(zs: ZSetValue, rng: tuple[LexBound, LexBound], reverse: bool = False,
             offset: int = 0, limit: int = -1) -> tuple[int, int]:
    """Positions [lo, hi) that a lex range (after LIMIT offset count) selects; reverse counts the
    offset and limit from the top end."""
    low, high = rng
    ranked = zs.ranked
    n = len(ranked)
    if not n or offset < 0 or _lex_empty(low, high):
        return 0, 0
    first_score = ranked[0][0]
    if first_score == ranked[-1][0]:
        lo = _lex_edge(ranked, first_score, low, lower=True)
        hi = _lex_edge(ranked, first_score, high, lower=False)
        if lo >= hi:
            return 0, 0
        if reverse:
            hi -= offset
            if limit >= 0:
                lo = max(lo, hi - limit)
        else:
            lo += offset
            if limit >= 0:
                hi = min(hi, lo + limit)
        return (lo, hi) if lo < hi else (0, 0)
    return _lex_walk(ranked, low, high, reverse, offset, limit)


def _lex_edge(ranked, score: float, bound: LexBound, lower: bool) -> int:
    kind, value, exclusive = bound
    if kind:
        return 0 if kind < 0 else len(ranked)
    # A lower bound starts after an excluded value; an upper bound ends before one.
    if lower == exclusive:
        return ranked.bisect_right((score, value))
    return ranked.bisect_left((score, value))


def _lex_walk(ranked, low: LexBound, high: LexBound, reverse: bool, offset: int,
              limit: int) -> tuple[int, int]:
    n = len(ranked)
    if not (_gte_min(ranked[-1][1], low) and _lte_max(ranked[0][1], high)):
        return 0, 0
    budget = n if limit < 0 else limit
    if not reverse:
        first = 0
        while not _gte_min(ranked[first][1], low):
            first += 1
        if not _lte_max(ranked[first][1], high):
            return 0, 0
        lo = hi = first + offset
        while hi < n and hi - lo < budget and _lte_max(ranked[hi][1], high):
            hi += 1
        return (lo, hi) if lo < hi else (0, 0)
    last = n - 1
    while not _lte_max(ranked[last][1], high):
        last -= 1
    if not _gte_min(ranked[last][1], low):
        return 0, 0
    hi = lo = last - offset + 1
    while lo > 0 and hi - lo < budget and _gte_min(ranked[lo - 1][1], low):
        lo -= 1
    return (lo, hi) if lo < hi else (0, 0)


# -- ZRANGE and friends ----------------------------------------------------------------------------

_RANK, _SCORE, _LEX = 0, 1, 2


def _rank_span(n: int, start: int, end: int, reverse: bool) -> tuple[int, int]:
    if start < 0:
        start += n
    if end < 0:
        end += n
    start = max(start, 0)
    if start > end or start >= n:
        return 0, 0
    end = min(end, n - 1)
    return (n - 1 - end, n - start) if reverse else (start, end + 1)


def _zrange(c, argv: list[bytes], src_index: int, store: bool, kind: int | None,
            reverse: bool | None):
    """The one implementation behind ZRANGE, ZRANGESTORE, Z[REV]RANGE[BYSCORE|BYLEX]."""
    withscores = False
    offset, limit = 0, -1
    argc = len(argv)
    j = src_index + 3
    while j < argc:
        option = argv[j].lower()
        if option == b"withscores" and not store:
            withscores = True
        elif option == b"limit" and argc - j - 1 >= 2:
            offset = parse_int(argv[j + 1])
            limit = parse_int(argv[j + 2])
            j += 2
        elif option == b"rev" and reverse is None:
            reverse = True
        elif option == b"bylex" and kind is None:
            kind = _LEX
        elif option == b"byscore" and kind is None:
            kind = _SCORE
        else:
            raise CommandError(SYNTAX)
        j += 1
    reverse = bool(reverse)
    if kind is None:
        kind = _RANK
    # Redis tells a LIMIT apart by its count: "LIMIT 0 -1" with a rank range is not an error.
    if limit != -1 and kind == _RANK:
        raise CommandError(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
    if withscores and kind == _LEX:
        raise CommandError("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
    low, high = argv[src_index + 1], argv[src_index + 2]
    if reverse and kind != _RANK:
        low, high = high, low  # given as max, min
    if kind == _RANK:
        bounds = (parse_int(low), parse_int(high))
    elif kind == _SCORE:
        bounds = parse_score_range(low, high)
    else:
        bounds = parse_lex_range(low, high)

    zs = zset_read(c, argv[src_index])
    pairs = [] if zs is None else _select(zs, kind, bounds, reverse, offset, limit)
    if store:
        return store_zset(c, argv[1], pairs, b"zrangestore")
    return scored_reply(c, pairs, withscores)


def _select(zs: ZSetValue, kind: int, bounds, reverse: bool, offset: int, limit: int) -> list:
    ranked = zs.ranked
    if kind == _RANK:
        lo, hi = _rank_span(len(ranked), bounds[0], bounds[1], reverse)
    elif kind == _LEX:
        lo, hi = lex_span(zs, bounds, reverse, offset, limit)
    else:
        lo, hi = score_span(zs, bounds)
        if offset < 0:
            return []
        if reverse:
            hi -= offset
            if limit >= 0:
                lo = max(lo, hi - limit)
        else:
            lo += offset
            if limit >= 0:
                hi = min(hi, lo + limit)
    if lo >= hi:
        return []
    return list(ranked.islice(lo, hi, reverse=True)) if reverse else ranked[lo:hi]


@command("zrange", -4, "readonly", keys=(1, 1, 1), group="sorted-set")
def zrange(c, argv):
    """Members of a sorted set in a range of ranks, scores (BYSCORE) or members (BYLEX)."""
    return _zrange(c, argv, 1, False, None, None)


@command("zrangestore", -5, "write denyoom", keys=(1, 2, 1), group="sorted-set")
def zrangestore(c, argv):
    """Store a range of a sorted set (as ZRANGE selects it) in another key."""
    return _zrange(c, argv, 2, True, None, None)


@command("zrevrange", -4, "readonly", keys=(1, 1, 1), group="sorted-set")
def zrevrange(c, argv):
    """Members of a sorted set in a range of ranks counted from the highest score."""
    return _zrange(c, argv, 1, False, _RANK, True)


@command("zrangebyscore", -4, "readonly", keys=(1, 1, 1), group="sorted-set")
def zrangebyscore(c, argv):
    """Members of a sorted set with scores between min and max, lowest first."""
    return _zrange(c, argv, 1, False, _SCORE, False)


@command("zrevrangebyscore", -4, "readonly", keys=(1, 1, 1), group="sorted-set")
def zrevrangebyscore(c, argv):
    """Members of a sorted set with scores between max and min, highest first."""
    return _zrange(c, argv, 1, False, _SCORE, True)


@command("zrangebylex", -4, "readonly", keys=(1, 1, 1), group="sorted-set")
def zrangebylex(c, argv):
    """Members of a sorted set between two members in byte order (for sets of equal scores)."""
    return _zrange(c, argv, 1, False, _LEX, False)


@command("zrevrangebylex", -4, "readonly", keys=(1, 1, 1), group="sorted-set")
def zrevrangebylex(c, argv):
    """Members of a sorted set between two members in reverse byte order (for equal scores)."""
    return _zrange(c, argv, 1, False, _LEX, True)


# -- counting and removing ranges ------------------------------------------------------------------

@command("zcount", 4, "readonly fast", keys=(1, 1, 1), group="sorted-set")
def zcount(c, argv):
    """Number of members of a sorted set with scores in a range."""
    rng = parse_score_range(argv[2], argv[3])
    zs = zset_read(c, argv[1])
    if zs is None:
        return 0
    lo, hi = score_span(zs, rng)
    return hi - lo


@command("zlexcount", 4, "readonly fast", keys=(1, 1, 1), group="sorted-set")
def zlexcount(c, argv):
    """Number of members of a sorted set between two members in byte order."""
    rng = parse_lex_range(argv[2], argv[3])
    zs = zset_read(c, argv[1])
    if zs is None:
        return 0
    lo, hi = lex_span(zs, rng)
    return hi - lo


@command("zremrangebyrank", 4, "write", keys=(1, 1, 1), group="sorted-set")
def zremrangebyrank(c, argv):
    """Remove the members of a sorted set in a range of ranks."""
    start, end = parse_int(argv[2]), parse_int(argv[3])
    return _remove_span(c, argv[1], lambda zs: _rank_span(len(zs.ranked), start, end, False),
                        b"zremrangebyrank")


@command("zremrangebyscore", 4, "write", keys=(1, 1, 1), group="sorted-set")
def zremrangebyscore(c, argv):
    """Remove the members of a sorted set with scores in a range."""
    rng = parse_score_range(argv[2], argv[3])
    return _remove_span(c, argv[1], lambda zs: score_span(zs, rng), b"zremrangebyscore")


@command("zremrangebylex", 4, "write", keys=(1, 1, 1), group="sorted-set")
def zremrangebylex(c, argv):
    """Remove the members of a sorted set between two members in byte order."""
    rng = parse_lex_range(argv[2], argv[3])
    return _remove_span(c, argv[1], lambda zs: lex_span(zs, rng), b"zremrangebylex")


def _remove_span(c, key: bytes, span, event: bytes) -> int:
    zs = zset_write(c, key)
    if zs is None:
        return 0
    lo, hi = span(zs)
    if lo >= hi:
        return 0
    ranked, scores = zs.ranked, zs.scores
    for _, member in ranked.islice(lo, hi):
        del scores[member]
    del ranked[lo:hi]
    removed_members(c, key, zs, hi - lo, event)
    return hi - lo
