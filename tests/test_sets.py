"""Set commands through the real dispatcher (in-process): replies, error texts and their order, the
intset -> hashtable conversion, keyspace events and propagation (SPOP's effects). Expected values
were taken from redis-server 7.0.15."""

from __future__ import annotations

from collections import Counter

import pytest

from emberkv.keyspace.db import NOTIFY_GENERIC, NOTIFY_SET
from tests.inproc import err, record_events

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
NOT_INTEGER = "ERR value is not an integer or out of range"
NOT_POSITIVE = "ERR value is out of range, must be positive"
SYNTAX = "ERR syntax error"
INT64_MIN = str(-(2**63))
INT64_MAX = str(2**63 - 1)


@pytest.fixture
def events(srv):
    return record_events(srv, NOTIFY_SET | NOTIFY_GENERIC)


@pytest.fixture
def batches(srv):
    """What each command handed to propagation, and whether as one MULTI/EXEC block."""
    seen: list[tuple[list[list[bytes]], bool]] = []
    srv.server.effect_feeds.append(lambda batch, multi: seen.append(([argv for _, argv in batch], multi)))
    return seen


def encoding(c, key: str = "s") -> bytes:
    return c("OBJECT", "ENCODING", key)


# -- SADD / SREM / reads ---------------------------------------------------------------------------

def test_sadd_counts_new_members(c, events):
    assert c("SADD", "s", "a", "b", "a") == 2
    assert c("SADD", "s", "b") == 0
    assert c("SCARD", "s") == 2
    assert c("TYPE", "s") == b"set"
    assert events == [(b"sadd", b"s")]


def test_an_intset_lists_its_members_in_numeric_order(c):
    c("SADD", "s", 3, 1, 2, 10, -5)
    assert encoding(c) == b"intset"
    assert c("SMEMBERS", "s") == [b"-5", b"1", b"2", b"3", b"10"]
    assert c("SSCAN", "s", 0) == [b"0", [b"-5", b"1", b"2", b"3", b"10"]]


def test_srem_counts_and_deletes_an_emptied_set(c, events):
    c("SADD", "s", "a", "b", "c")
    assert c("SREM", "s", "a", "zz", "a") == 1
    assert c("SREM", "s", "b", "c") == 2
    assert c("EXISTS", "s") == 0
    assert c("SREM", "missing", "a") == 0
    assert events[1:] == [(b"srem", b"s"), (b"srem", b"s"), (b"del", b"s")]


def test_membership(c):
    c("SADD", "s", "a", "1")
    assert c("SISMEMBER", "s", "a") == 1
    assert c("SISMEMBER", "s", "b") == 0
    assert c("SMISMEMBER", "s", "1", "z", "a") == [1, 0, 1]
    assert c("SISMEMBER", "missing", "a") == 0
    assert c("SMISMEMBER", "missing", "a", "b") == [0, 0]
    assert c("SCARD", "missing") == 0
    assert c("SMEMBERS", "missing") == []


@pytest.mark.parametrize("command", [
    ["SADD", "a"], ["SREM", "a"], ["SCARD"], ["SISMEMBER", "a"], ["SMISMEMBER", "a"], ["SMEMBERS"],
    ["SPOP"], ["SPOP", 1], ["SRANDMEMBER"], ["SRANDMEMBER", 1], ["SSCAN", 0], ["SINTER"], ["SUNION"],
    ["SDIFF"], ["SINTERSTORE", "x"], ["SUNIONSTORE", "x"], ["SDIFFSTORE", "x"],
])
def test_every_command_refuses_another_type(c, command):
    if command[0].endswith("STORE"):
        assert err(c(command[0], "dst", "str")) == WRONGTYPE
    else:
        assert err(c(command[0], "str", *command[1:])) == WRONGTYPE


def test_smembers_is_a_set_in_resp3(srv):
    c = srv.client()
    c("SADD", "s", "1")
    c("HELLO", 3)
    c.transport.written.clear()
    c.send(b"*2\r\n$8\r\nSMEMBERS\r\n$1\r\ns\r\n")
    assert bytes(c.transport.written) == b"~1\r\n$1\r\n1\r\n"


# -- encodings -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("members", "expected"), [
    (["1", "2"], b"intset"), (["1", "a"], b"hashtable"), (["-0"], b"hashtable"), (["01"], b"hashtable"),
    (["9223372036854775808"], b"hashtable"), ([INT64_MAX, INT64_MIN], b"intset"), ([" 1"], b"hashtable"),
])
def test_new_set_encoding(c, members, expected):
    c("SADD", "s", *members)
    assert encoding(c) == expected


def test_conversion_to_hashtable_is_for_good(c):
    c("SADD", "s", 1)
    c("SADD", "s", "a")
    assert encoding(c) == b"hashtable"
    c("SREM", "s", "a")
    assert encoding(c) == b"hashtable"


def test_more_members_than_the_intset_limit_convert(c):
    c("CONFIG", "SET", "set-max-intset-entries", 2)
    c("SADD", "s", 1, 2)
    assert encoding(c) == b"intset"
    c("SADD", "s", 3)
    assert encoding(c) == b"hashtable"
    c("SADD", "s2", 1, 2, 3)
    c("SINTERSTORE", "s3", "s2")
    assert encoding(c, "s3") == b"hashtable"
    c("CONFIG", "SET", "set-max-intset-entries", 0)
    c("SADD", "s4", 1)
    assert encoding(c, "s4") == b"hashtable"


def test_algebra_results_start_as_intsets(c):
    c("SADD", "ints", 1, 2)
    c("SADD", "strs", "a", "b")
    c("SINTERSTORE", "r1", "ints")
    c("SDIFFSTORE", "r2", "strs", "ints")
    c("SUNIONSTORE", "r3", "ints", "ints")
    assert [encoding(c, k) for k in ("r1", "r2", "r3")] == [b"intset", b"hashtable", b"intset"]


def test_smove_converts_the_destination_like_sadd(c):
    c("SADD", "src", "a", "b")
    c("SADD", "ints", 1)
    c("SMOVE", "src", "ints", "a")
    assert encoding(c, "ints") == b"hashtable"
    c("SMOVE", "src", "new", "b")
    assert encoding(c, "new") == b"hashtable"


# -- SPOP ------------------------------------------------------------------------------------------

def test_spop_one_is_propagated_as_srem(c, batches, events):
    c("SADD", "s", "a", "b")
    member = c("SPOP", "s")
    assert member in (b"a", b"b")
    assert batches[-1] == ([[b"SREM", b"s", member]], False)
    assert events[-1] == (b"spop", b"s")
    assert c("SMEMBERS", "s") == [({b"a", b"b"} - {member}).pop()]


def test_spop_count_is_propagated_as_srems_in_one_transaction(c, batches):
    c("SADD", "s", *range(10))
    popped = c("SPOP", "s", 3)
    assert len(set(popped)) == 3
    assert batches[-1] == ([[b"SREM", b"s", m] for m in popped], True)
    assert c("SCARD", "s") == 7
    assert not set(popped) & set(c("SMEMBERS", "s"))


def test_spop_taking_everything_is_propagated_as_del(c, batches, events):
    c("SADD", "s", 3, 1, 2)
    assert c("SPOP", "s", 5) == [b"1", b"2", b"3"]
    assert c("EXISTS", "s") == 0
    assert batches[-1] == ([[b"DEL", b"s"]], False)
    assert events[-2:] == [(b"spop", b"s"), (b"del", b"s")]


def test_spop_missing_key_and_count_zero(c, batches):
    c("SADD", "s", "a")
    assert c("SPOP", "missing") is None
    assert c("SPOP", "missing", 0) == []
    assert c("SPOP", "missing", 5) == []
    assert c("SPOP", "s", 0) == []
    assert batches == [([[b"SADD", b"s", b"a"]], False)]


@pytest.mark.parametrize("count", ["-1", "x", INT64_MIN, ""])
def test_spop_refuses_bad_counts_before_the_key(c, count):
    assert err(c("SPOP", "missing", count)) == NOT_POSITIVE
    assert err(c("SPOP", "str", count)) == NOT_POSITIVE


def test_spop_syntax(c):
    assert err(c("SPOP", "str", 1, 2)) == SYNTAX


def test_spop_on_a_large_set_pops_distinct_members(c, batches):
    c("SADD", "s", *range(5000))
    popped = [c("SPOP", "s") for _ in range(100)]
    popped += c("SPOP", "s", 50)
    assert len(set(popped)) == 150
    assert c("SCARD", "s") == 4850
    assert not set(popped) & set(c("SMEMBERS", "s"))
    assert batches[-1] == ([[b"SREM", b"s", m] for m in popped[100:]], True)


# -- SRANDMEMBER -----------------------------------------------------------------------------------

def test_srandmember(c):
    c("SADD", "s", *range(10))
    assert c("SRANDMEMBER", "s") in [b"%d" % i for i in range(10)]
    assert c("SRANDMEMBER", "s", 0) == []
    assert c("SRANDMEMBER", "s", 100) == [b"%d" % i for i in range(10)]
    some = c("SRANDMEMBER", "s", 4)
    assert len(set(some)) == 4
    assert len(c("SRANDMEMBER", "s", -30)) == 30
    assert c("SCARD", "s") == 10
    assert c("SRANDMEMBER", "missing") is None
    assert c("SRANDMEMBER", "missing", 5) == []
    assert c("SRANDMEMBER", "missing", -5) == []


def test_srandmember_is_roughly_uniform(c):
    c("SADD", "s", "a", "b", "c", "d")
    seen = Counter(c("SRANDMEMBER", "s", -4000))
    assert set(seen) == {b"a", b"b", b"c", b"d"}
    assert min(seen.values()) > 800
    singles = Counter(c("SRANDMEMBER", "s") for _ in range(400))
    assert len(singles) == 4


@pytest.mark.parametrize(("args", "error"), [
    (["x"], NOT_INTEGER),
    ([INT64_MIN], "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"),
    (["1", "2"], SYNTAX),
])
def test_srandmember_errors_come_before_the_key(c, args, error):
    assert err(c("SRANDMEMBER", "missing", *args)) == error
    assert err(c("SRANDMEMBER", "str", *args)) == error


def test_srandmember_refuses_a_huge_number_of_repeats(c):
    c("SADD", "s", "a")
    assert err(c("SRANDMEMBER", "s", "-100000000")) == "ERR value is out of range"
    assert c("SRANDMEMBER", "missing", "-100000000") == []


# -- SMOVE -----------------------------------------------------------------------------------------

def test_smove(c, events):
    c("SADD", "src", "a", "b")
    c("SADD", "dst", "b")
    assert c("SMOVE", "src", "dst", "a") == 1
    assert c("SMOVE", "src", "dst", "b") == 1
    assert c("EXISTS", "src") == 0
    assert c("SMEMBERS", "dst") in ([b"a", b"b"], [b"b", b"a"])
    assert c("SMOVE", "dst", "dst", "a") == 1
    assert c("SMOVE", "dst", "dst", "zz") == 0
    assert c("SMOVE", "dst", "other", "zz") == 0
    assert events[2:] == [(b"srem", b"src"), (b"sadd", b"dst"), (b"srem", b"src"), (b"del", b"src")]


def test_smove_errors(c):
    c("SADD", "s", "a")
    assert c("SMOVE", "missing", "str", "a") == 0
    assert err(c("SMOVE", "str", "s", "a")) == WRONGTYPE
    assert err(c("SMOVE", "s", "str", "a")) == WRONGTYPE
    assert err(c("SMOVE", "s", "str", "zz")) == WRONGTYPE
    assert c("SMEMBERS", "s") == [b"a"]


# -- set algebra -----------------------------------------------------------------------------------

@pytest.fixture
def abc(c):
    c("SADD", "s1", "a", "b", "c")
    c("SADD", "s2", "b", "c", "d")
    c("SADD", "s3", "c", "e")
    return c


@pytest.mark.parametrize(("command", "keys", "expected"), [
    ("SINTER", ["s1", "s2"], "bc"), ("SINTER", ["s1", "s2", "s3"], "c"), ("SINTER", ["s1", "missing"], ""),
    ("SINTER", ["s1"], "abc"), ("SUNION", ["s1", "s3"], "abce"), ("SUNION", ["missing", "s3"], "ce"),
    ("SDIFF", ["s1", "s2"], "a"), ("SDIFF", ["s1", "missing", "s3"], "ab"), ("SDIFF", ["missing", "s1"], ""),
    ("SDIFF", ["s1", "s1"], ""),
])
def test_algebra(abc, command, keys, expected):
    assert sorted(abc(command, *keys)) == [ch.encode() for ch in expected]
    stored = abc(command + "STORE", "dst", *keys)
    assert stored == len(expected)
    assert sorted(abc("SMEMBERS", "dst")) == [ch.encode() for ch in expected]


def test_algebra_checks_every_key_type(abc):
    assert err(abc("SINTER", "missing", "str")) == WRONGTYPE
    assert err(abc("SUNION", "s1", "str")) == WRONGTYPE
    assert err(abc("SDIFF", "missing", "str")) == WRONGTYPE
    assert err(abc("SINTERSTORE", "dst", "missing", "str")) == WRONGTYPE


def test_algebra_on_integers_answers_in_numeric_order(c):
    c("SADD", "a", 5, 3, 1)
    c("SADD", "b", 3, 10, 1)
    assert c("SUNION", "a", "b") == [b"1", b"3", b"5", b"10"]
    assert c("SINTER", "a", "b") == [b"1", b"3"]


def test_store_forms_overwrite_or_delete_the_destination(abc, events):
    abc("SET", "dst", "old")
    abc("EXPIRE", "dst", 100)
    assert abc("SUNIONSTORE", "dst", "s1") == 3
    assert abc("TTL", "dst") == -1
    assert abc("SINTERSTORE", "dst", "s1", "missing") == 0
    assert abc("EXISTS", "dst") == 0
    assert abc("SDIFFSTORE", "dst", "s1", "s1") == 0
    assert abc("SUNIONSTORE", "dst", "missing") == 0
    assert events[-2:] == [(b"sunionstore", b"dst"), (b"del", b"dst")]
    abc("SDIFFSTORE", "dst", "s1", "s2")
    abc("SINTERSTORE", "dst", "s1", "s2")
    assert events[-2:] == [(b"sdiffstore", b"dst"), (b"sinterstore", b"dst")]


def test_sintercard(abc):
    assert abc("SINTERCARD", 2, "s1", "s2") == 2
    assert abc("SINTERCARD", 2, "s1", "s2", "LIMIT", 1) == 1
    assert abc("SINTERCARD", 2, "s1", "s2", "LIMIT", 0) == 2
    assert abc("SINTERCARD", 1, "s1", "limit", 1, "LIMIT", 2) == 2
    assert abc("SINTERCARD", 2, "s1", "missing") == 0
    assert abc("SINTERCARD", 2, "s1", "missing", "LIMIT", 1) == 0
    assert abc("COMMAND", "GETKEYS", "SINTERCARD", 2, "s1", "s2", "LIMIT", 1) == [b"s1", b"s2"]


@pytest.mark.parametrize(("args", "error"), [
    (["0", "a"], "ERR numkeys should be greater than 0"),
    (["x", "a"], "ERR numkeys should be greater than 0"),
    ([INT64_MIN, "a"], "ERR numkeys should be greater than 0"),
    (["2", "a"], "ERR Number of keys can't be greater than number of args"),
    ([INT64_MAX, "a"], "ERR Number of keys can't be greater than number of args"),
    (["1", "a", "LIMIT", "-1"], "ERR LIMIT can't be negative"),
    (["1", "a", "LIMIT", "x"], "ERR LIMIT can't be negative"),
    (["1", "a", "LIMIT", INT64_MIN], "ERR LIMIT can't be negative"),
    (["1", "a", "LIMIT"], SYNTAX),
    (["1", "a", "FOO", "1"], SYNTAX),
    (["1", "str"], WRONGTYPE),
    (["2", "missing", "str"], WRONGTYPE),
])
def test_sintercard_errors(c, args, error):
    assert err(c("SINTERCARD", *args)) == error


# -- SSCAN -----------------------------------------------------------------------------------------

def test_sscan_walks_a_hashtable_with_the_cursor(c):
    members = {f"m:{i}".encode() for i in range(700)}
    c("SADD", "s", *members)
    seen: set[bytes] = set()
    cursor = b"0"
    calls = 0
    while True:
        cursor, chunk = c("SSCAN", "s", cursor, "COUNT", 100)
        seen.update(chunk)
        calls += 1
        if cursor == b"0":
            break
    assert seen == members
    assert calls > 1


def test_sscan_match_and_errors(c):
    c("SADD", "s", "apple", "avocado", "banana")
    assert sorted(c("SSCAN", "s", 0, "MATCH", "a*", "COUNT", 1000)[1]) == [b"apple", b"avocado"]
    assert c("SSCAN", "missing", 0, "FOO") == [b"0", []]
    assert err(c("SSCAN", "s", "x")) == "ERR invalid cursor"
    assert err(c("SSCAN", "s", 0, "COUNT", 0)) == SYNTAX
    assert err(c("SSCAN", "s", 0, "COUNT", "x")) == NOT_INTEGER
    assert err(c("SSCAN", "s", 0, "MATCH")) == SYNTAX
    assert err(c("SSCAN", "s", 0, "TYPE", "set")) == SYNTAX
