"""String commands through the real dispatcher (in-process): replies, error texts, encodings,
TTL handling, propagation (``c.propagate_as``) and keyspace events. Expected values were taken from
redis-server 7.0.15."""

from __future__ import annotations

import time

import pytest

from emberkv.keyspace.db import NOTIFY_EXPIRED, NOTIFY_GENERIC, NOTIFY_STRING
from emberkv.keyspace.values import ListValue
from tests.inproc import InProcessServer, err, record_events

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
NOT_INTEGER = "ERR value is not an integer or out of range"
NOT_FLOAT = "ERR value is not a valid float"
SYNTAX = "ERR syntax error"
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


@pytest.fixture
def c(srv):
    client = srv.client()
    # A list at "list" for the wrong-type checks (set directly: list commands live elsewhere).
    ks = srv.server.keyspace
    ks.add_key(ks.dbs[0], b"list", ListValue([b"x"]))
    return client


@pytest.fixture
def events(srv):
    return record_events(srv, NOTIFY_STRING | NOTIFY_GENERIC | NOTIFY_EXPIRED)


def now_ms() -> int:
    return int(time.time() * 1000)


# -- GET / SET -----------------------------------------------------------------------------------


def test_set_then_get_round_trips_binary_values(c):
    assert c("SET", "k", b"\x00\xff\r\n") == b"OK"
    assert c("GET", "k") == b"\x00\xff\r\n"
    assert c("GET", "missing") is None


def test_get_of_a_list_is_wrongtype(c):
    assert err(c("GET", "list")) == WRONGTYPE


def test_set_overwrites_other_types_and_drops_the_ttl(c):
    c("SET", "k", "v", "EX", "100")
    assert c("SET", "k", "w") == b"OK"
    assert c("TTL", "k") == -1
    assert c("SET", "list", "v") == b"OK"
    assert c("TYPE", "list") == b"string"


@pytest.mark.parametrize("options", [
    ["NX", "XX"], ["XX", "NX"], ["EX", "10", "PX", "10"], ["PX", "10", "PXAT", "10"],
    ["KEEPTTL", "EX", "10"], ["EX", "10", "KEEPTTL"], ["EX"], ["EX", "10", "EX"], ["FOO"],
    ["PERSIST"],
])
def test_set_refuses_conflicting_or_incomplete_options(c, options):
    assert err(c("SET", "k", "v", *options)) == SYNTAX


@pytest.mark.parametrize("options", [
    ["EX", "0"], ["PX", "-1"], ["EXAT", "0"], ["PXAT", "-5"], ["EX", "9223372036854775"],
    ["EX", "9223372036854776"], ["PX", str(INT64_MAX)], ["EXAT", str(INT64_MAX)],
    ["EX", str(INT64_MIN)],
])
def test_set_refuses_invalid_expire_times(c, options):
    assert err(c("SET", "k", "v", *options)) == "ERR invalid expire time in 'set' command"


def test_set_expire_must_be_an_integer_even_when_it_looks_like_an_option(c):
    assert err(c("SET", "k", "v", "EX", "abc")) == NOT_INTEGER
    assert err(c("SET", "k", "v", "EX", "NX")) == NOT_INTEGER


def test_set_accepts_repeated_options_and_the_last_expire_wins(c):
    assert c("SET", "k", "v", "EX", "100", "ex", "200", "nx", "NX") == b"OK"
    assert c("TTL", "k") == 200
    assert c("SET", "k", "v", "KEEPTTL", "KEEPTTL") == b"OK"
    assert c("TTL", "k") == 200


def test_set_pxat_far_future_is_kept_exactly(c):
    assert c("SET", "k", "v", "PXAT", str(INT64_MAX)) == b"OK"
    assert c("PEXPIRETIME", "k") == INT64_MAX


def test_set_nx_and_xx(c):
    assert c("SET", "k", "v", "XX") is None
    assert c("SET", "k", "v", "NX") == b"OK"
    assert c("SET", "k", "w", "NX") is None
    assert c("SET", "k", "w", "XX") == b"OK"
    assert c("GET", "k") == b"w"


def test_set_get_returns_old_value_and_with_nx_does_not_write(c):
    assert c("SET", "k", "v", "GET") is None
    assert c("SET", "k", "w", "GET", "NX") == b"v"
    assert c("GET", "k") == b"v"
    assert c("SET", "k", "w", "GET", "XX") == b"v"
    assert err(c("SET", "list", "v", "GET")) == WRONGTYPE
    assert err(c("SET", "list", "v", "NX", "GET")) == WRONGTYPE


def test_set_checks_the_expire_before_the_type_of_the_old_value(c):
    assert err(c("SET", "list", "v", "GET", "EX", "abc")) == NOT_INTEGER
    assert err(c("SET", "list", "v", "GET", "EX", "0")) == "ERR invalid expire time in 'set' command"


def test_set_keepttl_keeps_the_deadline(c):
    c("SET", "k", "v", "PXAT", str(now_ms() + 100_000))
    deadline = c("PEXPIRETIME", "k")
    assert c("SET", "k", "w", "KEEPTTL") == b"OK"
    assert c("PEXPIRETIME", "k") == deadline


def test_set_with_exat_in_the_past_leaves_an_expired_key(c):
    assert c("SET", "k", "v", "EXAT", "1") == b"OK"
    assert c("GET", "k") is None
    assert c("EXISTS", "k") == 0


def test_set_replaces_an_expired_key_with_an_expired_event(c, srv, events):
    c("SET", "k", "v", "PXAT", "1")
    events.clear()
    c("SET", "k", "new")
    assert events == [(b"expired", b"k"), (b"set", b"k")]
    assert c("GET", "k") == b"new"


def test_setnx_setex_psetex(c):
    assert c("SETNX", "k", "v") == 1
    assert c("SETNX", "k", "w") == 0
    assert c("SETNX", "list", "w") == 0
    assert c("SETEX", "e", "100", "v") == b"OK"
    assert c("TTL", "e") == 100
    assert c("PSETEX", "p", "100000", "v") == b"OK"
    assert 99_000 < c("PTTL", "p") <= 100_000
    assert c("SETEX", "list", "100", "v") == b"OK"


@pytest.mark.parametrize("cmd,ttl,error", [
    ("SETEX", "0", "ERR invalid expire time in 'setex' command"),
    ("SETEX", "-1", "ERR invalid expire time in 'setex' command"),
    ("SETEX", "9223372036854775", "ERR invalid expire time in 'setex' command"),
    ("SETEX", "abc", NOT_INTEGER),
    ("SETEX", "9223372036854775808", NOT_INTEGER),
    ("PSETEX", "0", "ERR invalid expire time in 'psetex' command"),
    ("PSETEX", str(INT64_MAX), "ERR invalid expire time in 'psetex' command"),
    ("PSETEX", str(INT64_MIN), "ERR invalid expire time in 'psetex' command"),
])
def test_setex_and_psetex_errors(c, cmd, ttl, error):
    assert err(c(cmd, "k", ttl, "v")) == error
    assert c("EXISTS", "k") == 0


def test_wrong_arity(c):
    assert err(c("GET")) == "ERR wrong number of arguments for 'get' command"
    assert err(c("SET", "k")) == "ERR wrong number of arguments for 'set' command"
    assert err(c("MSET", "a")) == "ERR wrong number of arguments for 'mset' command"
    assert err(c("MSET", "a", "1", "b")) == "ERR wrong number of arguments for 'mset' command"
    assert err(c("MSETNX", "a", "1", "b")) == "ERR wrong number of arguments for 'msetnx' command"
    assert err(c("SETEX", "k", "1")) == "ERR wrong number of arguments for 'setex' command"


# -- GETSET / GETDEL / GETEX ---------------------------------------------------------------------


def test_getset_returns_old_value_and_drops_ttl(c):
    assert c("GETSET", "k", "a") is None
    c("EXPIRE", "k", "100")
    assert c("GETSET", "k", "b") == b"a"
    assert c("TTL", "k") == -1
    assert err(c("GETSET", "list", "x")) == WRONGTYPE
    assert c("TYPE", "list") == b"list"


def test_getdel(c):
    c("SET", "k", "v")
    assert c("GETDEL", "k") == b"v"
    assert c("GETDEL", "k") is None
    assert err(c("GETDEL", "list")) == WRONGTYPE


def test_getex_sets_and_removes_ttls(c):
    c("SET", "k", "v")
    assert c("GETEX", "k") == b"v"
    assert c("TTL", "k") == -1
    assert c("GETEX", "k", "EX", "100") == b"v"
    assert c("TTL", "k") == 100
    assert c("GETEX", "k", "PXAT", str(INT64_MAX)) == b"v"
    assert c("PEXPIRETIME", "k") == INT64_MAX
    assert c("GETEX", "k", "PERSIST", "PERSIST") == b"v"
    assert c("TTL", "k") == -1
    assert c("GETEX", "k", "EXAT", "1") == b"v"
    assert c("EXISTS", "k") == 0


@pytest.mark.parametrize("options", [
    ["KEEPTTL"], ["NX"], ["GET"], ["EX"], ["EX", "10", "PX", "10"], ["EX", "10", "PERSIST"],
    ["PERSIST", "EX", "10"], ["FOO"],
])
def test_getex_syntax_errors_come_first(c, options):
    assert err(c("GETEX", "missing", *options)) == SYNTAX
    assert err(c("GETEX", "list", *options)) == SYNTAX


def test_getex_checks_the_key_before_the_expire_value(c):
    assert c("GETEX", "missing", "EX", "abc") is None
    assert err(c("GETEX", "list", "EX", "abc")) == WRONGTYPE
    c("SET", "k", "v")
    assert err(c("GETEX", "k", "EX", "abc")) == NOT_INTEGER
    for options in (["EX", "0"], ["EX", "-1"], ["EXAT", "9223372036854776"], ["PX", str(INT64_MAX)]):
        assert err(c("GETEX", "k", *options)) == "ERR invalid expire time in 'getex' command"


# -- several keys --------------------------------------------------------------------------------


def test_mget_answers_null_for_missing_and_other_types(c):
    c("MSET", "a", "1", "b", "2", "a", "3")
    assert c("MGET", "a", "list", "nope", "b") == [b"3", None, None, b"2"]


def test_msetnx_is_all_or_nothing(c):
    assert c("MSETNX", "x", "1", "x", "2") == 1
    assert c("GET", "x") == b"2"
    assert c("MSETNX", "y", "1", "list", "2") == 0
    assert c("EXISTS", "y") == 0


# -- APPEND / STRLEN / GETRANGE / SETRANGE -------------------------------------------------------


def test_append_creates_extends_and_keeps_ttl(c):
    assert c("APPEND", "k", "ab") == 2
    c("EXPIRE", "k", "100")
    assert c("APPEND", "k", "cd") == 4
    assert c("GET", "k") == b"abcd"
    assert c("TTL", "k") == 100
    assert err(c("APPEND", "list", "x")) == WRONGTYPE


def test_append_and_setrange_refuse_strings_beyond_proto_max_bulk_len():
    srv = InProcessServer("--proto-max-bulk-len", "1mb")
    c = srv.client()
    limit = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
    assert err(c("SETRANGE", "k", str(1024 * 1024), "a")) == limit
    assert c("SETRANGE", "k", str(1024 * 1024 - 1), "a") == 1024 * 1024
    assert err(c("APPEND", "k", "a")) == limit
    assert c("SETRANGE", "k", "5000000", "") == 1024 * 1024
    srv.close()


def test_strlen(c):
    c("SET", "k", "12345")
    assert c("STRLEN", "k") == 5
    assert c("STRLEN", "missing") == 0
    assert err(c("STRLEN", "list")) == WRONGTYPE


@pytest.mark.parametrize("start,end,expected", [
    (0, -1, b"Hello World"), (-3, -1, b"rld"), (5, 3, b""), (-100, -50, b"H"), (-100, 2, b"Hel"),
    (100, 200, b""), (3, 100, b"lo World"), (-1, -5, b""), (0, -100, b"H"), (-50, -100, b""),
    (INT64_MIN, INT64_MAX, b"Hello World"), (0, INT64_MAX, b"Hello World"),
])
def test_getrange_clamps_like_redis(c, start, end, expected):
    c("SET", "s", "Hello World")
    assert c("GETRANGE", "s", start, end) == expected
    assert c("SUBSTR", "s", start, end) == expected


def test_getrange_errors_and_empty_cases(c):
    assert c("GETRANGE", "missing", "0", "-1") == b""
    c("SET", "e", "")
    assert c("GETRANGE", "e", "0", "-1") == b""
    assert err(c("GETRANGE", "list", "0", "1")) == WRONGTYPE
    assert err(c("GETRANGE", "list", "a", "1")) == NOT_INTEGER
    assert err(c("GETRANGE", "missing", "0", "b")) == NOT_INTEGER


def test_setrange_pads_overwrites_and_keeps_ttl(c):
    assert c("SETRANGE", "k", "3", "ab") == 5
    assert c("GET", "k") == b"\x00\x00\x00ab"
    c("EXPIRE", "k", "100")
    assert c("SETRANGE", "k", "1", "XYZW") == 5
    assert c("GET", "k") == b"\x00XYZW"
    assert c("SETRANGE", "k", "7", "!") == 8
    assert c("GET", "k") == b"\x00XYZW\x00\x00!"
    assert c("TTL", "k") == 100


def test_setrange_edge_cases(c):
    assert c("SETRANGE", "missing", "0", "") == 0
    assert c("EXISTS", "missing") == 0
    c("SET", "k", "abc")
    assert c("SETRANGE", "k", "100", "") == 3
    assert err(c("SETRANGE", "k", "-1", "x")) == "ERR offset is out of range"
    assert err(c("SETRANGE", "list", "-1", "x")) == "ERR offset is out of range"
    assert err(c("SETRANGE", "list", "0", "x")) == WRONGTYPE
    assert err(c("SETRANGE", "list", "a", "x")) == NOT_INTEGER
    assert err(c("SETRANGE", "k", str(2**29), "x")) == (
        "ERR string exceeds maximum allowed size (proto-max-bulk-len)")


# -- encodings -----------------------------------------------------------------------------------


@pytest.mark.parametrize("commands,expected", [
    ([("SET", "k", "12345")], b"int"),
    ([("SET", "k", "-9223372036854775808")], b"int"),
    ([("SET", "k", "9223372036854775808")], b"embstr"),
    ([("SET", "k", "007")], b"embstr"),
    ([("SET", "k", "x" * 44)], b"embstr"),
    ([("SET", "k", "x" * 45)], b"raw"),
    ([("APPEND", "k", "123")], b"int"),
    ([("APPEND", "k", "x" * 50)], b"raw"),
    ([("SET", "k", "abc"), ("APPEND", "k", "")], b"raw"),
    ([("SET", "k", "12"), ("SETRANGE", "k", "0", "3")], b"raw"),
    ([("SET", "k", "12"), ("SETRANGE", "k", "0", "")], b"int"),
    ([("SETRANGE", "k", "0", "12")], b"raw"),
    ([("SET", "k", "abc"), ("GETRANGE", "k", "0", "1")], b"embstr"),
    ([("SET", "k", "5"), ("INCR", "k")], b"int"),
    ([("SET", "k", "1"), ("GETSET", "k", "2")], b"int"),
    ([("SET", "k", "2"), ("GETEX", "k", "EX", "100")], b"int"),
    ([("MSET", "k", "5")], b"int"),
    ([("SETEX", "k", "100", "5")], b"int"),
    ([("INCRBYFLOAT", "k", "1.5")], b"embstr"),
])
def test_object_encoding_follows_redis(c, commands, expected):
    for command in commands:
        c(*command)
    assert c("OBJECT", "ENCODING", "k") == expected


# -- propagation and events ----------------------------------------------------------------------


def test_set_with_relative_expire_is_propagated_with_an_absolute_time(c):
    before = now_ms()
    c("SET", "k", "v", "NX", "EX", "100")
    (effect,) = c.conn.propagate_as
    assert effect[:4] == [b"SET", b"k", b"v", b"PXAT"]
    assert before + 100_000 <= int(effect[4]) <= now_ms() + 100_000


def test_set_get_is_propagated_without_the_get(c):
    c("SET", "k", "v", "get", "KEEPTTL", "GET")
    assert c.conn.propagate_as == [[b"SET", b"k", b"v", b"KEEPTTL"]]
    c("SET", "k", "v")
    assert c.conn.propagate_as is None


@pytest.mark.parametrize("command,expected", [
    (("SETEX", "k", "100", "v"), [b"SET", b"k", b"v", b"PXAT"]),
    (("PSETEX", "k", "100000", "v"), [b"SET", b"k", b"v", b"PXAT"]),
    (("GETEX", "k", "EX", "100"), [b"PEXPIREAT", b"k"]),
])
def test_relative_times_become_absolute(c, command, expected):
    c("SET", "k", "old")
    c(*command)
    (effect,) = c.conn.propagate_as
    assert effect[:-1] == expected
    assert abs(int(effect[-1]) - (now_ms() + 100_000)) < 5_000


@pytest.mark.parametrize("command,expected", [
    (("GETSET", "k", "new"), [[b"SET", b"k", b"new"]]),
    (("GETDEL", "k"), [[b"DEL", b"k"]]),
    (("GETEX", "k", "EXAT", "1"), [[b"DEL", b"k"]]),
    (("GETEX", "k", "PERSIST"), [[b"PERSIST", b"k"]]),
    (("GETEX", "k", "PXAT", "99999999999999"), [[b"PEXPIREAT", b"k", b"99999999999999"]]),
    (("INCRBYFLOAT", "k", "0.5"), [[b"SET", b"k", b"2", b"KEEPTTL"]]),
])
def test_rewritten_commands_propagate_their_effects(c, command, expected):
    c("SET", "k", "1.5", "EX", "100")
    c(*command)
    assert c.conn.propagate_as == expected


def test_lazyfree_options_turn_the_dels_into_unlinks():
    srv = InProcessServer("--lazyfree-lazy-user-del", "yes", "--lazyfree-lazy-expire", "yes")
    c = srv.client()
    c("MSET", "a", "1", "b", "2")
    c("GETDEL", "a")
    assert c.conn.propagate_as == [[b"UNLINK", b"a"]]
    c("GETEX", "b", "PXAT", "1")
    assert c.conn.propagate_as == [[b"UNLINK", b"b"]]
    srv.close()


def test_getex_persist_without_ttl_changes_nothing(c, srv):
    c("SET", "k", "v")
    dirty = srv.server.keyspace.dirty
    assert c("GETEX", "k", "PERSIST") == b"v"
    assert srv.server.keyspace.dirty == dirty


@pytest.mark.parametrize("command,expected", [
    (("SET", "k", "v", "EX", "100"), [(b"set", b"k"), (b"expire", b"k")]),
    (("SETEX", "k", "100", "v"), [(b"set", b"k"), (b"expire", b"k")]),
    (("GETSET", "k", "v"), [(b"set", b"k")]),
    (("GETDEL", "k"), [(b"del", b"k")]),
    (("GETEX", "k", "EXAT", "1"), [(b"del", b"k")]),
    (("GETEX", "k", "EX", "100"), [(b"expire", b"k")]),
    (("GETEX", "k", "PERSIST"), [(b"persist", b"k")]),
    (("APPEND", "k", "x"), [(b"append", b"k")]),
    (("SETRANGE", "k", "0", "x"), [(b"setrange", b"k")]),
    (("SETRANGE", "k", "0", ""), []),
    (("INCR", "k"), [(b"incrby", b"k")]),
    (("DECRBY", "k", "2"), [(b"incrby", b"k")]),
    (("INCRBYFLOAT", "k", "1"), [(b"incrbyfloat", b"k")]),
    (("MSET", "k", "1", "j", "2"), [(b"set", b"k"), (b"set", b"j")]),
    (("SET", "k", "v", "NX"), []),
])
def test_keyspace_events(c, events, command, expected):
    c("SET", "k", "1", "EX", "100")
    events.clear()
    c(*command)
    assert events == expected
