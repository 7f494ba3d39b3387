"""SORT and SORT_RO through the real dispatcher (in-process). Lists, sets and hashes are placed in
the keyspace directly, so these tests do not depend on the list, set and hash commands. Expected
values were taken from redis-server 7.0.15."""

from __future__ import annotations

import pytest

from emberkv.keyspace.db import NOTIFY_GENERIC, NOTIFY_LIST
from emberkv.keyspace.values import HashValue, ListValue, SetValue
from tests.inproc import err

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
NOT_INTEGER = "ERR value is not an integer or out of range"
SYNTAX = "ERR syntax error"
NOT_DOUBLE = "ERR One or more scores can't be converted into double"


@pytest.fixture
def put(srv):
    ks = srv.server.keyspace

    def put(key: str, value) -> None:
        ks.set_key(ks.dbs[0], key.encode(), value)

    return put


@pytest.fixture
def c(srv, put):
    put("l", ListValue([b"3", b"1", b"2", b"10"]))
    return srv.client()


def int_set(*members: int) -> SetValue:
    return SetValue(str(m).encode() for m in members)


def word_set(*members: str) -> SetValue:
    value = SetValue(m.encode() for m in members)
    value.big = True  # not all integers: a hash table, as Redis would hold it
    return value


# -- ordering --------------------------------------------------------------------------------------

def test_sort_numeric_alpha_desc(c):
    assert c("SORT", "l") == [b"1", b"2", b"3", b"10"]
    assert c("SORT", "l", "DESC") == [b"10", b"3", b"2", b"1"]
    assert c("SORT", "l", "ALPHA") == [b"1", b"10", b"2", b"3"]
    assert c("SORT", "l", "ALPHA", "DESC", "ASC") == [b"1", b"10", b"2", b"3"]


def test_numeric_ties_fall_back_to_byte_order(c, put):
    put("q", ListValue([b"1", b"01", b"1.0", b"+1", b"-0", b"0"]))
    assert c("SORT", "q") == [b"-0", b"0", b"+1", b"01", b"1", b"1.0"]
    assert c("SORT", "q", "DESC") == [b"1.0", b"1", b"01", b"+1", b"0", b"-0"]


def test_numbers_are_read_as_strtod_reads_them(c, put):
    put("q", ListValue([b" 1", b"", b"0x10", b"inf", b"-inf", b"1e-300", b"2"]))
    assert c("SORT", "q") == [b"-inf", b"", b"1e-300", b" 1", b"2", b"0x10", b"inf"]


@pytest.mark.parametrize("bad", [b"a", b"1.5 ", b"nan", b"1e400", b"1e-400"])
def test_elements_that_are_not_numbers_fail_numeric_sort(c, put, bad):
    put("q", ListValue([b"1", bad]))
    assert err(c("SORT", "q")) == NOT_DOUBLE
    assert c("SORT", "q", "ALPHA") == sorted([b"1", bad])


def test_sort_of_sets_and_sorted_sets(c, put):
    put("s", int_set(3, 1, 2))
    assert c("SORT", "s", "DESC") == [b"3", b"2", b"1"]
    c("ZADD", "z", 1, "30", 2, "10", 3, "20")
    assert c("SORT", "z") == [b"10", b"20", b"30"]
    assert c("SORT", "z", "BY", "nosort") == [b"30", b"10", b"20"]
    assert c("SORT", "z", "BY", "nosort", "DESC", "LIMIT", 0, 2) == [b"20", b"10"]
    assert c("SORT", "z", "BY", "nosort", "LIMIT", 1, 1) == [b"10"]


def test_sorting_a_sorted_set_converts_its_encoding(c):
    c("ZADD", "z", 1, "3", 2, "1")
    assert c("OBJECT", "ENCODING", "z") == b"listpack"
    assert c("SORT_RO", "z") == [b"1", b"3"]
    assert c("OBJECT", "ENCODING", "z") == b"skiplist"


def test_missing_key_sorts_as_empty_list(c):
    assert c("SORT", "nokey") == []
    assert c("SORT", "nokey", "BY", "nosort", "DESC", "LIMIT", 0, 5) == []


# -- BY nosort and LIMIT --------------------------------------------------------------------------

def test_by_without_star_keeps_list_order(c):
    assert c("SORT", "l", "BY", "nosort") == [b"3", b"1", b"2", b"10"]
    assert c("SORT", "l", "BY", "nosort", "DESC") == [b"10", b"2", b"1", b"3"]
    assert c("SORT", "l", "BY", "nosort", "LIMIT", 1, 2, "DESC") == [b"2", b"1"]
    assert c("SORT", "l", "BY", "nosort", "LIMIT", 1, 2) == [b"1", b"2"]
    assert c("SORT", "l", "BY", "nosort", "LIMIT", 5, 2) == []
    assert c("SORT", "l", "BY", "nosort", "LIMIT", -1, 2) == [b"3", b"1"]


def test_a_later_by_does_not_bring_sorting_back(c, put):
    put("l2", ListValue([b"B", b"a", b"A", b"b"]))
    assert c("SORT", "l2", "BY", "nosort", "BY", "w_*", "GET", "#") == [b"B", b"a", b"A", b"b"]
    assert c("SORT", "l2", "BY", "w_*", "BY", "nosort") == [b"B", b"a", b"A", b"b"]


def test_unsorted_set_keeps_intset_order_and_ignores_desc(c, put):
    put("s", int_set(3, 1, 2))
    assert c("SORT", "s", "BY", "nosort", "DESC") == [b"1", b"2", b"3"]


def test_unsorted_set_is_sorted_alpha_when_stored(c, put):
    put("s", word_set("b", "a", "c"))
    assert c("SORT", "s", "BY", "nosort", "STORE", "x") == 3
    assert c("SORT", "x", "BY", "nosort") == [b"a", b"b", b"c"]
    assert c("SORT", "s", "BY", "nosort", "DESC", "STORE", "x") == 3
    assert c("SORT", "x", "BY", "nosort") == [b"c", b"b", b"a"]


def test_limit_clamps(c):
    assert c("SORT", "l", "LIMIT", 1, 2) == [b"2", b"3"]
    assert c("SORT", "l", "LIMIT", -5, 2) == [b"1", b"2"]
    assert c("SORT", "l", "LIMIT", 2, -1) == [b"3", b"10"]
    assert c("SORT", "l", "LIMIT", 10, 2) == []
    assert c("SORT", "l", "LIMIT", 0, 0) == []


# -- BY and GET patterns ------------------------------------------------------------------------------

def test_by_pattern_weights(c):
    c("SET", "w_3", 30)
    c("SET", "w_1", 10)
    c("SET", "w_2", 20)
    assert c("SORT", "l", "BY", "w_*") == [b"10", b"1", b"2", b"3"]  # w_10 missing: weight 0
    c("SET", "w_2", "abc")
    assert err(c("SORT", "l", "BY", "w_*")) == NOT_DOUBLE
    assert c("SORT", "l", "BY", "w_*", "ALPHA") == [b"10", b"1", b"3", b"2"]


def test_get_patterns_and_hash_fields(c, put):
    c("SET", "w_3", 30)
    c("SET", "w_1", 10)
    put("h_1", HashValue({b"f": b"x"}))
    assert c("SORT", "l", "GET", "w_*", "GET", "#") == [
        b"10", b"1", None, b"2", b"30", b"3", None, b"10"]
    assert c("SORT", "l", "BY", "h_*->f", "ALPHA", "GET", "h_*->f", "GET", "#", "GET", "h_*->") == [
        None, b"3", None, None, b"2", None, None, b"10", None, b"x", b"1", None]
    assert c("SORT", "l", "GET", "nopattern", "LIMIT", 0, 1) == [None]


def test_get_of_a_key_with_another_type_is_null(c, put):
    put("w_1", ListValue([b"x"]))
    put("h_1", ListValue([b"x"]))
    assert c("SORT", "l", "GET", "w_*", "GET", "h_*->f", "LIMIT", 0, 1) == [None, None]


def test_alpha_by_with_missing_keys_sorts_them_first(c, put):
    put("l2", ListValue([b"B", b"a", b"A", b"b"]))
    c("SET", "w_a", 5)
    c("SET", "w_b", 5)
    c("SET", "w_A", 1)
    assert c("SORT", "l2", "BY", "w_*", "ALPHA") == [b"B", b"A", b"a", b"b"]
    assert c("SORT", "l2", "BY", "w_*") == [b"B", b"A", b"a", b"b"]
    assert c("SORT", "l2", "BY", "w_*", "DESC") == [b"b", b"a", b"A", b"B"]


# -- STORE ------------------------------------------------------------------------------------------

def test_store_writes_a_list_and_notifies(srv, c):
    seen = []
    ks = srv.server.keyspace
    ks.notify_flags = NOTIFY_LIST | NOTIFY_GENERIC
    ks.notifier = lambda cls, event, db, key: seen.append((event, key))
    assert c("SORT", "l", "STORE", "dst") == 4
    assert c("TYPE", "dst") == b"list"
    assert c("SORT", "dst", "BY", "nosort") == [b"1", b"2", b"3", b"10"]
    assert c("SORT", "l", "GET", "missing_*", "LIMIT", 0, 2, "STORE", "dst") == 2
    assert c("SORT", "dst", "BY", "nosort") == [b"", b""]
    assert c("SORT", "nokey", "STORE", "dst") == 0
    assert c("EXISTS", "dst") == 0
    assert seen == [(b"sortstore", b"dst"), (b"sortstore", b"dst"), (b"del", b"dst")]


def test_store_is_propagated_and_plain_sort_is_not(srv, c):
    seen = []
    srv.server.effect_feeds.append(lambda batch, multi: seen.extend(argv for _, argv in batch))
    c("SORT", "l")
    c("SORT", "l", "STORE", "dst")
    c("SORT", "nokey", "STORE", "other")
    assert seen == [[b"SORT", b"l", b"STORE", b"dst"]]


def test_sort_key_positions(c):
    assert c("COMMAND", "GETKEYS", "SORT", "l", "STORE", "a", "STORE", "b") == [b"l", b"b"]
    assert c("COMMAND", "GETKEYS", "SORT", "l", "GET", "store", "BY", "store") == [b"l"]
    assert c("COMMAND", "GETKEYS", "SORT_RO", "l") == [b"l"]


# -- errors -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("args", "message"), [
    (["LIMIT", 1], SYNTAX),
    (["LIMIT", "a", "b"], NOT_INTEGER),
    (["LIMIT", 0, "b"], NOT_INTEGER),
    (["foo"], SYNTAX),
    (["GET"], SYNTAX),
    (["BY"], SYNTAX),
    (["STORE"], SYNTAX),
])
def test_sort_errors(c, args, message):
    assert err(c("SORT", "l", *args)) == message


def test_sort_checks_options_before_the_type(c):
    c("SET", "str", "x")
    assert err(c("SORT", "str", "foo")) == SYNTAX
    assert err(c("SORT", "str", "LIMIT", "a", "b")) == NOT_INTEGER
    assert err(c("SORT", "str")) == WRONGTYPE
    assert err(c("SORT", "str", "BY", "nosort")) == WRONGTYPE


def test_sort_ro_refuses_store(c):
    assert err(c("SORT_RO", "l", "STORE", "dst")) == SYNTAX
    assert c("SORT_RO", "l", "DESC") == [b"10", b"3", b"2", b"1"]


def test_sort_wrong_arity(c):
    assert err(c("SORT")) == "ERR wrong number of arguments for 'sort' command"
    assert err(c("SORT_RO")) == "ERR wrong number of arguments for 'sort_ro' command"
