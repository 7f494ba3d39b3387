"""Hash commands through the real dispatcher (in-process): replies, error texts and their order,
the listpack -> hashtable conversion, keyspace events and propagation. Expected values were taken
from redis-server 7.0.15."""

from __future__ import annotations

from collections import Counter

import pytest

from emberkv.keyspace.db import NOTIFY_GENERIC, NOTIFY_HASH
from tests.inproc import err, record_events

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
NOT_INTEGER = "ERR value is not an integer or out of range"
NOT_FLOAT = "ERR value is not a valid float"
SYNTAX = "ERR syntax error"
INT64_MIN = str(-(2**63))
INT64_MAX = str(2**63 - 1)
LONG = "x" * 65


@pytest.fixture
def events(srv):
    return record_events(srv, NOTIFY_HASH | NOTIFY_GENERIC)


def encoding(c, key: str = "h") -> bytes:
    return c("OBJECT", "ENCODING", key)


# -- setting ---------------------------------------------------------------------------------------

def test_hset_counts_new_fields_and_keeps_field_order(c):
    assert c("HSET", "h", "a", 1, "b", 2) == 2
    assert c("HSET", "h", "a", 3, "c", 4) == 1
    assert c("HSET", "h", "a", 5, "a", 6) == 0
    assert c("HGETALL", "h") == [b"a", b"6", b"b", b"2", b"c", b"4"]
    assert encoding(c) == b"listpack"
    assert c("TYPE", "h") == b"hash"


def test_hmset_answers_ok(c):
    assert c("HMSET", "h", "a", 1, "b", 2) == b"OK"
    assert c("HMGET", "h", "a", "b", "nope") == [b"1", b"2", None]


@pytest.mark.parametrize("command", ["HSET", "HMSET"])
def test_hset_errors(c, command):
    assert err(c(command, "h", "a", 1, "b")) == f"ERR wrong number of arguments for '{command.lower()}' command"
    assert err(c(command, "h", "a")) == f"ERR wrong number of arguments for '{command.lower()}' command"
    assert err(c(command, "str", "a", 1)) == WRONGTYPE


def test_hsetnx(c, events):
    assert c("HSETNX", "h", "a", 1) == 1
    assert c("HSETNX", "h", "a", 2) == 0
    assert c("HGET", "h", "a") == b"1"
    assert err(c("HSETNX", "str", "a", 1)) == WRONGTYPE
    assert events == [(b"hset", b"h")]


def test_hdel_counts_and_deletes_an_emptied_hash(c, events):
    c("HSET", "h", "a", 1, "b", 2, "c", 3)
    assert c("HDEL", "h", "a", "a", "zz") == 1
    assert c("HDEL", "h", "b", "c") == 2
    assert c("EXISTS", "h") == 0
    assert c("HDEL", "missing", "a") == 0
    assert err(c("HDEL", "str", "a")) == WRONGTYPE
    assert events[1:] == [(b"hdel", b"h"), (b"hdel", b"h"), (b"del", b"h")]


# -- reading ---------------------------------------------------------------------------------------

def test_reads_on_missing_keys(c):
    assert c("HGET", "missing", "a") is None
    assert c("HMGET", "missing", "a", "b") == [None, None]
    assert c("HLEN", "missing") == 0
    assert c("HSTRLEN", "missing", "a") == 0
    assert c("HEXISTS", "missing", "a") == 0
    assert c("HKEYS", "missing") == []
    assert c("HVALS", "missing") == []
    assert c("HGETALL", "missing") == []


@pytest.mark.parametrize("command", [
    ["HGET", "a"], ["HMGET", "a"], ["HLEN"], ["HSTRLEN", "a"], ["HEXISTS", "a"], ["HKEYS"], ["HVALS"],
    ["HGETALL"], ["HRANDFIELD"], ["HRANDFIELD", 1], ["HSCAN", 0], ["HINCRBY", "a", 1],
    ["HINCRBYFLOAT", "a", 1], ["HDEL", "a"], ["HSETNX", "a", 1],
])
def test_every_command_refuses_another_type(c, command):
    assert err(c(command[0], "str", *command[1:])) == WRONGTYPE


def test_reads_on_a_hash(c):
    c("HSET", "h", "a", "hello", "b", "")
    assert c("HGET", "h", "a") == b"hello"
    assert c("HLEN", "h") == 2
    assert c("HSTRLEN", "h", "a") == 5
    assert c("HSTRLEN", "h", "b") == 0
    assert c("HSTRLEN", "h", "nope") == 0
    assert c("HEXISTS", "h", "b") == 1
    assert c("HEXISTS", "h", "nope") == 0
    assert c("HKEYS", "h") == [b"a", b"b"]
    assert c("HVALS", "h") == [b"hello", b""]


def test_hgetall_is_a_map_in_resp3(srv):
    c = srv.client()
    c("HSET", "h", "a", 1, "b", 2)
    c("HELLO", 3)
    c.send(b"*2\r\n$7\r\nHGETALL\r\n$1\r\nh\r\n")
    assert bytes(c.transport.written).endswith(b"%2\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n")


# -- HINCRBY / HINCRBYFLOAT ------------------------------------------------------------------------

def test_hincrby(c, events):
    assert c("HINCRBY", "h", "n", 5) == 5
    assert c("HINCRBY", "h", "n", -7) == -2
    assert c("HINCRBY", "h", "big", INT64_MAX) == 2**63 - 1
    assert c("HINCRBY", "h", "small", INT64_MIN) == -(2**63)
    assert c("HGET", "h", "n") == b"-2"
    assert events[-1] == (b"hincrby", b"h")


@pytest.mark.parametrize(("stored", "incr", "error"), [
    (None, "x", NOT_INTEGER), (None, "1.5", NOT_INTEGER), ("text", 1, "ERR hash value is not an integer"),
    (" 1", 1, "ERR hash value is not an integer"), ("1.0", 1, "ERR hash value is not an integer"),
    (INT64_MAX, 1, "ERR increment or decrement would overflow"),
    (INT64_MIN, -1, "ERR increment or decrement would overflow"),
    ("1", "9223372036854775808", NOT_INTEGER),
])
def test_hincrby_errors(c, effects, stored, incr, error):
    if stored is not None:
        c("HSET", "h", "f", stored)
    assert err(c("HINCRBY", "h", "f", incr)) == error
    assert len(effects) == (stored is not None)


def test_hincrby_parses_the_increment_before_the_key(c):
    assert err(c("HINCRBY", "str", "f", "x")) == NOT_INTEGER


@pytest.mark.parametrize(("start", "incr", "result"), [
    (None, "0.1", b"0.1"), ("1.5", "0.1", b"1.6"), ("10", "-10", b"0"), (None, "1e20", b"100000000000000000000"),
    ("5", "0x10", b"21"), (None, "3", b"3"), ("1", "1e-20", b"1"), ("-1", "0.5", b"-0.5"),
])
def test_hincrbyfloat_results(c, start, incr, result):
    if start is not None:
        c("HSET", "h", "f", start)
    assert c("HINCRBYFLOAT", "h", "f", incr) == result
    assert c("HGET", "h", "f") == result


@pytest.mark.parametrize(("stored", "incr", "error"), [
    (None, "x", NOT_FLOAT), (None, "nan", NOT_FLOAT), (None, "", NOT_FLOAT), (None, "1e5000", NOT_FLOAT),
    (None, "inf", "ERR value is NaN or Infinity"), (None, "-inf", "ERR value is NaN or Infinity"),
    ("text", "1", "ERR hash value is not a float"), (" 1", "1", "ERR hash value is not a float"),
    ("inf", "1", "ERR increment would produce NaN or Infinity"),
    ("1e4932", "1e4932", "ERR increment would produce NaN or Infinity"),
])
def test_hincrbyfloat_errors(c, stored, incr, error):
    if stored is not None:
        c("HSET", "h", "f", stored)
    assert err(c("HINCRBYFLOAT", "h", "f", incr)) == error


def test_hincrbyfloat_checks_the_increment_before_the_type(c):
    assert err(c("HINCRBYFLOAT", "str", "f", "inf")) == "ERR value is NaN or Infinity"
    assert err(c("HINCRBYFLOAT", "str", "f", "x")) == NOT_FLOAT


def test_hincrbyfloat_is_propagated_as_hset_of_the_result(c, effects, events):
    c("HSET", "h", "f", "1.5")
    c("HINCRBYFLOAT", "h", "f", "0.1")
    assert effects == [[b"HSET", b"h", b"f", b"1.5"], [b"HSET", b"h", b"f", b"1.6"]]
    assert events[-1] == (b"hincrbyfloat", b"h")


# -- encodings -------------------------------------------------------------------------------------

def test_a_long_field_or_value_converts_to_hashtable_for_good(c):
    c("HSET", "h", "a", 1)
    c("HSET", "h", "a", 1, "b", LONG)
    assert encoding(c) == b"hashtable"
    c("HDEL", "h", "b")
    assert encoding(c) == b"hashtable"
    c("HSET", "h2", LONG, 1)
    assert encoding(c, "h2") == b"hashtable"
    c("HSET", "h3", "a", "x" * 64)
    assert encoding(c, "h3") == b"listpack"


def test_hsetnx_on_an_existing_field_does_not_convert(c):
    c("HSET", "h", "a", 1)
    c("HSETNX", "h", "a", LONG)
    assert encoding(c) == b"listpack"
    c("HSETNX", "h", "b", LONG)
    assert encoding(c) == b"hashtable"


@pytest.mark.parametrize("command", [["HINCRBY", LONG, 1], ["HINCRBYFLOAT", LONG, 1]])
def test_increments_with_a_long_field_convert(c, command):
    c(command[0], "h", *command[1:])
    assert encoding(c) == b"hashtable"


def test_more_fields_than_the_listpack_limit_convert(c):
    c("CONFIG", "SET", "hash-max-listpack-entries", 2)
    c("HSET", "h", "a", 1, "b", 2)
    assert encoding(c) == b"listpack"
    c("HSET", "h", "c", 3)
    assert encoding(c) == b"hashtable"
    c("HDEL", "h", "c")
    assert encoding(c) == b"hashtable"
    c("CONFIG", "SET", "hash-max-listpack-entries", 0)
    c("HSETNX", "h0", "a", 1)
    assert encoding(c, "h0") == b"hashtable"


# -- HRANDFIELD ------------------------------------------------------------------------------------

def test_hrandfield_single_and_missing(c):
    c("HSET", "h", "a", 1, "b", 2)
    assert c("HRANDFIELD", "h") in (b"a", b"b")
    assert c("HRANDFIELD", "missing") is None
    assert c("HRANDFIELD", "missing", 5) == []
    assert c("HRANDFIELD", "missing", 5, "WITHVALUES") == []


def test_hrandfield_counts(c):
    fields = {f"f{i}".encode(): f"v{i}".encode() for i in range(10)}
    c("HSET", "h", *[x for pair in fields.items() for x in pair])
    assert c("HRANDFIELD", "h", 0) == []
    assert c("HRANDFIELD", "h", 100) == list(fields)
    some = c("HRANDFIELD", "h", 4)
    assert len(set(some)) == 4 and set(some) <= set(fields)
    repeats = c("HRANDFIELD", "h", -50)
    assert len(repeats) == 50 and set(repeats) <= set(fields)
    flat = c("HRANDFIELD", "h", -6, "withvalues")
    assert len(flat) == 12
    assert all(fields[f] == v for f, v in zip(flat[::2], flat[1::2], strict=True))


def test_hrandfield_negative_count_draws_every_field_eventually(c):
    c("HSET", "h", "a", 1, "b", 2, "c", 3)
    seen = Counter(c("HRANDFIELD", "h", -3000))
    assert set(seen) == {b"a", b"b", b"c"}
    assert min(seen.values()) > 800


def test_hrandfield_withvalues_is_pairs_in_resp3(srv):
    c = srv.client()
    c("HSET", "h", "a", 1)
    c("HELLO", 3)
    c.transport.written.clear()
    c.send(b"*4\r\n$10\r\nHRANDFIELD\r\n$1\r\nh\r\n$1\r\n5\r\n$10\r\nWITHVALUES\r\n")
    assert bytes(c.transport.written) == b"*1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n"


@pytest.mark.parametrize(("args", "error"), [
    (["x"], NOT_INTEGER),
    ([INT64_MIN], "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"),
    (["-4611686018427387904", "WITHVALUES"], "ERR value is out of range"),
    (["4611686018427387904", "WITHVALUES"], "ERR value is out of range"),
    (["1", "WITHVALUES", "extra"], SYNTAX),
    (["1", "foo"], SYNTAX),
])
def test_hrandfield_errors_come_before_the_key(c, args, error):
    assert err(c("HRANDFIELD", "missing", *args)) == error
    assert err(c("HRANDFIELD", "str", *args)) == error


def test_hrandfield_refuses_a_huge_number_of_repeats(c):
    # Redis would try to build the reply and run out of memory; emberkv refuses past 2**24.
    c("HSET", "h", "a", 1)
    assert err(c("HRANDFIELD", "h", "-100000000")) == "ERR value is out of range"
    assert c("HRANDFIELD", "missing", "-100000000") == []
    assert err(c("HRANDFIELD", "str", "-100000000")) == WRONGTYPE


# -- HSCAN -----------------------------------------------------------------------------------------

def test_hscan_answers_a_listpack_whole_with_cursor_zero(c):
    c("HSET", "h", "a", 1, "b", 2, "ab", 3)
    assert c("HSCAN", "h", 0) == [b"0", [b"a", b"1", b"b", b"2", b"ab", b"3"]]
    assert c("HSCAN", "h", 5, "COUNT", 1) == [b"0", [b"a", b"1", b"b", b"2", b"ab", b"3"]]
    assert c("HSCAN", "h", 0, "MATCH", "a*") == [b"0", [b"a", b"1", b"ab", b"3"]]


def test_hscan_walks_a_hashtable_with_the_cursor(c):
    fields = {f"field:{i}".encode(): b"%d" % i for i in range(600)}
    c("HSET", "h", *[x for pair in fields.items() for x in pair])
    assert encoding(c) == b"hashtable"
    seen: dict[bytes, bytes] = {}
    cursor = b"0"
    while True:
        cursor, flat = c("HSCAN", "h", cursor, "COUNT", 50)
        assert len(flat) <= 100
        seen.update(zip(flat[::2], flat[1::2], strict=True))
        if cursor == b"0":
            break
    assert seen == fields


def test_hscan_errors(c):
    c("HSET", "h", "a", 1)
    assert c("HSCAN", "missing", 0) == [b"0", []]
    assert c("HSCAN", "missing", 0, "COUNT", 0) == [b"0", []]
    assert err(c("HSCAN", "h", "x")) == "ERR invalid cursor"
    assert err(c("HSCAN", "missing", "x")) == "ERR invalid cursor"
    assert err(c("HSCAN", "h", "18446744073709551616")) == "ERR invalid cursor"
    assert err(c("HSCAN", "h", 0, "COUNT", 0)) == SYNTAX
    assert err(c("HSCAN", "h", 0, "COUNT", "x")) == NOT_INTEGER
    assert err(c("HSCAN", "h", 0, "MATCH")) == SYNTAX
    assert err(c("HSCAN", "h", 0, "TYPE", "string")) == SYNTAX
