"""Sorted-set commands through the real dispatcher (in-process): replies, error texts and their
order, encodings, propagation and keyspace events. Expected values were taken from redis-server
7.0.15."""

from __future__ import annotations

import pytest

from emberkv.keyspace.db import NOTIFY_GENERIC, NOTIFY_ZSET
from emberkv.keyspace.values import ListValue, SetValue, ZSetValue
from tests.inproc import encode_request, err, record_events

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
NOT_INTEGER = "ERR value is not an integer or out of range"
NOT_FLOAT = "ERR value is not a valid float"
SYNTAX = "ERR syntax error"
NOT_FLOAT_RANGE = "ERR min or max is not a float"
NOT_LEX_RANGE = "ERR min or max not valid string range item"
INT64_MIN = str(-(2**63))
INT64_MAX = str(2**63 - 1)


@pytest.fixture
def c(srv):
    client = srv.client()
    ks = srv.server.keyspace
    # Keys of other types for the wrong-type paths (their commands live in other modules).
    ks.add_key(ks.dbs[0], b"list", ListValue([b"x"]))
    ks.add_key(ks.dbs[0], b"set", SetValue([b"a", b"b", b"x"]))
    return client


@pytest.fixture
def events(srv):
    return record_events(srv, NOTIFY_ZSET | NOTIFY_GENERIC)


def zset_of(srv, key: bytes) -> ZSetValue:
    return srv.server.keyspace.dbs[0].data[key]


def abcd(c) -> None:
    assert c("ZADD", "z", 1, "a", 2, "b", 3, "c", 4, "d") == 4


# -- ZADD ------------------------------------------------------------------------------------------

def test_zadd_counts_new_members_and_ch_counts_changes_too(c):
    assert c("ZADD", "z", 1, "a", 2, "b") == 2
    assert c("ZADD", "z", 5, "a", 3, "c") == 1
    assert c("ZADD", "z", "CH", 6, "a", 3, "c", 4, "d") == 2
    assert c("ZRANGE", "z", 0, -1, "WITHSCORES") == [b"b", b"2", b"c", b"3", b"d", b"4", b"a", b"6"]


def test_zadd_scores_print_as_17_significant_digits(c):
    c("ZADD", "z", "1.1", "a", "inf", "b", "-inf", "c", "1e300", "d")
    assert c("ZSCORE", "z", "a") == b"1.1000000000000001"
    assert c("ZSCORE", "z", "b") == b"inf"
    assert c("ZSCORE", "z", "c") == b"-inf"
    assert c("ZSCORE", "z", "d") == b"1.0000000000000001e+300"


def test_zadd_nx_only_adds_and_xx_only_updates(c):
    c("ZADD", "z", 1, "a")
    assert c("ZADD", "z", "NX", 5, "a", 2, "b") == 1
    assert c("ZADD", "z", "XX", "CH", 7, "a", 9, "new") == 1
    assert c("ZRANGE", "z", 0, -1, "WITHSCORES") == [b"b", b"2", b"a", b"7"]


def test_zadd_xx_on_missing_key_creates_nothing(c):
    assert c("ZADD", "z", "XX", 1, "a") == 0
    assert c("ZADD", "z", "XX", "INCR", 1, "a") is None
    assert c("EXISTS", "z") == 0


def test_zadd_gt_lt_only_move_scores_one_way_but_always_add(c):
    c("ZADD", "z", 5, "a")
    assert c("ZADD", "z", "GT", "CH", 3, "a", 1, "b") == 1
    assert c("ZADD", "z", "LT", "CH", 3, "a") == 1
    assert c("ZADD", "z", "GT", "CH", 4, "a") == 1
    assert c("ZRANGE", "z", 0, -1, "WITHSCORES") == [b"b", b"1", b"a", b"4"]


def test_zadd_incr_returns_new_score_or_null_when_skipped(c):
    assert c("ZADD", "z", "INCR", "1.5", "a") == b"1.5"
    assert c("ZADD", "z", "INCR", 2, "a") == b"3.5"
    assert c("ZADD", "z", "INCR", "NX", 2, "a") is None
    assert c("ZADD", "z", "INCR", "GT", -1, "a") is None
    assert c("ZADD", "z", "INCR", "XX", 1, "missing") is None


def test_zadd_same_member_twice_in_one_call(c):
    assert c("ZADD", "z", 1, "a", 2, "a") == 1
    assert c("ZSCORE", "z", "a") == b"2"


@pytest.mark.parametrize(("args", "message"), [
    (["NX", "XX", 1, "a"], "ERR XX and NX options at the same time are not compatible"),
    (["GT", "LT", 1, "a"], "ERR GT, LT, and/or NX options at the same time are not compatible"),
    (["NX", "GT", 1, "a"], "ERR GT, LT, and/or NX options at the same time are not compatible"),
    (["NX", "LT", 1, "a"], "ERR GT, LT, and/or NX options at the same time are not compatible"),
    (["INCR", 1, "a", 2, "b"], "ERR INCR option supports a single increment-element pair"),
    ([1, "a", 2], SYNTAX),
    (["NX", 1], SYNTAX),
    (["abc", "a"], NOT_FLOAT),
    (["nan", "a"], NOT_FLOAT),
    ([" 1", "a"], NOT_FLOAT),
    (["1e400", "a"], NOT_FLOAT),
    ([1, "a", "x", "b"], NOT_FLOAT),
])
def test_zadd_errors(c, args, message):
    assert err(c("ZADD", "z", *args)) == message
    assert c("EXISTS", "z") == 0


def test_zadd_checks_options_and_scores_before_the_type(c):
    assert err(c("ZADD", "list", "abc", "a")) == NOT_FLOAT
    assert err(c("ZADD", "list", "XX", "GT", 1, "a")) == WRONGTYPE
    assert err(c("ZADD", "list", 1, "a")) == WRONGTYPE


def test_zadd_wrong_arity(c):
    assert err(c("ZADD", "z", 1)) == "ERR wrong number of arguments for 'zadd' command"
    assert err(c("ZINCRBY", "z", 1)) == "ERR wrong number of arguments for 'zincrby' command"


def test_zadd_incr_to_nan_is_refused_and_changes_nothing(c):
    c("ZADD", "z", "inf", "a")
    assert err(c("ZADD", "z", "INCR", "-inf", "a")) == "ERR resulting score is not a number (NaN)"
    assert err(c("ZINCRBY", "z", "-inf", "a")) == "ERR resulting score is not a number (NaN)"
    assert c("ZSCORE", "z", "a") == b"inf"


def test_zincrby_adds_and_creates(c):
    assert c("ZINCRBY", "z", "2.5", "a") == b"2.5"
    assert c("ZINCRBY", "z", "-1", "a") == b"1.5"
    assert err(c("ZINCRBY", "z", "abc", "a")) == NOT_FLOAT
    assert err(c("ZINCRBY", "list", 1, "a")) == WRONGTYPE


def test_zincrby_reads_zadd_options_like_redis(c):
    # ZINCRBY shares ZADD's parser: an option word shifts the pair and leaves an odd count.
    assert err(c("ZINCRBY", "z", "nx", "a")) == SYNTAX


def test_zadd_resp3_replies_doubles(c):
    c("HELLO", 3)
    assert c("ZADD", "z", "INCR", "1.5", "a") == 1.5
    assert c("ZSCORE", "z", "a") == 1.5
    assert c("ZINCRBY", "z", "1", "a") == 2.5
    assert c("ZSCORE", "z", "nope") is None


def test_zadd_without_changes_is_not_propagated(c, effects):
    c("ZADD", "z", 1, "a")
    c("ZADD", "z", 1, "a")
    c("ZADD", "z", "NX", 2, "a")
    c("ZADD", "z", "INCR", 0, "a")
    assert effects == [[b"ZADD", b"z", b"1", b"a"]]


def test_zadd_and_zincrby_events(c, events):
    c("ZADD", "z", 1, "a")
    c("ZADD", "z", 1, "a")
    c("ZINCRBY", "z", 1, "a")
    c("ZADD", "z", "INCR", 1, "a")
    assert events == [(b"zadd", b"z"), (b"zincr", b"z"), (b"zincr", b"z")]


def test_zadd_counts_dirty_per_change(srv, c):
    ks = srv.server.keyspace
    before = ks.dirty
    c("ZADD", "z", 1, "a", 2, "b", 3, "c")
    c("ZADD", "z", 5, "a", 2, "b")
    assert ks.dirty - before == 4


# -- encodings ---------------------------------------------------------------------------------------

def test_small_zset_is_listpack_until_128_members(c):
    c("ZADD", "z", *[x for i in range(128) for x in (i, f"m{i}")])
    assert c("OBJECT", "ENCODING", "z") == b"listpack"
    c("ZADD", "z", 200, "m200")
    assert c("OBJECT", "ENCODING", "z") == b"skiplist"
    c("ZREMRANGEBYRANK", "z", 0, -2)
    assert c("OBJECT", "ENCODING", "z") == b"skiplist"


def test_long_member_makes_a_skiplist_even_at_creation(c):
    c("ZADD", "z", 1, "x" * 65)
    assert c("OBJECT", "ENCODING", "z") == b"skiplist"
    c("ZADD", "y", 1, "x" * 64)
    assert c("OBJECT", "ENCODING", "y") == b"listpack"
    c("ZADD", "y", 2, "x" * 65)
    assert c("OBJECT", "ENCODING", "y") == b"skiplist"


def test_zero_listpack_entries_creates_skiplists(srv, c):
    assert c("CONFIG", "SET", "zset-max-listpack-entries", 0) == b"OK"
    c("ZADD", "z", 1, "a")
    assert c("OBJECT", "ENCODING", "z") == b"skiplist"


def test_listpack_stores_minus_zero_as_zero_but_skiplist_keeps_it(srv, c):
    c("ZADD", "z", "-0", "a")
    assert c("ZSCORE", "z", "a") == b"0"
    assert c("ZADD", "z", "INCR", "-0", "b") == b"-0"  # the reply is the computed score
    assert c("ZSCORE", "z", "b") == b"0"
    assert c("CONFIG", "SET", "zset-max-listpack-entries", 0) == b"OK"
    c("ZADD", "big", "-0", "a")
    assert c("ZSCORE", "big", "a") == b"-0"


# -- ZREM, ZCARD, ZSCORE, ZMSCORE, ZRANK --------------------------------------------------------------

def test_zrem_removes_and_deletes_empty_key(c, events):
    abcd(c)
    assert c("ZREM", "z", "a", "x", "a") == 1
    assert c("ZREM", "z", "b", "c", "d") == 3
    assert c("EXISTS", "z") == 0
    assert c("ZREM", "z", "a") == 0
    assert err(c("ZREM", "list", "a")) == WRONGTYPE
    assert events[-3:] == [(b"zrem", b"z"), (b"zrem", b"z"), (b"del", b"z")]


def test_zcard_zscore_zmscore(c):
    abcd(c)
    assert c("ZCARD", "z") == 4
    assert c("ZCARD", "nokey") == 0
    assert c("ZSCORE", "z", "c") == b"3"
    assert c("ZSCORE", "z", "x") is None
    assert c("ZSCORE", "nokey", "x") is None
    assert c("ZMSCORE", "z", "a", "x", "d") == [b"1", None, b"4"]
    assert c("ZMSCORE", "nokey", "a", "b") == [None, None]
    for cmd in (("ZCARD", "list"), ("ZSCORE", "list", "a"), ("ZMSCORE", "list", "a")):
        assert err(c(*cmd)) == WRONGTYPE
    assert err(c("ZMSCORE", "z")) == "ERR wrong number of arguments for 'zmscore' command"


def test_zrank_and_zrevrank(c):
    abcd(c)
    assert c("ZRANK", "z", "a") == 0
    assert c("ZRANK", "z", "d") == 3
    assert c("ZREVRANK", "z", "a") == 3
    assert c("ZRANK", "z", "x") is None
    assert c("ZREVRANK", "nokey", "x") is None
    assert err(c("ZRANK", "list", "a")) == WRONGTYPE
    assert err(c("ZREVRANK", "list", "a")) == WRONGTYPE
    assert err(c("ZRANK", "z", "b", "WITHSCORE")) == "ERR wrong number of arguments for 'zrank' command"


def test_zrank_orders_equal_scores_by_member_bytes(c):
    c("ZADD", "z", 1, "b", 1, "a", 1, "B", 0, "z")
    assert [c("ZRANK", "z", m) for m in ("z", "B", "a", "b")] == [0, 1, 2, 3]


# -- ZRANDMEMBER ----------------------------------------------------------------------------------------

def test_zrandmember_single_and_counts(c):
    abcd(c)
    assert c("ZRANDMEMBER", "z") in (b"a", b"b", b"c", b"d")
    picked = c("ZRANDMEMBER", "z", 3)
    assert len(picked) == 3 and len(set(picked)) == 3
    assert sorted(c("ZRANDMEMBER", "z", 10)) == [b"a", b"b", b"c", b"d"]
    assert len(c("ZRANDMEMBER", "z", -10)) == 10
    assert c("ZRANDMEMBER", "z", 0) == []
    pairs = c("ZRANDMEMBER", "z", 4, "WITHSCORES")
    assert sorted(zip(pairs[::2], pairs[1::2], strict=True)) == [(b"a", b"1"), (b"b", b"2"), (b"c", b"3"), (b"d", b"4")]


def test_zrandmember_resp3_gives_pairs(c):
    c("ZADD", "z", "1.5", "a")
    c("HELLO", 3)
    assert c("ZRANDMEMBER", "z", 1, "WITHSCORES") == [[b"a", 1.5]]
    assert c("ZRANDMEMBER", "z", -2) == [b"a", b"a"]


def test_zrandmember_missing_key(c):
    assert c("ZRANDMEMBER", "nokey") is None
    assert c("ZRANDMEMBER", "nokey", 5) == []
    assert c("ZRANDMEMBER", "nokey", 5, "WITHSCORES") == []


@pytest.mark.parametrize(("args", "message"), [
    (["a"], NOT_INTEGER),
    ([INT64_MIN], "ERR value is out of range, value must between -9223372036854775807 and "
                  "9223372036854775807"),
    ([INT64_MAX, "WITHSCORES"], "ERR value is out of range"),
    (["-4611686018427387904", "WITHSCORES"], "ERR value is out of range"),
    ([1, "foo"], SYNTAX),
    ([1, "WITHSCORES", "foo"], SYNTAX),
])
def test_zrandmember_errors(c, args, message):
    c("ZADD", "z", 1, "a")
    assert err(c("ZRANDMEMBER", "z", *args)) == message


def test_zrandmember_count_is_checked_before_the_type(c):
    assert err(c("ZRANDMEMBER", "list", "a")) == NOT_INTEGER
    assert err(c("ZRANDMEMBER", "list", 1)) == WRONGTYPE
    assert err(c("ZRANDMEMBER", "list")) == WRONGTYPE


def test_zrandmember_refuses_absurd_repeat_counts(c):
    # Redis would try to build 2**62 replies and die; emberkv refuses instead.
    c("ZADD", "z", 1, "a")
    assert err(c("ZRANDMEMBER", "z", "-4611686018427387903")) == "ERR value is out of range"


# -- ZSCAN ------------------------------------------------------------------------------------------------

def test_zscan_of_listpack_returns_everything_in_rank_order(c):
    c("ZADD", "z", 2, "b", 1, "a", "1.5", "c")
    assert c("ZSCAN", "z", 0) == [b"0", [b"a", b"1", b"c", b"1.5", b"b", b"2"]]
    assert c("ZSCAN", "z", 0, "MATCH", "[ab]", "COUNT", 1) == [b"0", [b"a", b"1", b"b", b"2"]]


def test_zscan_of_skiplist_walks_with_a_cursor(c):
    c("ZADD", "z", *[x for i in range(300) for x in (i, f"m{i}")])
    cursor, seen = b"0", {}
    for _ in range(100):
        cursor, items = c("ZSCAN", "z", cursor, "COUNT", 50)
        seen.update(zip(items[::2], items[1::2], strict=True))
        if cursor == b"0":
            break
    assert cursor == b"0"
    assert seen == {f"m{i}".encode(): str(i).encode() for i in range(300)}


def test_zscan_errors_and_missing_key(c):
    c("ZADD", "z", 1, "a")
    assert err(c("ZSCAN", "z", "abc")) == "ERR invalid cursor"
    assert err(c("ZSCAN", "z", 0, "COUNT", 0)) == SYNTAX
    assert err(c("ZSCAN", "z", 0, "COUNT", "x")) == NOT_INTEGER
    assert err(c("ZSCAN", "z", 0, "foo")) == SYNTAX
    assert err(c("ZSCAN", "z", 0, "TYPE", "zset")) == SYNTAX
    assert err(c("ZSCAN", "list", 0)) == WRONGTYPE
    # Options are read after the key is found, as in Redis.
    assert c("ZSCAN", "nokey", 0, "foo") == [b"0", []]


def test_zscan_scores_are_bulk_strings_in_resp3(c):
    c("ZADD", "z", "1.5", "a")
    c("HELLO", 3)
    assert c("ZSCAN", "z", 0) == [b"0", [b"a", b"1.5"]]


# -- ranges ---------------------------------------------------------------------------------------------

def test_zrange_by_rank_clamps_like_redis(c):
    abcd(c)
    assert c("ZRANGE", "z", 0, -1) == [b"a", b"b", b"c", b"d"]
    assert c("ZRANGE", "z", -2, 100) == [b"c", b"d"]
    assert c("ZRANGE", "z", -100, 1) == [b"a", b"b"]
    assert c("ZRANGE", "z", 3, 1) == []
    assert c("ZRANGE", "z", 4, 10) == []
    assert c("ZRANGE", "z", 0, INT64_MIN) == []
    assert c("ZRANGE", "z", INT64_MIN, INT64_MAX) == [b"a", b"b", b"c", b"d"]
    assert c("ZRANGE", "z", 0, 1, "REV", "WITHSCORES") == [b"d", b"4", b"c", b"3"]
    assert c("ZREVRANGE", "z", 1, 2) == [b"c", b"b"]
    assert c("ZRANGE", "nokey", 0, -1) == []


def test_zrange_byscore_bounds(c):
    abcd(c)
    assert c("ZRANGE", "z", "(1", 3, "BYSCORE") == [b"b", b"c"]
    assert c("ZRANGE", "z", "-inf", "(3", "BYSCORE") == [b"a", b"b"]
    assert c("ZRANGE", "z", 3, "(1", "BYSCORE", "REV") == [b"c", b"b"]
    assert c("ZRANGE", "z", "(1", 3, "BYSCORE", "REV") == []
    assert c("ZRANGE", "z", 2, 2, "BYSCORE") == [b"b"]
    assert c("ZRANGE", "z", "(2", 2, "BYSCORE") == []
    assert c("ZRANGEBYSCORE", "z", 2, "+inf", "WITHSCORES") == [b"b", b"2", b"c", b"3", b"d", b"4"]
    assert c("ZREVRANGEBYSCORE", "z", 3, 1, "WITHSCORES", "LIMIT", 0, 2) == [b"c", b"3", b"b", b"2"]
    assert c("ZREVRANGEBYSCORE", "z", 1, 3) == []


def test_score_bounds_are_read_as_strtod_reads_them(c):
    abcd(c)
    assert c("ZRANGEBYSCORE", "z", " 1", 2) == [b"a", b"b"]
    assert c("ZRANGEBYSCORE", "z", "", 2) == [b"a", b"b"]  # an empty bound is 0
    assert c("ZRANGEBYSCORE", "z", "(", 2) == [b"a", b"b"]
    assert c("ZRANGEBYSCORE", "z", "0x1", 2) == [b"a", b"b"]
    assert c("ZRANGEBYSCORE", "z", "1e400", 2) == []  # overflow is inf, not an error
    assert c("ZRANGEBYSCORE", "z", "-1e400", 2) == [b"a", b"b"]
    assert c("ZRANGEBYSCORE", "z", "1e-400", 2) == [b"a", b"b"]
    for bad in ("nan", "(nan", "1x", "1 ", "abc", " "):
        assert err(c("ZRANGEBYSCORE", "z", bad, 2)) == NOT_FLOAT_RANGE


def test_zrange_limit_offset_and_count(c):
    abcd(c)
    assert c("ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", 1, 2) == [b"b", b"c"]
    assert c("ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", -1, 1) == []
    assert c("ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", 1, -1) == [b"b", b"c", b"d"]
    assert c("ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", 1, 0) == []
    assert c("ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", 10, 1) == []
    assert c("ZRANGE", "z", "+inf", "-inf", "BYSCORE", "REV", "LIMIT", 1, 2) == [b"c", b"b"]
    assert c("ZRANGE", "z", "+", "-", "BYLEX", "REV", "LIMIT", 1, 2) == [b"c", b"b"]


@pytest.mark.parametrize(("args", "message"), [
    (["0", "-1", "REV", "REV"], SYNTAX),
    (["0", "-1", "BYSCORE", "BYLEX"], SYNTAX),
    (["0", "-1", "LIMIT", 1], SYNTAX),
    (["0", "-1", "foo"], SYNTAX),
    (["0", "-1", "LIMIT", 0, 1],
     "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"),
    (["-", "+", "BYLEX", "WITHSCORES"],
     "ERR syntax error, WITHSCORES not supported in combination with BYLEX"),
    (["a", "b"], NOT_INTEGER),
    (["99999999999999999999", 1], NOT_INTEGER),
    (["0", "-1", "LIMIT", "a", "b"], NOT_INTEGER),
    (["0", "-1", "BYSCORE", "LIMIT", 1, "b"], NOT_INTEGER),
    (["a", "b", "BYSCORE"], NOT_FLOAT_RANGE),
    (["a", "b", "BYLEX"], NOT_LEX_RANGE),
    (["[a", "++", "BYLEX"], NOT_LEX_RANGE),
])
def test_zrange_errors(c, args, message):
    abcd(c)
    assert err(c("ZRANGE", "z", *args)) == message


def test_rank_range_accepts_a_limit_whose_count_is_minus_one(c):
    abcd(c)
    assert c("ZRANGE", "z", 0, -1, "LIMIT", 5, -1) == [b"a", b"b", b"c", b"d"]
    assert c("ZRANGE", "z", 0, 0, "LIMIT", 0, 0, "LIMIT", 0, -1) == [b"a"]


def test_old_range_commands_refuse_the_new_options(c):
    abcd(c)
    assert err(c("ZRANGEBYSCORE", "z", "-inf", "+inf", "REV")) == SYNTAX
    assert err(c("ZRANGEBYSCORE", "z", 1, 3, "BYSCORE")) == SYNTAX
    assert err(c("ZRANGEBYLEX", "z", "-", "+", "WITHSCORES")) == (
        "ERR syntax error, WITHSCORES not supported in combination with BYLEX")
    assert err(c("ZREVRANGE", "z", 0, 1, "LIMIT", 0, 1)) == (
        "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")


def test_zrange_parses_before_looking_at_the_type(c):
    assert err(c("ZRANGE", "list", "a", 1)) == NOT_INTEGER
    assert err(c("ZRANGE", "list", 0, 1)) == WRONGTYPE
    assert err(c("ZRANGEBYLEX", "list", "-", "+")) == WRONGTYPE


def test_zrange_resp3_pairs(c):
    c("ZADD", "z", 1, "a", "2.5", "b")
    c("HELLO", 3)
    assert c("ZRANGE", "z", 0, -1, "WITHSCORES") == [[b"a", 1.0], [b"b", 2.5]]
    assert c("ZRANGE", "z", 0, -1) == [b"a", b"b"]


def test_lex_ranges_on_equal_scores(c):
    c("ZADD", "z", 0, "a", 0, "b", 0, "c", 0, "d", 0, "e")
    assert c("ZRANGEBYLEX", "z", "[b", "(d") == [b"b", b"c"]
    assert c("ZRANGEBYLEX", "z", "(b", "+") == [b"c", b"d", b"e"]
    assert c("ZRANGEBYLEX", "z", "-", "[a") == [b"a"]
    assert c("ZRANGEBYLEX", "z", "+", "-") == []
    assert c("ZRANGEBYLEX", "z", "-", "-") == []
    assert c("ZRANGEBYLEX", "z", "(c", "[c") == []
    assert c("ZRANGEBYLEX", "z", "[c", "[c") == [b"c"]
    assert c("ZRANGEBYLEX", "z", "-", "+", "LIMIT", 1, 2) == [b"b", b"c"]
    assert c("ZREVRANGEBYLEX", "z", "[d", "-", "LIMIT", 1, 2) == [b"c", b"b"]
    assert c("ZLEXCOUNT", "z", "[b", "[d") == 3
    assert c("ZLEXCOUNT", "z", "-", "+") == 5


def test_lex_ranges_with_unequal_scores_follow_the_listpack_walk(c):
    # Order by score: b(1) a(2) d(3) c(4). Redis's listpack starts at the first member >= min and
    # walks while members stay <= max.
    c("ZADD", "z", 1, "b", 2, "a", 3, "d", 4, "c")
    assert c("ZRANGEBYLEX", "z", "[b", "+") == [b"b", b"a", b"d", b"c"]
    assert c("ZRANGEBYLEX", "z", "[b", "[c") == [b"b", b"a"]
    assert c("ZRANGEBYLEX", "z", "(b", "[c") == []
    assert c("ZREVRANGEBYLEX", "z", "[c", "[a") == [b"c", b"d", b"a", b"b"]
    assert c("ZREVRANGEBYLEX", "z", "[b", "-", "LIMIT", 1, 5) == [b"b"]
    assert c("ZLEXCOUNT", "z", "[a", "[b") == 2


def test_zcount_and_zlexcount(c):
    abcd(c)
    assert c("ZCOUNT", "z", "(1", "(4") == 2
    assert c("ZCOUNT", "z", "-inf", "+inf") == 4
    assert c("ZCOUNT", "nokey", 0, 1) == 0
    assert err(c("ZCOUNT", "z", "a", "b")) == NOT_FLOAT_RANGE
    assert err(c("ZLEXCOUNT", "z", "a", "b")) == NOT_LEX_RANGE
    assert err(c("ZCOUNT", "list", 0, 1)) == WRONGTYPE
    assert err(c("ZLEXCOUNT", "list", "-", "+")) == WRONGTYPE
    assert c("ZLEXCOUNT", "nokey", "-", "+") == 0


def test_zrangestore_stores_or_deletes(c, events):
    abcd(c)
    assert c("ZRANGESTORE", "dst", "z", 1, 2) == 2
    assert c("ZRANGE", "dst", 0, -1, "WITHSCORES") == [b"b", b"2", b"c", b"3"]
    assert c("ZRANGESTORE", "dst", "z", "+inf", "(1", "BYSCORE", "REV", "LIMIT", 0, 1) == 1
    assert c("ZRANGE", "dst", 0, -1) == [b"d"]
    assert c("ZRANGESTORE", "dst", "z", 10, 20) == 0
    assert c("EXISTS", "dst") == 0
    assert c("ZRANGESTORE", "dst", "nokey", 0, -1) == 0
    assert events[-3:] == [(b"zrangestore", b"dst"), (b"zrangestore", b"dst"), (b"del", b"dst")]


def test_zrangestore_overwrites_any_type_and_refuses_withscores(c):
    abcd(c)
    assert c("ZRANGESTORE", "list", "z", 0, 0) == 1
    assert c("TYPE", "list") == b"zset"
    assert err(c("ZRANGESTORE", "dst", "z", 0, -1, "WITHSCORES")) == SYNTAX
    assert err(c("ZRANGESTORE", "dst", "set", 0, -1)) == WRONGTYPE
    assert err(c("ZRANGESTORE", "dst", "z", 0)) == "ERR wrong number of arguments for 'zrangestore' command"


def test_zrangestore_result_gets_the_encoding_its_size_calls_for(srv, c):
    c("ZADD", "z", *[x for i in range(200) for x in (i, f"m{i}")])
    c("ZRANGESTORE", "small", "z", 0, 9)
    c("ZRANGESTORE", "large", "z", 0, 149)
    assert c("OBJECT", "ENCODING", "small") == b"listpack"
    assert c("OBJECT", "ENCODING", "large") == b"skiplist"


# -- ZREMRANGEBY* -------------------------------------------------------------------------------------------

def test_zremrangebyrank_score_lex(c, events):
    abcd(c)
    assert c("ZREMRANGEBYRANK", "z", 0, 0) == 1
    assert c("ZREMRANGEBYSCORE", "z", "(2", 3) == 1
    assert c("ZRANGE", "z", 0, -1) == [b"b", b"d"]
    assert c("ZREMRANGEBYRANK", "z", 5, 10) == 0
    c("ZADD", "lex", 0, "a", 0, "b", 0, "c")
    assert c("ZREMRANGEBYLEX", "lex", "[a", "(c") == 2
    assert c("ZREMRANGEBYLEX", "lex", "-", "+") == 1
    assert c("EXISTS", "lex") == 0
    assert (b"zremrangebyrank", b"z") in events and (b"zremrangebyscore", b"z") in events
    assert events[-2:] == [(b"zremrangebylex", b"lex"), (b"del", b"lex")]


def test_zremrange_errors(c):
    abcd(c)
    assert err(c("ZREMRANGEBYRANK", "z", "a", 1)) == NOT_INTEGER
    assert err(c("ZREMRANGEBYSCORE", "z", "a", 1)) == NOT_FLOAT_RANGE
    assert err(c("ZREMRANGEBYLEX", "z", "a", 1)) == NOT_LEX_RANGE
    assert err(c("ZREMRANGEBYSCORE", "list", "a", 1)) == NOT_FLOAT_RANGE
    assert err(c("ZREMRANGEBYSCORE", "list", 0, 1)) == WRONGTYPE
    assert c("ZREMRANGEBYRANK", "nokey", 0, -1) == 0


def test_zremrange_that_removes_nothing_is_not_propagated(c, effects):
    abcd(c)
    c("ZREMRANGEBYSCORE", "z", 10, 20)
    c("ZREMRANGEBYRANK", "z", 0, 0)
    assert effects[-1] == [b"ZREMRANGEBYRANK", b"z", b"0", b"0"]
    assert len(effects) == 2


# -- ZPOPMIN / ZPOPMAX / ZMPOP --------------------------------------------------------------------------------

def test_zpopmin_and_zpopmax(c, events):
    abcd(c)
    assert c("ZPOPMIN", "z") == [b"a", b"1"]
    assert c("ZPOPMAX", "z", 2) == [b"d", b"4", b"c", b"3"]
    assert c("ZPOPMIN", "z", 0) == []
    assert c("ZPOPMIN", "z", 10) == [b"b", b"2"]
    assert c("EXISTS", "z") == 0
    assert c("ZPOPMIN", "z") == []
    assert c("ZPOPMAX", "z", 3) == []
    assert events[-2:] == [(b"zpopmin", b"z"), (b"del", b"z")]


def test_zpop_resp3_nests_only_with_a_count(c):
    abcd(c)
    c("HELLO", 3)
    assert c("ZPOPMIN", "z") == [b"a", 1.0]
    assert c("ZPOPMIN", "z", 1) == [[b"b", 2.0]]
    assert c("ZPOPMAX", "z", 0) == []


@pytest.mark.parametrize(("args", "message"), [
    (["-1"], "ERR value is out of range, must be positive"),
    (["a"], "ERR value is out of range, must be positive"),
    ([INT64_MIN], "ERR value is out of range, must be positive"),
    ([1, 2], SYNTAX),
])
def test_zpop_errors(c, args, message):
    abcd(c)
    assert err(c("ZPOPMIN", "z", *args)) == message


def test_zpop_type_is_checked_before_a_zero_count(c):
    assert err(c("ZPOPMIN", "list", 0)) == WRONGTYPE
    assert err(c("ZPOPMAX", "list")) == WRONGTYPE
    assert err(c("ZPOPMIN", "list", -1)) == "ERR value is out of range, must be positive"


def test_zmpop_pops_from_first_non_empty_key_and_propagates_zpop(c, effects):
    abcd(c)
    assert c("ZMPOP", 2, "nokey", "z", "MIN", "COUNT", 2) == [b"z", [[b"a", b"1"], [b"b", b"2"]]]
    assert c("ZMPOP", 1, "z", "MAX") == [b"z", [[b"d", b"4"]]]
    assert c("ZMPOP", 1, "z", "max", "count", 10) == [b"z", [[b"c", b"3"]]]
    assert c("ZMPOP", 1, "z", "MIN") is None
    assert effects[-3:] == [[b"ZPOPMIN", b"z", b"2"], [b"ZPOPMAX", b"z", b"1"], [b"ZPOPMAX", b"z", b"1"]]


@pytest.mark.parametrize(("args", "message"), [
    ([0, "z", "MIN"], "ERR numkeys should be greater than 0"),
    ([-1, "z", "MIN"], "ERR numkeys should be greater than 0"),
    (["a", "z", "MIN"], "ERR numkeys should be greater than 0"),
    ([2, "z", "MIN"], SYNTAX),
    ([1, "z", "foo"], SYNTAX),
    ([1, "z", "MIN", "COUNT", 0], "ERR count should be greater than 0"),
    ([1, "z", "MIN", "COUNT", -1], "ERR count should be greater than 0"),
    ([1, "z", "MIN", "COUNT", "a"], "ERR count should be greater than 0"),
    ([1, "z", "MIN", "COUNT"], SYNTAX),
    ([1, "z", "MIN", "COUNT", 1, "COUNT", 2], SYNTAX),
    ([1, "z", "MIN", "foo"], SYNTAX),
    ([2, "nokey", "list", "MIN"], WRONGTYPE),
    ([2, "list", "z", "MIN"], WRONGTYPE),
])
def test_zmpop_errors(c, args, message):
    abcd(c)
    assert err(c("ZMPOP", *args)) == message


def test_zmpop_resp3(c):
    c("ZADD", "z", "1.5", "a")
    c("HELLO", 3)
    assert c("ZMPOP", 1, "z", "MIN") == [b"z", [[b"a", 1.5]]]
    assert c("ZMPOP", 1, "z", "MIN") is None


def test_zmpop_key_positions(c):
    assert c("COMMAND", "GETKEYS", "ZMPOP", 2, "a", "b", "MIN") == [b"a", b"b"]
    assert c("COMMAND", "GETKEYS", "BZMPOP", 0, 2, "a", "b", "MIN") == [b"a", b"b"]
    assert c("COMMAND", "GETKEYS", "ZUNIONSTORE", "d", 2, "a", "b") == [b"d", b"a", b"b"]
    assert c("COMMAND", "GETKEYS", "ZINTER", 2, "a", "b", "WEIGHTS", 1, 2) == [b"a", b"b"]


# -- blocking pops -----------------------------------------------------------------------------------------

def test_bzpopmin_serves_at_once_when_a_key_has_members(c, effects):
    c("ZADD", "z2", 1, "a", 2, "b")
    assert c("BZPOPMIN", "z1", "z2", 0) == [b"z2", b"a", b"1"]
    assert c("BZPOPMAX", "z2", 0) == [b"z2", b"b", b"2"]
    assert effects[-2:] == [[b"ZPOPMIN", b"z2"], [b"ZPOPMAX", b"z2"]]


def test_bzpopmin_blocks_until_a_zadd(srv, effects):
    waiter, writer = srv.client(), srv.client()
    waiter.send(encode_request(["BZPOPMIN", "x", "y", 0]))
    assert waiter.replies() == []
    assert writer("ZADD", "y", 3, "m") == 1
    assert waiter.replies() == [[b"y", b"m", b"3"]]
    assert writer("EXISTS", "y") == 0
    assert effects[-1] == [b"ZPOPMIN", b"y"]


def test_blocked_pop_is_served_from_the_key_that_became_ready(srv):
    waiter, writer = srv.client(), srv.client()
    waiter.send(encode_request(["BZPOPMAX", "a", "b", 0]))
    writer("MULTI")
    writer("ZADD", "b", 1, "x")
    writer("ZADD", "a", 2, "y")
    writer("EXEC")
    assert waiter.replies() == [[b"b", b"x", b"1"]]


def test_blocked_pop_ignores_a_key_of_another_type(srv):
    waiter, writer = srv.client(), srv.client()
    ks = srv.server.keyspace
    waiter.send(encode_request(["BZMPOP", 0, 1, "k", "MIN", "COUNT", 5]))
    ks.add_key(ks.dbs[0], b"k", ListValue([b"x"]))
    ks.signal_ready(ks.dbs[0], b"k")
    writer("PING")  # any command runs the ready-key handling
    assert waiter.replies() == []
    writer("DEL", "k")
    writer("ZADD", "k", 1, "a", 2, "b")
    assert waiter.replies() == [[b"k", [[b"a", b"1"], [b"b", b"2"]]]]


def test_bzmpop_propagates_the_number_popped(srv, effects):
    waiter, writer = srv.client(), srv.client()
    waiter.send(encode_request(["BZMPOP", 0, 1, "k", "MAX", "COUNT", 9]))
    writer("ZADD", "k", 1, "a", 2, "b")
    assert waiter.replies() == [[b"k", [[b"b", b"2"], [b"a", b"1"]]]]
    assert effects[-1] == [b"ZPOPMAX", b"k", b"2"]


def test_blocking_pop_times_out_with_a_null_array(srv):
    waiter = srv.client()
    waiter.send(encode_request(["BZPOPMIN", "x", "0.05"]))
    assert waiter.replies() == []
    srv.advance(0.2)
    assert waiter.replies() == [None]
    assert waiter.transport.written == b""


def test_blocking_pops_inside_multi_answer_null_at_once(c):
    c("MULTI")
    c("BZPOPMIN", "x", 0)
    c("BZMPOP", 0, 1, "x", "MIN")
    assert c("EXEC") == [None, None]


@pytest.mark.parametrize(("timeout", "message"), [
    ("a", "ERR timeout is not a float or out of range"),
    (" 1", "ERR timeout is not a float or out of range"),
    ("1 ", "ERR timeout is not a float or out of range"),
    ("nan", "ERR timeout is not a float or out of range"),
    ("-1", "ERR timeout is negative"),
    ("inf", "ERR timeout is negative"),
    ("1e20", "ERR timeout is negative"),
    (INT64_MAX, "ERR timeout is negative"),
])
def test_blocking_pop_timeout_errors(c, timeout, message):
    assert err(c("BZPOPMIN", "z", timeout)) == message
    assert err(c("BZMPOP", timeout, 1, "z", "MIN")) == message


def test_blocking_pop_accepts_hex_and_tiny_timeouts(c):
    c("ZADD", "z", 1, "a", 2, "b")
    assert c("BZPOPMIN", "z", "0x10") == [b"z", b"a", b"1"]
    assert c("BZPOPMIN", "z", "1e-400") == [b"z", b"b", b"2"]


def test_blocking_pop_errors_in_argument_order(c):
    c("ZADD", "z", 1, "a")
    assert err(c("BZPOPMIN", "list", 0)) == WRONGTYPE
    assert c("BZPOPMIN", "z", "list", 0) == [b"z", b"a", b"1"]
    assert err(c("BZMPOP", "a", 0, "z", "MIN")) == "ERR numkeys should be greater than 0"
    assert err(c("BZMPOP", "a", 1, "z", "MIN")) == "ERR timeout is not a float or out of range"
    assert err(c("BZMPOP", 0, 1, "z")) == "ERR wrong number of arguments for 'bzmpop' command"


# -- ZUNION / ZINTER / ZDIFF / ZINTERCARD -----------------------------------------------------------------

def test_set_operations_with_weights_and_aggregates(c):
    c("ZADD", "z", 1, "a", 2, "b", 3, "c")
    # "set" holds a, b, x: plain set members score 1.
    assert c("ZUNION", 2, "z", "set", "WEIGHTS", 2, 3, "WITHSCORES") == [
        b"x", b"3", b"a", b"5", b"c", b"6", b"b", b"7"]
    assert c("ZUNION", 2, "z", "set", "WEIGHTS", 2, 3, "AGGREGATE", "MAX", "WITHSCORES") == [
        b"a", b"3", b"x", b"3", b"b", b"4", b"c", b"6"]
    assert c("ZINTER", 2, "z", "set", "WITHSCORES") == [b"a", b"2", b"b", b"3"]
    assert c("ZINTER", 2, "z", "z", "WEIGHTS", 1, 2, "WEIGHTS", 3, 4, "WITHSCORES") == [
        b"a", b"7", b"b", b"14", b"c", b"21"]
    assert c("ZDIFF", 2, "z", "set", "WITHSCORES") == [b"c", b"3"]
    assert c("ZDIFF", 1, "z") == [b"a", b"b", b"c"]
    assert c("ZINTERCARD", 2, "z", "set") == 2
    assert c("ZINTERCARD", 2, "z", "nokey") == 0
    assert c("ZINTERCARD", 1, "z", "LIMIT", 2) == 2
    assert c("ZINTERCARD", 1, "z", "LIMIT", 0) == 3
    assert c("ZINTERCARD", 1, "z", "LIMIT", 1, "LIMIT", 2) == 2


def test_set_operations_nan_conventions(c):
    c("ZADD", "inf", "inf", "a")
    assert c("ZUNION", 2, "inf", "inf", "WEIGHTS", 1, -1, "WITHSCORES") == [b"a", b"0"]
    assert c("ZUNION", 2, "inf", "inf", "WEIGHTS", 0, 1, "WITHSCORES") == [b"a", b"inf"]
    assert c("ZINTER", 2, "inf", "inf", "WEIGHTS", 1, 0, "WITHSCORES") == [b"a", b"0"]
    assert c("ZINTER", 2, "inf", "inf", "WEIGHTS", 1, 0, "AGGREGATE", "MAX", "WITHSCORES") == [b"a", b"inf"]
    assert c("ZINTER", 2, "inf", "inf", "WEIGHTS", 1, 0, "AGGREGATE", "MIN", "WITHSCORES") == [b"a", b"inf"]
    assert c("ZUNION", 2, "inf", "inf", "WEIGHTS", 1, 0, "AGGREGATE", "MIN", "WITHSCORES") == [b"a", b"0"]


def test_set_operations_resp3_pairs(c):
    c("ZADD", "z", 1, "a")
    c("HELLO", 3)
    assert c("ZUNION", 1, "z", "WITHSCORES") == [[b"a", 1.0]]
    assert c("ZDIFF", 1, "z") == [b"a"]


def test_store_forms_store_delete_and_notify(c, events):
    c("ZADD", "z", 1, "a", 2, "b", 3, "c")
    assert c("ZUNIONSTORE", "d", 2, "z", "set") == 4
    assert c("ZRANGE", "d", 0, -1, "WITHSCORES") == [b"x", b"1", b"a", b"2", b"b", b"3", b"c", b"3"]
    assert c("ZINTERSTORE", "d", 2, "z", "set", "AGGREGATE", "MIN") == 2
    assert c("ZDIFFSTORE", "d", 2, "z", "set") == 1
    assert c("ZRANGE", "d", 0, -1) == [b"c"]
    assert c("ZINTERSTORE", "d", 2, "z", "nokey") == 0
    assert c("EXISTS", "d") == 0
    assert events[-4:] == [(b"zunionstore", b"d"), (b"zinterstore", b"d"), (b"zdiffstore", b"d"),
                           (b"del", b"d")]


def test_store_of_an_empty_result_over_a_missing_key_changes_nothing(c, effects):
    assert c("ZUNIONSTORE", "d", 2, "nokey", "nokey2") == 0
    assert effects == []


def test_stored_result_encoding_follows_its_size(c):
    c("ZADD", "z", *[x for i in range(200) for x in (i, f"m{i}")])
    c("ZADD", "small", 1, "m1")
    c("ZINTERSTORE", "d1", 2, "z", "small")
    c("ZUNIONSTORE", "d2", 1, "z")
    assert c("OBJECT", "ENCODING", "d1") == b"listpack"
    assert c("OBJECT", "ENCODING", "d2") == b"skiplist"


@pytest.mark.parametrize(("args", "message"), [
    (["ZUNIONSTORE", "d", 0, "z"], "ERR at least 1 input key is needed for 'zunionstore' command"),
    (["ZUNIONSTORE", "d", -1, "z"], "ERR at least 1 input key is needed for 'zunionstore' command"),
    (["ZUNIONSTORE", "d", "a", "z"], NOT_INTEGER),
    (["ZUNIONSTORE", "d", 2, "z"], SYNTAX),
    (["ZUNIONSTORE", "d", 1, "z", "WEIGHTS"], SYNTAX),
    (["ZUNIONSTORE", "d", 1, "z", "WEIGHTS", "a"], "ERR weight value is not a float"),
    (["ZUNIONSTORE", "d", 1, "z", "WEIGHTS", 1, 2], SYNTAX),
    (["ZUNIONSTORE", "d", 1, "z", "AGGREGATE", "foo"], SYNTAX),
    (["ZUNIONSTORE", "d", 1, "z", "AGGREGATE"], SYNTAX),
    (["ZUNIONSTORE", "d", 1, "z", "WITHSCORES"], SYNTAX),
    (["ZUNIONSTORE", "d", 2, "z", "nokey", "WEIGHTS", "a"], SYNTAX),
    (["ZUNIONSTORE", "d", 2, "z", "list", "WEIGHTS", "a"], WRONGTYPE),
    (["ZUNION", 0, "z"], "ERR at least 1 input key is needed for 'zunion' command"),
    (["ZINTER", 1, "list", "foo"], WRONGTYPE),
    (["ZDIFF", 1, "z", "WEIGHTS", 1], SYNTAX),
    (["ZDIFF", 1, "z", "AGGREGATE", "SUM"], SYNTAX),
    (["ZDIFF", 0, "z"], "ERR at least 1 input key is needed for 'zdiff' command"),
    (["ZDIFFSTORE", "d", 0, "z"], "ERR at least 1 input key is needed for 'zdiffstore' command"),
    (["ZINTERCARD", 0, "z"], "ERR at least 1 input key is needed for 'zintercard' command"),
    (["ZINTERCARD", "a", "z"], NOT_INTEGER),
    (["ZINTERCARD", 2, "z"], SYNTAX),
    (["ZINTERCARD", 1, "z", "LIMIT", -1], "ERR LIMIT can't be negative"),
    (["ZINTERCARD", 1, "z", "LIMIT", "a"], "ERR LIMIT can't be negative"),
    (["ZINTERCARD", 1, "z", "LIMIT"], SYNTAX),
    (["ZINTERCARD", 1, "z", "WEIGHTS", 2], SYNTAX),
    (["ZINTERCARD", 1, "list", "LIMIT", -1], WRONGTYPE),
    (["ZINTERCARD", 2, "nokey", "list"], WRONGTYPE),
])
def test_set_operation_errors(c, args, message):
    c("ZADD", "z", 1, "a")
    assert err(c(*args)) == message


def test_withscores_may_repeat(c):
    c("ZADD", "z", 1, "a")
    assert c("ZUNION", 1, "z", "WITHSCORES", "WITHSCORES") == [b"a", b"1"]
