"""Redis's glob patterns (KEYS, SCAN MATCH, PSUBSCRIBE, CONFIG GET, ...), matched without recursion.

Syntax, as Redis's stringmatchlen reads it:

* ``*`` any run of bytes, ``?`` any one byte;
* ``[abc]`` one of a set, ``[^abc]`` none of it, ``[a-z]`` a range (ends may come in either order),
  ``\\x`` inside brackets the literal ``x``; a ``[`` that is never closed takes the rest of the pattern
  as its set, and ``[a-]`` is the range from ``a`` to ``]`` (Redis reads it that way, so we do too);
* ``\\x`` outside brackets the literal ``x`` (a trailing lone backslash is itself a literal).

With ``nocase`` letters compare case-insensitively, except a backslash-escaped byte inside brackets,
which Redis compares exactly.

A pattern is compiled once (and cached) into a list of tokens: ``None`` for ``*``, otherwise a 256-byte
table saying which byte values that position accepts. Matching is then the classic two-pointer walk:
remember the last ``*`` seen and, on a mismatch, let it swallow one more byte and retry. Every other
token consumes exactly one byte, so the last star is the only backtrack point ever needed; the cost is
at most len(pattern) * len(text) steps and the stack never grows, whatever the pattern (a recursive
matcher takes exponential time on ``a*a*a*...b``, and Redis's own limits its recursion depth for this).
"""

from __future__ import annotations

from functools import lru_cache

Token = bytes | None  # None: '*'; bytes: a 256-entry table, non-zero where the byte is accepted

_ANY = b"\x01" * 256
_SPECIAL = frozenset(b"*?[\\")


def glob_match(pattern: bytes, text: bytes, nocase: bool = False) -> bool:
    """Whether text matches the Redis glob pattern."""
    if pattern == b"*":
        return True
    if not _SPECIAL.intersection(pattern):
        return pattern.lower() == text.lower() if nocase else pattern == text
    if not nocase:
        # The usual KEYS/SCAN shapes ('user:*', '*:id', '*part*') run as bytes methods, in C.
        shape, literal = _shape(pattern)
        if shape == 1:
            return text.startswith(literal)
        if shape == 2:
            return text.endswith(literal)
        if shape == 3:
            return literal in text
    return _match(_compile(pattern, nocase), text)


@lru_cache(maxsize=512)
def _shape(pattern: bytes) -> tuple[int, bytes]:
    """(1, p) for 'p*', (2, s) for '*s', (3, m) for '*m*' with plain literals; (0, b'') otherwise."""
    core = pattern.strip(b"*")
    if not core or _SPECIAL.intersection(core):
        return 0, b""
    starts, ends = pattern.startswith(b"*"), pattern.endswith(b"*")
    return (3 if starts and ends else 2 if starts else 1), core


def _match(tokens: tuple[Token, ...], text: bytes) -> bool:
    p = t = 0
    n, m = len(tokens), len(text)
    star = -1  # index of the last '*' token seen
    star_t = 0  # where in text that star's match currently ends
    while t < m:
        token = tokens[p] if p < n else b""
        if token is None:
            star, star_t = p, t
            p += 1
        elif token and token[text[t]]:
            p += 1
            t += 1
        elif star >= 0:
            star_t += 1
            p, t = star + 1, star_t
        else:
            return False
    while p < n and tokens[p] is None:
        p += 1
    return p == n


def _lower(c: int) -> int:
    return c + 32 if 65 <= c <= 90 else c


@lru_cache(maxsize=512)
def _compile(pattern: bytes, nocase: bool) -> tuple[Token, ...]:
    tokens: list[Token] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == 42:  # '*': a run of stars is one star
            if not tokens or tokens[-1] is not None:
                tokens.append(None)
            i += 1
        elif c == 63:  # '?'
            tokens.append(_ANY)
            i += 1
        elif c == 91:  # '['
            table, i = _compile_class(pattern, i + 1, nocase)
            tokens.append(table)
        else:
            if c == 92 and i + 1 < n:  # '\\' escapes the next byte
                i += 1
                c = pattern[i]
            tokens.append(_literal(c, nocase))
            i += 1
    return tuple(tokens)


def _literal(c: int, nocase: bool) -> bytes:
    table = bytearray(256)
    table[c] = 1
    if nocase:
        for other in range(256):
            if _lower(other) == _lower(c):
                table[other] = 1
    return bytes(table)


def _compile_class(pattern: bytes, i: int, nocase: bool) -> tuple[bytes, int]:
    """The table for a bracket class starting after '['; returns it and the index after the class."""
    n = len(pattern)
    negate = i < n and pattern[i] == 94  # '^'
    if negate:
        i += 1
    exact: set[int] = set()  # bytes that match as written (escaped ones)
    folded: set[int] = set()  # bytes that match, compared case-insensitively when nocase
    ranges: list[tuple[int, int]] = []
    while i < n:
        c = pattern[i]
        if c == 92 and i + 1 < n:
            exact.add(pattern[i + 1])
            i += 2
        elif c == 93:  # ']'
            i += 1
            break
        elif i + 2 < n and pattern[i + 1] == 45:  # 'a-z'
            start, end = c, pattern[i + 2]
            if nocase:
                start, end = _lower(start), _lower(end)
            ranges.append((min(start, end), max(start, end)))
            i += 3
        else:
            folded.add(c)
            i += 1
    keys = bytearray(256)  # by folded byte value: does the class name it?
    for f in folded:
        keys[_lower(f) if nocase else f] = 1
    for lo, hi in ranges:
        keys[lo:hi + 1] = b"\x01" * (hi - lo + 1)
    table = bytearray(256)
    for b in range(256):
        hit = b in exact or keys[_lower(b) if nocase else b]
        table[b] = hit != negate
    return bytes(table), i
