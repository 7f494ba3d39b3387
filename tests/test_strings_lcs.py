"""LCS in-process: the reported subsequence, lengths and match ranges, options and errors.
Expected replies were taken from redis-server 7.0.15; random strings are compared against a live
one in test_differential_strings.py."""

from __future__ import annotations

import random
import time

import pytest

from emberkv.commands.strings_lcs import lcs_walk
from emberkv.keyspace.values import ListValue
from tests.inproc import InProcessServer, err


@pytest.fixture
def c():
    srv = InProcessServer()
    ks = srv.server.keyspace
    ks.add_key(ks.dbs[0], b"list", ListValue([b"x"]))
    client = srv.client()
    client("MSET", "s", "Hello World", "s2", "Hi World")
    yield client
    srv.close()


def test_lcs_text_and_length(c):
    assert c("LCS", "s", "s2") == b"H World"
    assert c("LCS", "s", "s2", "LEN") == 7
    assert c("LCS", "s", "missing") == b""
    assert c("LCS", "missing", "other", "len") == 0


def test_lcs_idx_reports_runs_from_the_end(c):
    assert c("LCS", "s", "s2", "IDX") == [
        b"matches", [[[5, 10], [2, 7]], [[0, 0], [0, 0]]], b"len", 7]
    assert c("LCS", "s", "s2", "IDX", "WITHMATCHLEN") == [
        b"matches", [[[5, 10], [2, 7], 6], [[0, 0], [0, 0], 1]], b"len", 7]
    assert c("LCS", "s", "s2", "IDX", "MINMATCHLEN", "3") == [
        b"matches", [[[5, 10], [2, 7]]], b"len", 7]
    assert c("LCS", "s", "s2", "IDX", "MINMATCHLEN", str(2**63 - 1)) == [b"matches", [], b"len", 7]


def test_lcs_negative_minmatchlen_counts_as_zero(c):
    assert c("LCS", "s", "s2", "MINMATCHLEN", "-5") == b"H World"


@pytest.mark.parametrize("options,error", [
    (["IDX", "LEN"], "ERR If you want both the length and indexes, please just use IDX."),
    (["LEN", "IDX"], "ERR If you want both the length and indexes, please just use IDX."),
    (["MINMATCHLEN", "abc"], "ERR value is not an integer or out of range"),
    (["MINMATCHLEN"], "ERR syntax error"),
    (["FOO"], "ERR syntax error"),
])
def test_lcs_option_errors(c, options, error):
    assert err(c("LCS", "s", "s2", *options)) == error


def test_lcs_refuses_other_types_before_reading_options(c):
    text = "ERR The specified keys must contain string values"
    assert err(c("LCS", "s", "list")) == text
    assert err(c("LCS", "list", "missing", "FOO")) == text


def test_lcs_refuses_tables_beyond_proto_max_bulk_len():
    srv = InProcessServer("--proto-max-bulk-len", "1mb")
    c = srv.client()
    c("MSET", "a", "x" * 511, "b", "y" * 511)
    assert c("LCS", "a", "b") == b""
    c("SET", "a", "x" * 512)
    assert err(c("LCS", "a", "b")) == (
        "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
    srv.close()


def _naive_walk(a: bytes, b: bytes) -> bytes:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            table[i][j] = (table[i - 1][j - 1] + 1 if a[i - 1] == b[j - 1]
                           else max(table[i - 1][j], table[i][j - 1]))
    i, j, out = len(a), len(b), bytearray()
    while i and j:
        if a[i - 1] == b[j - 1]:
            out.append(a[i - 1])
            i, j = i - 1, j - 1
        elif table[i - 1][j] > table[i][j - 1]:
            i -= 1
        else:
            j -= 1
    return bytes(reversed(out))


def test_bit_vector_rows_walk_like_the_full_table():
    rnd = random.Random(7)
    for _ in range(300):
        a = bytes(rnd.choice(b"abc") for _ in range(rnd.randint(0, 30)))
        b = bytes(rnd.choice(b"abc") for _ in range(rnd.randint(0, 30)))
        assert lcs_walk(a, b)[0] == _naive_walk(a, b)


def test_large_inputs_stay_fast():
    rnd = random.Random(1)
    a = bytes(rnd.choice(b"ACGT") for _ in range(8000))
    b = bytes(rnd.choice(b"ACGT") for _ in range(8000))
    start = time.perf_counter()
    picked, runs = lcs_walk(a, b)
    assert time.perf_counter() - start < 5
    assert sum(r[1] - r[0] + 1 for r in runs) == len(picked) > 4000
