"""Redis glob patterns: the syntax, its corner cases, speed on hostile patterns, and KEYS as the oracle."""

from __future__ import annotations

import random
import time

import pytest

from emberkv.keyspace.glob import glob_match


@pytest.mark.parametrize(("pattern", "text", "expected"), [
    (b"*", b"", True),
    (b"*", b"anything", True),
    (b"", b"", True),
    (b"", b"a", False),
    (b"h?llo", b"hello", True),
    (b"h?llo", b"hllo", False),
    (b"h*llo", b"hllo", True),
    (b"h*llo", b"heeeello", True),
    (b"h[ae]llo", b"hallo", True),
    (b"h[ae]llo", b"hillo", False),
    (b"h[^e]llo", b"hallo", True),
    (b"h[^e]llo", b"hello", False),
    (b"h[a-b]llo", b"hbllo", True),
    (b"h[b-a]llo", b"hbllo", True),  # range ends in either order
    (b"h[a-b]llo", b"hcllo", False),
    (b"\\*", b"*", True),
    (b"\\*", b"a", False),
    (b"a\\", b"a\\", True),  # a trailing backslash is a literal
    (b"[\\]]", b"]", True),
    (b"[]", b"a", False),  # an empty class matches nothing
    (b"[^]", b"a", True),
    (b"[abc", b"b", True),  # an unclosed class takes the rest of the pattern
    (b"[abc", b"d", False),
    (b"[a-]x", b"_", True),  # "[a-]" is the range "]".."a" and the class never closes
    (b"[a-]x", b"x", True),
    (b"[a-]x", b"b", False),
    (b"a**b", b"ab", True),
    (b"*a", b"bbba", True),
    (b"*a", b"bbbab", False),
    (b"a*b*c", b"aXbYc", True),
    (b"a*b*c", b"aXcYb", False),
    (b"\xff*", b"\xff\x00", True),
    (b"user:*", b"user:", True),  # the prefix, suffix and substring shapes take a shortcut
    (b"user:*", b"use", False),
    (b"*:id", b"x:id", True),
    (b"*:id", b"x:idx", False),
    (b"**mid**", b"amidb", True),
    (b"*mid*", b"mi", False),
])
def test_glob_syntax(pattern: bytes, text: bytes, expected: bool) -> None:
    assert glob_match(pattern, text) is expected


def test_nocase_folds_letters_in_literals_classes_and_ranges() -> None:
    assert glob_match(b"HeLLo", b"hello", nocase=True)
    assert glob_match(b"h[A-C]*", b"Hbx", nocase=True)
    assert glob_match(b"h[ABC]", b"hb", nocase=True)
    assert not glob_match(b"HeLLo", b"hello")


def test_nocase_keeps_escaped_class_members_exact() -> None:
    assert glob_match(b"[\\A]", b"A", nocase=True)
    assert not glob_match(b"[\\A]", b"a", nocase=True)


def test_huge_patterns_answer_quickly_without_recursion() -> None:
    started = time.monotonic()
    assert not glob_match(b"a*" * 10_000 + b"b", b"a" * 200)
    assert glob_match(b"*" * 20_000, b"x" * 1000)
    assert glob_match(b"?" * 20_000, b"y" * 20_000)
    assert not glob_match(b"[a-z]" * 5_000 + b"!", b"q" * 5_000)
    assert time.monotonic() - started < 1.0


def _random_pattern(rng: random.Random) -> bytes:
    pieces = [b"*", b"?", b"a", b"b", b"c", b"A", b"\\", b"[", b"]", b"^", b"-", b"[a-b]", b"[^c]",
              b"\\*", b"[\\]]"]
    return b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 7)))


def test_matches_redis_keys_for_random_patterns(redis_oracle) -> None:
    rng = random.Random(7)
    keys = sorted({bytes(rng.choice(b"abcA*?[]^-\\") for _ in range(rng.randint(0, 5)))
                   for _ in range(300)} - {b""})
    client = redis_oracle.client()
    client.mset({key: b"1" for key in keys})
    for _ in range(400):
        pattern = _random_pattern(rng)
        expected = sorted(client.keys(pattern))
        assert sorted(k for k in keys if glob_match(pattern, k)) == expected, pattern
