"""INCR/DECR/INCRBY/DECRBY/INCRBYFLOAT in-process, and the exact long double arithmetic behind
INCRBYFLOAT. Expected texts were taken from redis-server 7.0.15 (x86-64, 80-bit long double);
test_differential_strings.py checks random values against a live one."""

from __future__ import annotations

import pytest

from emberkv.commands.errors import CommandError
from emberkv.commands.longdouble import incr_long_double, parse_long_double
from emberkv.keyspace.values import ListValue
from tests.inproc import InProcessServer, err

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
NOT_INTEGER = "ERR value is not an integer or out of range"
NOT_FLOAT = "ERR value is not a valid float"
OVERFLOW = "ERR increment or decrement would overflow"
NAN_OR_INF = "ERR increment would produce NaN or Infinity"
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


@pytest.fixture
def c():
    srv = InProcessServer()
    ks = srv.server.keyspace
    ks.add_key(ks.dbs[0], b"list", ListValue([b"x"]))
    yield srv.client()
    srv.close()


def test_incr_family_creates_and_counts(c):
    assert c("INCR", "n") == 1
    assert c("INCRBY", "n", "10") == 11
    assert c("DECR", "n") == 10
    assert c("DECRBY", "n", "-5") == 15
    assert c("GET", "n") == b"15"


def test_incr_keeps_the_ttl(c):
    c("SET", "n", "1", "EX", "100")
    c("INCR", "n")
    assert c("TTL", "n") == 100


@pytest.mark.parametrize("stored", ["00", "-0", "+1", " 1", "1 ", "1.5", "", "abc",
                                    "9223372036854775808", "0x10"])
def test_incr_refuses_values_redis_does_not_read_as_integers(c, stored):
    c("SET", "n", stored)
    assert err(c("INCR", "n")) == NOT_INTEGER
    assert c("GET", "n") == stored.encode()


@pytest.mark.parametrize("start,command", [
    (INT64_MAX, ("INCR", "n")), (INT64_MIN, ("DECR", "n")), (INT64_MIN, ("INCRBY", "n", "-1")),
    (INT64_MIN, ("DECRBY", "n", "1")), (-1, ("INCRBY", "n", str(INT64_MIN))), (5, ("INCRBY", "n", str(INT64_MAX))),
])
def test_overflow_is_refused_and_leaves_the_value(c, start, command):
    c("SET", "n", str(start))
    assert err(c(*command)) == OVERFLOW
    assert c("GET", "n") == str(start).encode()


def test_decrby_of_int64_min_is_refused_before_looking_at_the_key(c):
    assert err(c("DECRBY", "n", str(INT64_MIN))) == "ERR decrement would overflow"
    assert err(c("DECRBY", "list", str(INT64_MIN))) == "ERR decrement would overflow"
    assert c("EXISTS", "n") == 0


def test_incrby_of_int64_min_is_fine_when_it_fits(c):
    assert c("INCRBY", "n", str(INT64_MIN)) == INT64_MIN
    assert c("INCRBY", "n", "0") == INT64_MIN


def test_increment_argument_errors_come_before_the_type_check(c):
    for cmd in ("INCRBY", "DECRBY"):
        for bad in ("abc", "1.5", "", "9223372036854775808", "01"):
            assert err(c(cmd, "list", bad)) == NOT_INTEGER
    for cmd in ("INCR", "DECR"):
        assert err(c(cmd, "list")) == WRONGTYPE
    assert err(c("INCRBY", "list", "1")) == WRONGTYPE


# -- INCRBYFLOAT ---------------------------------------------------------------------------------


def test_incrbyfloat_checks_the_type_before_the_increment(c):
    assert err(c("INCRBYFLOAT", "list", "abc")) == WRONGTYPE
    c("SET", "k", "abc")
    assert err(c("INCRBYFLOAT", "k", "1")) == NOT_FLOAT
    assert err(c("INCRBYFLOAT", "k", "inf")) == NOT_FLOAT


def test_incrbyfloat_keeps_ttl_and_refuses_infinity(c):
    c("SET", "k", "10.5", "EX", "100")
    assert c("INCRBYFLOAT", "k", "0.1") == b"10.6"
    assert c("TTL", "k") == 100
    assert err(c("INCRBYFLOAT", "k", "inf")) == NAN_OR_INF
    assert err(c("INCRBYFLOAT", "k", "1e5000")) == NOT_FLOAT
    c("SET", "big", "1.18973149535723176502e+4932")
    assert err(c("INCRBYFLOAT", "big", "1.18973149535723176502e+4932")) == NAN_OR_INF
    c("SET", "i", "inf")
    assert err(c("INCRBYFLOAT", "i", "-inf")) == NAN_OR_INF
    assert c("GET", "k") == b"10.6"


# Pairs of (current, increment) -> Redis's reply, as observed on redis-server 7.0.15.
REDIS_INCRBYFLOAT = [
    ("0", "0.1", b"0.1"), ("0.1", "0.2", b"0.3"), ("0", "1e20", b"100000000000000000000"),
    ("1.5", "1.5", b"3"), ("10", "1", b"11"), ("0", "1e-20", b"0"), ("0", "-1e-20", b"0"),
    ("0", "-0", b"0"), ("0", "0.000003814697265625", b"0.00000381469726562"),
    ("0", "12345678901234567890123456789012345678901234567890",
     b"12345678901234567890019423336468287027557880037376"),
    ("0", "0x1p3", b"8"), ("0", "0X1P-1", b"0.5"), ("0", "0x.8", b"0.5"), ("0", "+.5", b"0.5"),
    ("0", "5.", b"5"), ("5.5", "1E+2", b"105.5"), ("0", "1e-4940", b"0"), ("0", "2e-4951", b"0"),
    ("0", "0x1p-16445", b"0"), ("0", "0x1.8p-16446", b"0"), ("0" * 5118 + "1", "1", b"2"),
    ("0", "0" * 5118 + "1", b"1"),
]


@pytest.mark.parametrize("current,increment,expected", REDIS_INCRBYFLOAT)
def test_incr_long_double_matches_redis(current, increment, expected):
    assert incr_long_double(current.encode(), increment.encode()) == expected


def test_incr_long_double_prints_huge_values_in_full():
    text = incr_long_double(b"0", b"1e4000")
    assert len(text) == 4000 and text.startswith(b"99999999999999999999654638730996")
    assert len(incr_long_double(b"0", b"1.18973149535723176502e+4932")) == 4933


@pytest.mark.parametrize("increment", [
    "1e5000", " 1", "1 ", "1\t", "nan", "-nan", "nan(1)", "1e-4960", "1e-4951", "0x1p-16446",
    "1.18973149535723176508e+4932", "0x", "0x.", "1e", "1e+", ".", "", "infin", "0x1p+",
    "1.5\x00abc", "\x001.5", "1" * 5119, "0" * 5119 + "1", "1_000", "١",
])
def test_incr_long_double_refuses_what_redis_refuses(increment):
    with pytest.raises(CommandError) as info:
        incr_long_double(b"0", increment.encode())
    assert info.value.message == NOT_FLOAT.encode()


@pytest.mark.parametrize("increment", ["inf", "-inf", "infinity", "InFiNiTy", "+INF"])
def test_infinite_increments_parse_but_produce_infinity(increment):
    with pytest.raises(CommandError) as info:
        incr_long_double(b"0", increment.encode())
    assert info.value.message == NAN_OR_INF.encode()


def test_current_value_error_text_is_the_callers():
    with pytest.raises(CommandError) as info:
        incr_long_double(b"abc", b"1", current_error="ERR hash value is not a float")
    assert info.value.message == b"ERR hash value is not a float"
    with pytest.raises(CommandError) as info:
        incr_long_double(b"abc", b"xyz", current_error="ERR hash value is not a float")
    assert info.value.message == NOT_FLOAT.encode()


def test_parse_long_double_is_exact_and_costs_nothing_for_absurd_exponents():
    assert parse_long_double(b"0.5") == 0.5
    assert parse_long_double(b"1e999999999999999999999") is None
    assert parse_long_double(b"1e-999999999999999999999") is None
    assert parse_long_double(b"0e999999999999999999999") == 0
    assert parse_long_double(b"0x1p99999999999999") is None


def test_infinity_plus_a_huge_finite_value_is_refused_cleanly():
    with pytest.raises(CommandError) as info:
        incr_long_double(b"0x7ffffffffffffa.3fap16327", b"inf")
    assert info.value.message == NAN_OR_INF.encode()
