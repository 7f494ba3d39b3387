"""Bitmap commands in-process: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD, BITFIELD_RO.
Expected replies were taken from redis-server 7.0.15."""

from __future__ import annotations

import pytest

from emberkv.keyspace.db import NOTIFY_GENERIC, NOTIFY_STRING
from emberkv.keyspace.values import ListValue
from tests.inproc import InProcessServer, err

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
NOT_INTEGER = "ERR value is not an integer or out of range"
SYNTAX = "ERR syntax error"
BIT_OFFSET = "ERR bit offset is not an integer or out of range"
BIT_VALUE = "ERR bit is not an integer or out of range"
BAD_TYPE = ("ERR Invalid bitfield type. Use something like i16 u8. "
            "Note that u64 is not supported but i64 is.")


@pytest.fixture
def srv():
    server = InProcessServer()
    ks = server.server.keyspace
    ks.add_key(ks.dbs[0], b"list", ListValue([b"x"]))
    yield server
    server.close()


@pytest.fixture
def c(srv):
    return srv.client()


# -- SETBIT / GETBIT -----------------------------------------------------------------------------


def test_setbit_grows_the_string_and_returns_the_old_bit(c):
    assert c("SETBIT", "b", "9", "1") == 0
    assert c("GET", "b") == b"\x00\x40"
    assert c("SETBIT", "b", "9", "1") == 1
    assert c("SETBIT", "b", "9", "0") == 1
    assert c("GETBIT", "b", "9") == 0
    assert c("GETBIT", "b", "1000") == 0
    assert c("GETBIT", "missing", "0") == 0
    assert c("OBJECT", "ENCODING", "b") == b"raw"


def test_setbit_keeps_the_ttl(c):
    c("SET", "b", "a", "EX", "100")
    c("SETBIT", "b", "7", "0")
    assert c("GET", "b") == b"`"
    assert c("TTL", "b") == 100


@pytest.mark.parametrize("offset", ["-1", "abc", "01", "+1", "4294967296", "99999999999"])
def test_bit_offsets_outside_512mb_or_malformed_are_refused(c, offset):
    assert err(c("SETBIT", "b", offset, "1")) == BIT_OFFSET
    assert err(c("GETBIT", "b", offset)) == BIT_OFFSET
    assert err(c("GETBIT", "list", offset)) == BIT_OFFSET


@pytest.mark.parametrize("value", ["2", "-1", "01", "+1", " 1", "a", ""])
def test_setbit_value_must_be_0_or_1(c, value):
    assert err(c("SETBIT", "b", "0", value)) == BIT_VALUE
    assert err(c("SETBIT", "list", "0", value)) == BIT_VALUE


def test_bit_commands_refuse_other_types(c):
    assert err(c("SETBIT", "list", "0", "1")) == WRONGTYPE
    assert err(c("GETBIT", "list", "0")) == WRONGTYPE


def test_offset_limit_follows_proto_max_bulk_len():
    srv = InProcessServer("--proto-max-bulk-len", "1mb")
    c = srv.client()
    assert c("SETBIT", "b", str(8 * 1024 * 1024 - 1), "1") == 0
    assert err(c("SETBIT", "b", str(8 * 1024 * 1024), "1")) == BIT_OFFSET
    assert c("BITFIELD", "f", "SET", "u8", "#1048575", "1") == [0]
    assert err(c("BITFIELD", "f", "GET", "u8", str(8 * 1024 * 1024))) == BIT_OFFSET
    srv.close()


def test_setbit_that_changes_nothing_is_not_a_write(c, srv):
    ks = srv.server.keyspace
    c("SET", "b", "1")  # 0x31: bit 2 is set
    dirty = ks.dirty
    assert c("SETBIT", "b", "2", "1") == 1
    assert ks.dirty == dirty
    assert c("SETBIT", "b", "1", "1") == 0
    assert ks.dirty == dirty + 1


# -- BITCOUNT ------------------------------------------------------------------------------------


@pytest.mark.parametrize("args,expected", [
    ([], 26), (["0", "0"], 4), (["1", "1"], 6), (["0", "-1", "bit"], 26), (["5", "30", "BIT"], 17),
    (["0", "-1", "byte"], 26), (["-100", "-50"], 4), (["-3", "-1"], 10), (["2", "1"], 0),
    (["-2", "-3"], 0), (["-2", "-3", "foo"], 0),
    ([str(-(2**63)), str(2**63 - 1)], 26), ([str(-(2**63)), str(2**63 - 1), "bit"], 26),
])
def test_bitcount_ranges(c, args, expected):
    c("SET", "s", "foobar")
    assert c("BITCOUNT", "s", *args) == expected


def test_bitcount_looks_at_the_key_before_the_arguments(c):
    assert c("BITCOUNT", "missing", "a", "b") == 0
    assert c("BITCOUNT", "missing", "0") == 0
    assert err(c("BITCOUNT", "list", "0")) == WRONGTYPE
    c("SET", "s", "foobar")
    assert err(c("BITCOUNT", "s", "0")) == SYNTAX
    assert err(c("BITCOUNT", "s", "a", "1")) == NOT_INTEGER
    assert err(c("BITCOUNT", "s", "0", "-1", "foo")) == SYNTAX
    assert err(c("BITCOUNT", "s", "0", "-1", "bit", "x")) == SYNTAX


# -- BITPOS --------------------------------------------------------------------------------------


@pytest.mark.parametrize("value,args,expected", [
    (b"\xff\xff\xff", ["0"], 24), (b"\xff\xff\xff", ["0", "1"], 24), (b"\xff\xff\xff", ["0", "1", "1"], -1),
    (b"\xff\xff\xff", ["0", "3"], -1), (b"\xff\xff\xff", ["0", "-100"], 24),
    (b"\xff\xff\xff", ["0", "0", "10", "bit"], -1), (b"\xff\xff\xff", ["1", "0", "1", "BYTE"], 0),
    (b"\x00\x00\x01", ["1"], 23), (b"\x00\x00\x01", ["1", "-2", "-1", "bit"], 23),
    (b"\x00\x00\x01", ["0", "-2", "-1", "bit"], 22), (b"\x00\x00\x01", ["1", "22", "22", "bit"], -1),
    (b"\x00\x00\x01", ["1", "23", "23", "bit"], 23), (b"\x00\x00\x01", ["1", "-1", "-2"], -1),
    (b"\xff", ["1", "-2", "-3"], 0), (b"", ["0"], -1), (b"", ["1"], -1),
    (b"foobar", ["1", "2", "-1", "bit"], 2), (b"foobar", ["0", "1", "1"], 8),
])
def test_bitpos(c, value, args, expected):
    c("SET", "s", value)
    assert c("BITPOS", "s", *args) == expected


def test_bitpos_argument_checks_in_redis_order(c):
    assert err(c("BITPOS", "missing", "2")) == "ERR The bit argument must be 1 or 0."
    assert err(c("BITPOS", "list", "a")) == NOT_INTEGER
    assert c("BITPOS", "missing", "0", "a") == 0
    assert c("BITPOS", "missing", "1", "0", "1", "bit", "x") == -1
    assert err(c("BITPOS", "list", "1", "a")) == WRONGTYPE
    c("SET", "s", "abc")
    assert err(c("BITPOS", "s", "0", "a", "2", "bit", "x")) == SYNTAX
    assert err(c("BITPOS", "s", "0", "a", "2", "foo")) == NOT_INTEGER
    assert err(c("BITPOS", "s", "0", "0", "a", "foo")) == SYNTAX
    assert err(c("BITPOS", "s", "0", "3", "bit")) == NOT_INTEGER


# -- BITOP ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("op,keys,expected", [
    ("AND", ["a", "b"], b"\x0f\x00"), ("or", ["a", "b"], b"\xff\xf0"), ("XOR", ["a", "b"], b"\xf0\xf0"),
    ("NOT", ["a"], b"\xf0\x0f"), ("OR", ["missing", "a"], b"\x0f\xf0"), ("AND", ["a", "missing"], b"\x00\x00"),
])
def test_bitop(c, op, keys, expected):
    c("MSET", "a", b"\x0f\xf0", "b", b"\xff")
    assert c("BITOP", op, "d", *keys) == len(expected)
    assert c("GET", "d") == expected
    assert c("OBJECT", "ENCODING", "d") == b"raw"


def test_bitop_with_empty_result_deletes_the_destination(c):
    c("SET", "d", "x", "EX", "100")
    assert c("BITOP", "AND", "d", "missing") == 0
    assert c("EXISTS", "d") == 0
    c("SET", "d", "x", "EX", "100")
    c("SET", "a", "y")
    assert c("BITOP", "NOT", "d", "a") == 1
    assert c("TTL", "d") == -1


def test_bitop_errors(c):
    assert err(c("BITOP", "NOT", "d", "a", "b")) == "ERR BITOP NOT must be called with a single source key."
    assert err(c("BITOP", "FOO", "d", "list")) == SYNTAX
    assert err(c("BITOP", "AND", "d", "list", "missing")) == WRONGTYPE
    assert err(c("BITOP", "AND", "d")) == "ERR wrong number of arguments for 'bitop' command"
    assert c("BITOP", "AND", "list", "missing") == 0
    assert c("EXISTS", "list") == 0


def test_bitop_events(c, srv):
    seen = []
    ks = srv.server.keyspace
    ks.notify_flags = NOTIFY_STRING | NOTIFY_GENERIC
    ks.notifier = lambda cls, event, db, key: seen.append(event)
    c("SET", "a", "x")
    c("BITOP", "OR", "d", "a")
    c("BITOP", "AND", "d", "missing")
    assert seen == [b"set", b"set", b"del"]


# -- BITFIELD ------------------------------------------------------------------------------------


def test_bitfield_get_set_incrby_and_overflow_modes(c):
    assert c("BITFIELD", "k") == []
    assert c("BITFIELD", "k", "GET", "u8", "0") == [0]
    assert c("EXISTS", "k") == 0
    assert c("BITFIELD", "k", "SET", "u8", "0", "255", "GET", "u8", "0") == [0, 255]
    assert c("BITFIELD", "k", "INCRBY", "u8", "0", "10") == [9]
    assert c("BITFIELD", "k", "OVERFLOW", "SAT", "INCRBY", "u8", "0", "300") == [255]
    assert c("BITFIELD", "k", "overflow", "fail", "incrby", "u8", "0", "1") == [None]
    assert c("BITFIELD", "k", "OVERFLOW", "WRAP", "INCRBY", "i8", "0", "1") == [0]
    assert c("BITFIELD", "k", "GET", "i64", "0", "GET", "u63", "0") == [0, 0]


@pytest.mark.parametrize("ops,expected", [
    (["SET", "i8", "0", "-129", "GET", "i8", "0"], [0, 127]),
    (["SET", "u8", "0", "9223372036854775807", "GET", "u8", "0"], [0, 255]),
    (["SET", "i64", "0", str(-(2**63)), "INCRBY", "i64", "0", "-1"], [0, 2**63 - 1]),
    (["SET", "i64", "0", str(-(2**63)), "OVERFLOW", "SAT", "INCRBY", "i64", "0", "-1"], [0, -(2**63)]),
    (["OVERFLOW", "FAIL", "SET", "u2", "0", "4"], [None]),
    (["OVERFLOW", "SAT", "SET", "u2", "0", "4", "GET", "u2", "0"], [0, 3]),
    (["OVERFLOW", "SAT", "SET", "i2", "0", "-4", "GET", "i2", "0"], [0, -2]),
    (["OVERFLOW", "SAT", "SET", "u2", "0", "-1", "GET", "u2", "0"], [0, 3]),
    (["OVERFLOW", "WRAP", "SET", "u2", "0", "-1", "GET", "u2", "0"], [0, 3]),
    (["OVERFLOW", "FAIL", "SET", "i2", "0", "-3"], [None]),
    (["OVERFLOW", "FAIL", "SET", "u63", "0", "-1"], [None]),
    (["SET", "u8", "#2", "1", "GET", "u24", "0"], [0, 1]),
    (["SET", "u4", "6", "15", "GET", "u8", "0", "GET", "u8", "8"], [0, 3, 192]),
    (["SET", "i5", "3", "-1", "GET", "i5", "3", "GET", "u5", "3", "GET", "i1", "3"], [0, -1, 31, -1]),
])
def test_bitfield_field_arithmetic(c, ops, expected):
    assert c("BITFIELD", "k", *ops) == expected


def test_bitfield_grows_the_string_for_every_write_even_a_failing_one(c):
    c("SET", "k", "a")
    assert c("BITFIELD", "k", "OVERFLOW", "FAIL", "INCRBY", "u8", "100", "300") == [None]
    assert c("STRLEN", "k") == 14
    assert c("BITFIELD", "n", "OVERFLOW", "FAIL", "INCRBY", "u8", "0", "300") == [None]
    assert c("GET", "n") == b"\x00"


def test_bitfield_keeps_the_encoding_for_reads_only(c):
    c("SET", "k", "5")
    assert c("BITFIELD", "k", "GET", "u8", "0") == [53]
    assert c("OBJECT", "ENCODING", "k") == b"int"
    c("BITFIELD", "k", "SET", "u8", "0", "54")
    assert c("OBJECT", "ENCODING", "k") == b"raw"


@pytest.mark.parametrize("ops,error", [
    (["GET", "u64", "0"], BAD_TYPE), (["GET", "i65", "0"], BAD_TYPE), (["GET", "i0", "0"], BAD_TYPE),
    (["GET", "x8", "0"], BAD_TYPE), (["GET", "U8", "0"], BAD_TYPE), (["GET", "u08", "0"], BAD_TYPE),
    (["SET", "x8", "a", "b"], BAD_TYPE), (["SET", "u8", "a", "b"], BIT_OFFSET),
    (["GET", "u8", "-1"], BIT_OFFSET), (["GET", "u8", "#-1"], BIT_OFFSET), (["GET", "u8", "#a"], BIT_OFFSET),
    (["GET", "u8", "#1152921504606846975"], BIT_OFFSET), (["SET", "u8", "0", "a"], NOT_INTEGER),
    (["SET", "u8", "0", "9223372036854775808"], NOT_INTEGER), (["INCRBY", "u8", "0", "a"], NOT_INTEGER),
    (["OVERFLOW", "foo"], "ERR Invalid OVERFLOW type specified"), (["OVERFLOW"], SYNTAX),
    (["FOO"], SYNTAX), (["GET", "u8"], SYNTAX), (["SET", "u8", "0"], SYNTAX),
    (["GET", "u8", "0", "GET"], SYNTAX),
])
def test_bitfield_parse_errors_come_before_the_type_check(c, ops, error):
    assert err(c("BITFIELD", "list", *ops)) == error


def test_bitfield_refuses_other_types(c):
    assert err(c("BITFIELD", "list")) == WRONGTYPE
    assert err(c("BITFIELD", "list", "GET", "u8", "0")) == WRONGTYPE
    assert err(c("BITFIELD", "list", "SET", "u8", "0", "1")) == WRONGTYPE
    assert err(c("BITFIELD_RO", "list")) == WRONGTYPE


def test_bitfield_ro_only_reads(c):
    c("SET", "k", "A")
    assert c("BITFIELD_RO", "k", "GET", "u8", "0", "OVERFLOW", "SAT") == [65]
    ro = "ERR BITFIELD_RO only supports the GET subcommand"
    assert err(c("BITFIELD_RO", "k", "SET", "u8", "0", "1")) == ro
    assert err(c("BITFIELD_RO", "k", "INCRBY", "u8", "0", "1")) == ro
    assert err(c("BITFIELD_RO", "k", "SET", "u8", "0", "1", "GET", "x8", "0")) == BAD_TYPE


def test_bitfield_propagates_only_real_changes(c, srv):
    ks = srv.server.keyspace
    c("SET", "k", "1")
    dirty = ks.dirty
    c("BITFIELD", "k", "SET", "u1", "2", "1", "INCRBY", "u1", "2", "0")
    assert ks.dirty == dirty
    c("BITFIELD", "k", "SET", "u1", "2", "0")
    assert ks.dirty == dirty + 1
