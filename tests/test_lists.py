"""List commands through the real dispatcher (in-process): replies, error texts and the order Redis
checks things in, keyspace events and what is propagated. Expected values were taken from
redis-server 7.0.15. Blocking pops are in test_blocking.py."""

from __future__ import annotations

import pytest

from emberkv.keyspace.db import NOTIFY_GENERIC, NOTIFY_LIST
from tests.inproc import err, record_events

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
NOT_INTEGER = "ERR value is not an integer or out of range"
NOT_POSITIVE = "ERR value is out of range, must be positive"
SYNTAX = "ERR syntax error"
INT64_MIN = str(-(2**63))
INT64_MAX = str(2**63 - 1)


@pytest.fixture
def events(srv):
    return record_events(srv, NOTIFY_LIST | NOTIFY_GENERIC)


def items(c, key: str = "l") -> list[bytes]:
    return c("LRANGE", key, 0, -1)


# -- pushes ----------------------------------------------------------------------------------------

def test_lpush_puts_elements_at_the_head_one_after_another(c):
    assert c("LPUSH", "l", "a", "b", "c") == 3
    assert c("RPUSH", "l", "x") == 4
    assert items(c) == [b"c", b"b", b"a", b"x"]
    assert c("OBJECT", "ENCODING", "l") == b"quicklist"
    assert c("TYPE", "l") == b"list"


def test_pushx_only_acts_on_an_existing_list(c):
    assert c("LPUSHX", "l", "a") == 0
    assert c("RPUSHX", "l", "a") == 0
    assert c("EXISTS", "l") == 0
    c("RPUSH", "l", "m")
    assert c("LPUSHX", "l", "x", "y") == 3
    assert c("RPUSHX", "l", "z") == 4
    assert items(c) == [b"y", b"x", b"m", b"z"]


@pytest.mark.parametrize("command", ["LPUSH", "RPUSH", "LPUSHX", "RPUSHX"])
def test_pushes_refuse_another_type_and_missing_elements(c, command):
    assert err(c(command, "str", "a")) == WRONGTYPE
    assert err(c(command, "l")) == f"ERR wrong number of arguments for '{command.lower()}' command"


def test_push_events(c, events):
    c("LPUSH", "l", "a")
    c("RPUSH", "l", "b")
    c("LPUSHX", "l", "c")
    c("RPUSHX", "l", "d")
    c("LPUSHX", "missing", "e")
    assert events == [(b"lpush", b"l"), (b"rpush", b"l"), (b"lpush", b"l"), (b"rpush", b"l")]


# -- pops ------------------------------------------------------------------------------------------

def test_pop_without_count_answers_one_element_or_null(c):
    c("RPUSH", "l", "a", "b", "c")
    assert c("LPOP", "l") == b"a"
    assert c("RPOP", "l") == b"c"
    assert c("LPOP", "missing") is None
    assert c("RPOP", "missing") is None


def test_pop_with_count_answers_an_array_in_popping_order(c):
    c("RPUSH", "l", "a", "b", "c", "d", "e")
    assert c("LPOP", "l", 2) == [b"a", b"b"]
    assert c("RPOP", "l", 2) == [b"e", b"d"]
    assert c("RPOP", "l", 10) == [b"c"]
    assert c("EXISTS", "l") == 0


def test_pop_count_zero_and_missing_key(c):
    c("RPUSH", "l", "a")
    assert c("LPOP", "l", 0) == []
    assert items(c) == [b"a"]
    # A missing key with a count is a null array (*-1), which hiredis reads as None.
    assert c("LPOP", "missing", 0) is None
    assert c("RPOP", "missing", 3) is None


@pytest.mark.parametrize("command", ["LPOP", "RPOP"])
@pytest.mark.parametrize("count", ["-1", "x", INT64_MIN, "1.5", ""])
def test_pop_refuses_bad_counts_before_looking_at_the_key(c, command, count):
    assert err(c(command, "str", count)) == NOT_POSITIVE
    assert err(c(command, "missing", count)) == NOT_POSITIVE


@pytest.mark.parametrize("command", ["LPOP", "RPOP"])
def test_pop_wrong_type_and_arity(c, command):
    assert err(c(command, "str")) == WRONGTYPE
    assert err(c(command, "str", 0)) == WRONGTYPE
    assert err(c(command, "l", 1, 2)) == f"ERR wrong number of arguments for '{command.lower()}' command"


def test_pop_events_and_del_when_emptied(c, events):
    c("RPUSH", "l", "a", "b", "c")
    c("LPOP", "l")
    c("RPOP", "l", 5)
    c("LPOP", "l")
    assert events[1:] == [(b"lpop", b"l"), (b"rpop", b"l"), (b"del", b"l")]


def test_pops_are_propagated_as_sent_and_no_op_pops_not_at_all(c, effects):
    c("RPUSH", "l", "a", "b")
    c("LPOP", "l", 0)
    c("LPOP", "missing")
    c("RPOP", "l", 5)
    assert effects == [[b"RPUSH", b"l", b"a", b"b"], [b"RPOP", b"l", b"5"]]


# -- reading ---------------------------------------------------------------------------------------

def test_llen(c):
    c("RPUSH", "l", "a", "b")
    assert c("LLEN", "l") == 2
    assert c("LLEN", "missing") == 0
    assert err(c("LLEN", "str")) == WRONGTYPE


@pytest.mark.parametrize(("start", "end", "expected"), [
    (0, -1, "abcde"), (1, 3, "bcd"), (-2, -1, "de"), (-100, 100, "abcde"), (3, 1, ""), (5, 10, ""),
    (-1, -1, "e"), (0, 0, "a"), (INT64_MIN, INT64_MAX, "abcde"), (-3, 2, "c"), (4, -100, ""),
])
def test_lrange_indexes(c, start, end, expected):
    c("RPUSH", "l", *"abcde")
    assert c("LRANGE", "l", start, end) == [ch.encode() for ch in expected]


def test_lrange_walks_from_the_nearer_end_of_a_long_list(c):
    c("RPUSH", "l", *range(1000))
    assert c("LRANGE", "l", 990, 992) == [b"990", b"991", b"992"]
    assert c("LRANGE", "l", 5, 7) == [b"5", b"6", b"7"]
    assert len(c("LRANGE", "l", 0, 599)) == 600


def test_lrange_parses_indexes_before_the_key(c):
    assert c("LRANGE", "missing", 0, -1) == []
    assert err(c("LRANGE", "missing", "a", 0)) == NOT_INTEGER
    assert err(c("LRANGE", "str", 0, "b")) == NOT_INTEGER
    assert err(c("LRANGE", "str", 0, -1)) == WRONGTYPE


def test_lindex(c):
    c("RPUSH", "l", "a", "b", "c")
    assert c("LINDEX", "l", 0) == b"a"
    assert c("LINDEX", "l", -1) == b"c"
    assert c("LINDEX", "l", 3) is None
    assert c("LINDEX", "l", -4) is None
    assert c("LINDEX", "l", INT64_MIN) is None
    assert err(c("LINDEX", "l", "x")) == NOT_INTEGER


def test_lindex_looks_at_the_key_before_the_index(c):
    assert c("LINDEX", "missing", "x") is None
    assert err(c("LINDEX", "str", "x")) == WRONGTYPE


# -- LPOS ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("args", "expected"), [
    ([], 0), (["RANK", 2], 3), (["RANK", -1], 6), (["RANK", -2], 3), (["RANK", 4], None),
    (["RANK", INT64_MAX], None), (["RANK", INT64_MIN], 6), (["COUNT", 0], [0, 3, 6]),
    (["COUNT", 0, "RANK", -1], [6, 3, 0]), (["COUNT", 2, "RANK", -2, "MAXLEN", 3], []),
    (["COUNT", 2, "RANK", -2, "MAXLEN", 5], [3]), (["COUNT", 0, "RANK", INT64_MIN], [6, 3, 0]),
    (["COUNT", 1, "COUNT", 2], [0, 3]), (["RANK", 1, "RANK", -1], 6), (["MAXLEN", 1, "RANK", 2], None),
    (["count", 2, "maxlen", 0], [0, 3]),
])
def test_lpos_options(c, args, expected):
    c("RPUSH", "l", *"abcabca")
    assert c("LPOS", "l", "a", *args) == expected


def test_lpos_no_match_and_missing_key(c):
    c("RPUSH", "l", "a")
    assert c("LPOS", "l", "z") is None
    assert c("LPOS", "l", "z", "COUNT", 0) == []
    assert c("LPOS", "missing", "a") is None
    assert c("LPOS", "missing", "a", "COUNT", 0) == []


@pytest.mark.parametrize(("args", "error"), [
    (["RANK", 0], "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... "
                  "or use negative to start from the end of the list"),
    (["RANK", "x"], NOT_INTEGER),
    (["COUNT", -1], "ERR COUNT can't be negative"),
    (["COUNT", "x"], "ERR COUNT can't be negative"),
    (["COUNT", INT64_MIN], "ERR COUNT can't be negative"),
    (["MAXLEN", -1], "ERR MAXLEN can't be negative"),
    (["MAXLEN", "x"], "ERR MAXLEN can't be negative"),
    (["FOO"], SYNTAX), (["RANK"], SYNTAX), (["FOO", 1], SYNTAX),
])
def test_lpos_option_errors_come_before_the_key(c, args, error):
    assert err(c("LPOS", "str", "a", *args)) == error
    assert err(c("LPOS", "missing", "a", *args)) == error


def test_lpos_wrong_type(c):
    assert err(c("LPOS", "str", "a")) == WRONGTYPE


# -- LSET / LINSERT --------------------------------------------------------------------------------

def test_lset(c, events):
    c("RPUSH", "l", "a", "b", "c")
    assert c("LSET", "l", -3, "z") == b"OK"
    assert c("LSET", "l", 1, "y") == b"OK"
    assert items(c) == [b"z", b"y", b"c"]
    assert (b"lset", b"l") in events


@pytest.mark.parametrize(("key", "index", "error"), [
    ("missing", 0, "ERR no such key"), ("missing", "x", "ERR no such key"), ("str", "x", WRONGTYPE),
    ("l", 3, "ERR index out of range"), ("l", -4, "ERR index out of range"), ("l", "x", NOT_INTEGER),
    ("l", INT64_MIN, "ERR index out of range"),
])
def test_lset_errors(c, key, index, error):
    c("RPUSH", "l", "a", "b", "c")
    assert err(c("LSET", key, index, "v")) == error


def test_linsert_before_and_after_the_first_pivot(c, events):
    c("RPUSH", "l", "a", "b", "a")
    assert c("LINSERT", "l", "BEFORE", "a", "X") == 4
    assert c("LINSERT", "l", "after", "a", "Y") == 5
    assert items(c) == [b"X", b"a", b"Y", b"b", b"a"]
    assert events[-1] == (b"linsert", b"l")


def test_linsert_missing_pivot_key_and_errors(c, effects):
    c("RPUSH", "l", "a")
    assert c("LINSERT", "l", "BEFORE", "zz", "X") == -1
    assert c("LINSERT", "missing", "BEFORE", "a", "X") == 0
    assert c("EXISTS", "missing") == 0
    assert err(c("LINSERT", "str", "BEFORE", "a", "X")) == WRONGTYPE
    assert err(c("LINSERT", "missing", "MIDDLE", "a", "X")) == SYNTAX
    assert err(c("LINSERT", "str", "MIDDLE", "a", "X")) == SYNTAX
    assert effects == [[b"RPUSH", b"l", b"a"]]


# -- LREM / LTRIM ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("count", "removed", "left"), [
    (0, 3, "bcb"), (1, 1, "bcaba"), (2, 2, "bcba"), (-1, 1, "abcab"), (-2, 2, "abcb"),
    (INT64_MIN, 3, "bcb"), (INT64_MAX, 3, "bcb"),
])
def test_lrem_counts(c, count, removed, left):
    c("RPUSH", "l", *"abcaba")
    assert c("LREM", "l", count, "a") == removed
    assert items(c) == [ch.encode() for ch in left]


def test_lrem_errors_missing_key_and_deleting_an_emptied_list(c, events):
    assert err(c("LREM", "missing", "x", "a")) == NOT_INTEGER
    assert err(c("LREM", "str", 0, "a")) == WRONGTYPE
    assert c("LREM", "missing", 0, "a") == 0
    c("RPUSH", "l", "a", "a")
    assert c("LREM", "l", 0, "b") == 0
    assert c("LREM", "l", 0, "a") == 2
    assert c("EXISTS", "l") == 0
    assert events[-2:] == [(b"lrem", b"l"), (b"del", b"l")]


@pytest.mark.parametrize(("start", "end", "left"), [
    (1, -2, "bcde"), (0, 0, "a"), (-2, 100, "ef"), (INT64_MIN, INT64_MAX, "abcdef"), (5, 1, ""),
    (10, 20, ""), (2, 3, "cd"),
])
def test_ltrim_ranges(c, start, end, left):
    c("RPUSH", "l", *"abcdef")
    assert c("LTRIM", "l", start, end) == b"OK"
    assert items(c) == [ch.encode() for ch in left]
    assert c("EXISTS", "l") == int(bool(left))


def test_ltrim_errors_and_missing_key(c):
    assert c("LTRIM", "missing", 0, 1) == b"OK"
    assert err(c("LTRIM", "str", 0, 1)) == WRONGTYPE
    assert err(c("LTRIM", "missing", "x", 1)) == NOT_INTEGER
    assert err(c("LTRIM", "str", 0, "y")) == NOT_INTEGER


def test_ltrim_that_cuts_nothing_still_notifies_and_touches_watchers(srv, c, events, effects):
    c("RPUSH", "l", "a", "b")
    watcher = srv.client()
    watcher("WATCH", "l")
    assert c("LTRIM", "l", 0, -1) == b"OK"
    assert events[-1] == (b"ltrim", b"l")
    assert effects == [[b"RPUSH", b"l", b"a", b"b"]]  # nothing changed: not propagated
    watcher("MULTI")
    watcher("PING")
    assert watcher("EXEC") is None


def test_ltrim_emptying_the_list_deletes_it(c, events):
    c("RPUSH", "l", "a")
    c("LTRIM", "l", 1, 0)
    assert events[-2:] == [(b"ltrim", b"l"), (b"del", b"l")]
    assert c("EXISTS", "l") == 0


# -- LMOVE / RPOPLPUSH -----------------------------------------------------------------------------

@pytest.mark.parametrize(("sides", "src", "dst"), [
    (("LEFT", "LEFT"), "bc", "ax"), (("LEFT", "RIGHT"), "bc", "xa"), (("RIGHT", "LEFT"), "ab", "cx"),
    (("right", "right"), "ab", "xc"),
])
def test_lmove_directions(c, sides, src, dst):
    c("RPUSH", "src", "a", "b", "c")
    c("RPUSH", "dst", "x")
    assert c("LMOVE", "src", "dst", *sides) in (b"a", b"c")
    assert items(c, "src") == [ch.encode() for ch in src]
    assert items(c, "dst") == [ch.encode() for ch in dst]


def test_lmove_rotates_a_list_onto_itself(c):
    c("RPUSH", "l", "a", "b", "c")
    assert c("LMOVE", "l", "l", "LEFT", "RIGHT") == b"a"
    assert items(c) == [b"b", b"c", b"a"]
    assert c("RPOPLPUSH", "l", "l") == b"a"
    assert items(c) == [b"a", b"b", b"c"]
    c("DEL", "l")
    c("RPUSH", "l", "only")
    assert c("LMOVE", "l", "l", "LEFT", "LEFT") == b"only"
    assert items(c) == [b"only"]


def test_lmove_creates_the_destination_and_deletes_an_emptied_source(c, events):
    c("RPUSH", "src", "a")
    assert c("RPOPLPUSH", "src", "dst") == b"a"
    assert c("EXISTS", "src") == 0
    assert items(c, "dst") == [b"a"]
    # The push on the destination is reported before the pop on the source, as Redis does.
    assert events[1:] == [(b"lpush", b"dst"), (b"rpop", b"src"), (b"del", b"src")]


def test_lmove_errors(c, effects):
    c("RPUSH", "l", "a")
    assert err(c("LMOVE", "l", "l", "UP", "LEFT")) == SYNTAX
    assert err(c("LMOVE", "str", "l", "LEFT", "MIDDLE")) == SYNTAX
    assert c("LMOVE", "missing", "str", "LEFT", "LEFT") is None
    assert err(c("LMOVE", "str", "l", "LEFT", "LEFT")) == WRONGTYPE
    assert err(c("LMOVE", "l", "str", "LEFT", "LEFT")) == WRONGTYPE
    assert err(c("RPOPLPUSH", "l", "str")) == WRONGTYPE
    assert c("RPOPLPUSH", "missing", "l") is None
    assert items(c) == [b"a"]
    assert effects == [[b"RPUSH", b"l", b"a"]]


def test_lmove_and_rpoplpush_are_propagated_as_sent(c, effects):
    c("RPUSH", "l", "a", "b")
    c("LMOVE", "l", "m", "left", "RIGHT")
    c("RPOPLPUSH", "l", "m")
    assert effects[1:] == [[b"LMOVE", b"l", b"m", b"left", b"RIGHT"], [b"RPOPLPUSH", b"l", b"m"]]


# -- LMPOP -----------------------------------------------------------------------------------------

def test_lmpop_pops_from_the_first_non_empty_list(c, effects):
    c("RPUSH", "b", "1", "2", "3")
    assert c("LMPOP", 3, "missing", "b", "str", "RIGHT", "COUNT", 2) == [b"b", [b"3", b"2"]]
    assert c("LMPOP", 2, "missing", "b", "left", "count", 5) == [b"b", [b"1"]]
    assert c("LMPOP", 1, "b", "LEFT") is None
    assert c("EXISTS", "b") == 0
    assert effects[1:] == [[b"RPOP", b"b", b"2"], [b"LPOP", b"b", b"1"]]


def test_lmpop_default_count_is_one(c):
    c("RPUSH", "l", "a", "b")
    assert c("LMPOP", 1, "l", "LEFT") == [b"l", [b"a"]]


@pytest.mark.parametrize(("args", "error"), [
    (["x", "l", "LEFT"], "ERR numkeys should be greater than 0"),
    (["-1", "l", "LEFT"], "ERR numkeys should be greater than 0"),
    ([INT64_MIN, "l", "LEFT"], "ERR numkeys should be greater than 0"),
    (["1", "l", "MIDDLE"], SYNTAX),
    (["2", "l", "LEFT"], SYNTAX),
    ([INT64_MAX, "l", "LEFT"], SYNTAX),
    (["1", "l", "LEFT", "COUNT", "0"], "ERR count should be greater than 0"),
    (["1", "l", "LEFT", "COUNT", "-1"], "ERR count should be greater than 0"),
    (["1", "l", "LEFT", "COUNT", "x"], "ERR count should be greater than 0"),
    (["1", "l", "LEFT", "COUNT", INT64_MIN], "ERR count should be greater than 0"),
    (["1", "l", "LEFT", "COUNT", "1", "COUNT", "2"], SYNTAX),
    (["1", "l", "LEFT", "COUNT"], SYNTAX),
    (["1", "l", "LEFT", "FOO", "1"], SYNTAX),
])
def test_lmpop_argument_errors(c, args, error):
    assert err(c("LMPOP", *args)) == error


def test_lmpop_wrong_type_only_up_to_the_first_non_empty_list(c):
    c("RPUSH", "l", "a", "b")
    assert err(c("LMPOP", 2, "str", "l", "LEFT")) == WRONGTYPE
    assert c("LMPOP", 2, "l", "str", "LEFT") == [b"l", [b"a"]]
    assert err(c("LMPOP", "1", "str", "LEFT")) == WRONGTYPE


def test_lmpop_keys_for_command_getkeys(c):
    assert c("COMMAND", "GETKEYS", "LMPOP", 2, "a", "b", "LEFT") == [b"a", b"b"]
