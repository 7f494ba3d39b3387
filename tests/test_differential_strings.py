"""Differential tests: the same commands go to a spawned emberkv-server and a spawned redis-server 7.0,
and every reply must be identical (as hiredis parses them, errors compared by text).

Covered: string and bitmap commands, keyspace commands (DEL, EXISTS, TYPE, RENAME, COPY, OBJECT
ENCODING), expiry with absolute times, and transactions (MULTI/EXEC/DISCARD, WATCH broken or not by a
second connection). Relative expire times give each server its own deadline, so those deadlines are
compared as "relative" only; everything else must match to the millisecond.

Known, deliberate difference: Redis reports an INCRBYFLOAT result that reads as an integer ("3") as
embstr and leaves a string's encoding raw after a SETBIT/BITFIELD that changed nothing; emberkv's
value model derives the encoding from the content there. OBJECT ENCODING is not compared for keys in
that state (tracked below).
"""

from __future__ import annotations

import socket

import hiredis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

from emberkv.commands.errors import CommandError
from emberkv.commands.longdouble import incr_long_double
from tests.inproc import encode_request
from tests.servers import REDIS_SERVER, start_emberkv, start_redis

pytestmark = pytest.mark.skipif(
    REDIS_SERVER is None,
    reason="redis-server is not installed: differential tests need it (CI installs it)")

# DUMP of a Redis 7.0 list ["x", "y"]: gives both servers a non-string key for WRONGTYPE paths.
LIST_PAYLOAD = b"\x12\x01\x02\r\r\x00\x00\x00\x02\x00\x81x\x02\x81y\x02\xff\n\x00~\x97[V\x8d\x1a\xfao"


class RawConnection:
    """A bare RESP connection: replies exactly as hiredis parses them, no client-side conversion."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.reader = hiredis.Reader()

    def __call__(self, *args: bytes):
        self.sock.sendall(encode_request(args))
        try:
            return self.read()
        except TimeoutError as exc:
            raise TimeoutError(f"no reply to {args[:4]!r} within 10 s") from exc

    def read(self):
        while (reply := self.reader.gets()) is False:
            data = self.sock.recv(1 << 20)
            if not data:
                raise ConnectionError("server closed the connection")
            self.reader.feed(data)
        return reply

    def resync(self) -> None:
        """Skip replies left unread by a step that failed half-way, so the next example starts clean."""
        self.nonce = getattr(self, "nonce", 0) + 1
        token = b"resync-%d" % self.nonce
        self.sock.sendall(encode_request([b"ECHO", token]))
        while self.read() != token:
            pass

    def close(self) -> None:
        self.sock.close()


def comparable(reply):
    if isinstance(reply, hiredis.ReplyError):
        return ("error", str(reply))
    if isinstance(reply, list):
        return [comparable(item) for item in reply]
    return reply


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    ember = start_emberkv(tmp_path_factory.mktemp("emberkv"))
    redis = start_redis(tmp_path_factory.mktemp("redis"))
    conns = {"ember": [RawConnection(ember.port), RawConnection(ember.port)],
             "redis": [RawConnection(redis.port), RawConnection(redis.port)]}
    yield conns
    for pair in conns.values():
        for conn in pair:
            conn.close()
    ember.stop()
    redis.stop()


# -- strategies ----------------------------------------------------------------------------------

KEYS = [b"a", b"b", b"c", b"list"]
key = st.sampled_from(KEYS)
value = st.one_of(
    st.sampled_from([b"", b"x", b"hello", b"123", b"-5", b"1.5", b"007", b"9223372036854775807",
                     b"\xff\x00\x0f", b"x" * 44, b"y" * 45, b"1e3", b"0x10"]),
    st.binary(max_size=6), st.integers(-1000, 1000).map(lambda n: b"%d" % n))
integer = st.one_of(
    st.sampled_from([b"0", b"1", b"-1", b"9223372036854775807", b"-9223372036854775808",
                     b"9223372036854775808", b"abc", b"", b"01", b"+1", b"1.5"]),
    st.integers(-40, 40).map(lambda n: b"%d" % n))
offset = st.one_of(st.integers(0, 40).map(lambda n: b"%d" % n), integer)
float_text = st.one_of(integer, st.sampled_from(
    [b"0.1", b"1e20", b"-2.5", b"inf", b"1e4000", b"0x1p3", b"1.5e-3", b"nan", b" 1", b"1e5000"]),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: repr(f).encode()))
# Absolute times: far future (exact on both sides) or long past; relative: far enough to never fire.
abs_seconds = st.sampled_from([b"4102444800", b"4102444801", b"1", b"0", b"-5", b"abc"])
abs_millis = st.sampled_from([b"4102444800000", b"4102444800123", b"1000", b"1", b"9223372036854775807"])
rel_seconds = st.sampled_from([b"100000", b"0", b"-1", b"abc", b"9223372036854775"])


def options(vocabulary: list[bytes], with_value: dict[bytes, st.SearchStrategy]):
    """Random option tokens, each valued option usually followed by a value (sometimes not)."""
    token = st.sampled_from(vocabulary).flatmap(
        lambda t: (st.tuples(st.just(t), with_value[t]).map(list) | st.just([t]))
        if t in with_value else st.just([t]))
    return st.lists(token, max_size=3).map(lambda parts: [x for part in parts for x in part])


SET_VALUES = {b"EX": rel_seconds, b"PX": rel_seconds, b"EXAT": abs_seconds, b"PXAT": abs_millis}
set_options = options([b"NX", b"XX", b"GET", b"KEEPTTL", b"EX", b"PX", b"EXAT", b"PXAT", b"nx", b"get"],
                      SET_VALUES)
getex_options = options([b"PERSIST", b"EX", b"PX", b"EXAT", b"PXAT"], SET_VALUES)
lcs_options = options([b"IDX", b"LEN", b"WITHMATCHLEN", b"MINMATCHLEN"], {b"MINMATCHLEN": integer})
unit = st.sampled_from([b"BIT", b"BYTE", b"bit", b"foo"])
field_type = st.sampled_from([b"u8", b"i8", b"u1", b"i1", b"u63", b"i64", b"u64", b"i5", b"u3", b"x8"])
field_offset = st.one_of(offset, st.sampled_from([b"#0", b"#1", b"#3", b"#-1"]))
field_op = st.one_of(
    st.tuples(st.just(b"GET"), field_type, field_offset),
    st.tuples(st.sampled_from([b"SET", b"INCRBY"]), field_type, field_offset, integer),
    st.tuples(st.just(b"OVERFLOW"), st.sampled_from([b"WRAP", b"SAT", b"FAIL", b"x"])),
).map(list)
field_ops = st.lists(field_op, max_size=3).map(lambda ops: [x for op in ops for x in op])


def cmd(*parts) -> st.SearchStrategy:
    return st.tuples(*[st.just(p) if isinstance(p, bytes) else p for p in parts]).map(list)


def pairs(min_size: int = 1):
    return st.lists(st.tuples(key, value), min_size=min_size, max_size=3).map(
        lambda ps: [x for p in ps for x in p])


command = st.one_of(
    cmd(b"GET", key), cmd(b"SET", key, value), cmd(b"SETNX", key, value),
    st.tuples(cmd(b"SET", key, value), set_options).map(lambda t: t[0] + t[1]),
    cmd(b"SETEX", key, rel_seconds, value), cmd(b"PSETEX", key, rel_seconds, value),
    cmd(b"GETSET", key, value), cmd(b"GETDEL", key),
    st.tuples(cmd(b"GETEX", key), getex_options).map(lambda t: t[0] + t[1]),
    st.lists(key, min_size=1, max_size=4).map(lambda ks: [b"MGET", *ks]),
    pairs(0).map(lambda p: [b"MSET", *p]), pairs(0).map(lambda p: [b"MSETNX", *p]),
    cmd(b"APPEND", key, value), cmd(b"STRLEN", key),
    cmd(st.sampled_from([b"GETRANGE", b"SUBSTR"]), key, integer, integer),
    cmd(b"SETRANGE", key, offset, value),
    cmd(st.sampled_from([b"INCR", b"DECR"]), key), cmd(st.sampled_from([b"INCRBY", b"DECRBY"]), key, integer),
    cmd(b"INCRBYFLOAT", key, float_text),
    st.tuples(cmd(b"LCS", key, key), lcs_options).map(lambda t: t[0] + t[1]),
    cmd(b"SETBIT", key, offset, st.sampled_from([b"0", b"1", b"2"])), cmd(b"GETBIT", key, offset),
    st.tuples(cmd(b"BITCOUNT", key), st.lists(integer, max_size=2), st.lists(unit, max_size=1)).map(
        lambda t: t[0] + t[1] + t[2]),
    st.tuples(cmd(b"BITPOS", key, st.sampled_from([b"0", b"1", b"2"])), st.lists(integer, max_size=2),
              st.lists(unit, max_size=1)).map(lambda t: t[0] + t[1] + t[2]),
    st.tuples(cmd(b"BITOP", st.sampled_from([b"AND", b"OR", b"XOR", b"NOT", b"FOO"]), key),
              st.lists(key, min_size=1, max_size=3)).map(lambda t: t[0] + t[1]),
    st.tuples(cmd(st.sampled_from([b"BITFIELD", b"BITFIELD_RO"]), key), field_ops).map(
        lambda t: t[0] + t[1]),
    st.lists(key, min_size=1, max_size=3).map(lambda ks: [b"DEL", *ks]),
    st.lists(key, min_size=1, max_size=3).map(lambda ks: [b"EXISTS", *ks]),
    cmd(b"TYPE", key), cmd(b"OBJECT", b"ENCODING", key), cmd(b"RENAME", key, key),
    st.tuples(cmd(b"COPY", key, key), st.lists(st.just(b"REPLACE"), max_size=1)).map(
        lambda t: t[0] + t[1]),
    st.tuples(cmd(b"EXPIREAT", key, abs_seconds), st.lists(
        st.sampled_from([b"NX", b"XX", b"GT", b"LT"]), max_size=1)).map(lambda t: t[0] + t[1]),
    cmd(b"PEXPIREAT", key, abs_millis), cmd(b"PERSIST", key),
    cmd(st.sampled_from([b"PEXPIRETIME", b"EXPIRETIME"]), key),
)

# Commands after which Redis's OBJECT ENCODING cannot be derived from the content (see the top).
_ENCODING_BLUR = {b"INCRBYFLOAT", b"SETBIT", b"BITFIELD"}
# Commands that, when they succeed, rewrite their key's value whole (or delete it).
_KEY_REWRITERS = {b"SETEX", b"PSETEX", b"GETSET", b"INCR", b"DECR", b"INCRBY", b"DECRBY", b"APPEND",
                  b"GETDEL"}


# The absolute deadlines the strategies use, in ms; any other deadline came from a relative time.
_ABSOLUTE_MS = {4102444800000, 4102444801000, 4102444800123, 9223372036854775807}


def normalise(args: list[bytes], reply):
    """Replace deadlines that came from a relative time (each server has its own) by a marker."""
    if args[0] == b"PEXPIRETIME" and isinstance(reply, int) and reply > 0:
        if reply not in _ABSOLUTE_MS:
            return "relative deadline"
    if args[0] == b"EXPIRETIME" and isinstance(reply, int) and reply > 0:
        if all((ms + 500) // 1000 != reply for ms in _ABSOLUTE_MS):
            return "relative deadline"
    return comparable(reply)


@settings(max_examples=200, stateful_step_count=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
class StringsAgainstRedis(RuleBasedStateMachine):
    conns: dict = {}

    @initialize()
    def fresh_keyspace(self) -> None:
        self.blurred: set[bytes] = set()
        for side in ("ember", "redis"):
            for conn in self.conns[side]:
                # A failed example may have left unread replies or a transaction open.
                conn.resync()
                conn(b"DISCARD")
                conn(b"UNWATCH")
            self.conns[side][0](b"FLUSHALL")
            assert self.conns[side][0](b"RESTORE", b"list", b"0", LIST_PAYLOAD) == b"OK"

    def send(self, who: int, args: list[bytes]):
        ember = self.conns["ember"][who](*args)
        redis = self.conns["redis"][who](*args)
        self.compare(args, ember, redis)
        return redis, ember

    def compare(self, args: list[bytes], ember, redis) -> None:
        if args[0] == b"OBJECT" and args[2] in self.blurred and not isinstance(redis, hiredis.ReplyError):
            assert not isinstance(ember, hiredis.ReplyError), (args, ember, redis)
            return
        assert normalise(args, ember) == normalise(args, redis), (args, ember, redis)

    def track(self, args: list[bytes], reply) -> None:
        """Follow which keys Redis may encode differently; forgetting one only when certain."""
        if isinstance(reply, hiredis.ReplyError):
            return
        name, blurred = args[0], self.blurred
        if name in _ENCODING_BLUR:
            blurred.add(args[1])
        elif name == b"SET" and not {a.lower() for a in args[3:]} & {b"nx", b"xx"}:
            blurred.discard(args[1])
        elif name in _KEY_REWRITERS or (name == b"SETRANGE" and args[3]):
            blurred.discard(args[1])
        elif name == b"DEL" or (name == b"SETNX" and reply == 1):
            blurred.difference_update(args[1:2] if name == b"SETNX" else args[1:])
        elif name == b"MSET" or (name == b"MSETNX" and reply == 1):
            blurred.difference_update(args[1::2])
        elif name == b"BITOP":
            blurred.discard(args[2])
        elif name == b"RENAME" or (name == b"COPY" and reply == 1):
            if args[1] in blurred:
                blurred.add(args[2])
            else:
                blurred.discard(args[2])
            if name == b"RENAME" and args[1] != args[2]:
                blurred.discard(args[1])

    @rule(args=command, who=st.sampled_from([0, 1]))
    def one_command(self, args: list[bytes], who: int) -> None:
        self.track(args, self.send(who, args)[0])

    @rule(watched=st.lists(key, max_size=2), interloper=st.one_of(st.none(), command),
          queued=st.lists(command, max_size=4), finish=st.sampled_from([b"EXEC", b"EXEC", b"DISCARD"]))
    def transaction(self, watched, interloper, queued, finish) -> None:
        if watched:
            self.send(0, [b"WATCH", *watched])
        if interloper is not None:
            self.track(interloper, self.send(1, interloper)[0])
        self.send(0, [b"MULTI"])
        for args in queued:
            self.send(0, args)
        ember = self.conns["ember"][0](finish)
        redis = self.conns["redis"][0](finish)
        if finish == b"EXEC" and isinstance(redis, list) and isinstance(ember, list):
            assert len(ember) == len(redis) == len(queued), (queued, ember, redis)
            for args, ember_reply, redis_reply in zip(queued, ember, redis, strict=True):
                self.compare(args, ember_reply, redis_reply)
                self.track(args, redis_reply)
        else:
            self.compare([finish], ember, redis)


TestStringsAgainstRedis = StringsAgainstRedis.TestCase


@pytest.fixture(autouse=True)
def _bind_servers(servers):
    StringsAgainstRedis.conns = servers


# -- INCRBYFLOAT arithmetic against Redis's long double ------------------------------------------

decimal_text = st.builds(
    lambda sign, whole, frac, exp: (sign + whole + (b"." + frac if frac else b"") + exp),
    st.sampled_from([b"", b"-", b"+"]),
    st.text("0123456789", min_size=1, max_size=25).map(str.encode),
    st.text("0123456789", max_size=25).map(str.encode),
    st.one_of(st.just(b""), st.integers(-4960, 4940).map(lambda e: b"e%d" % e),
              st.integers(-30, 30).map(lambda e: b"E%+d" % e)))
hex_text = st.builds(
    lambda sign, mant, exp: b"%s0x%x.%xp%d" % (sign, mant >> 12, mant & 0xFFF, exp),
    st.sampled_from([b"", b"-"]), st.integers(0, 2**70), st.integers(-16500, 16400))
long_double_text = st.one_of(
    decimal_text, hex_text, st.floats(allow_nan=False).map(lambda f: repr(f).encode()),
    st.integers(-(2**80), 2**80).map(lambda n: b"%d" % n))


@settings(max_examples=1500, deadline=None)
@given(current=long_double_text, increment=long_double_text)
def test_incrbyfloat_matches_redis_to_the_last_digit(servers, current, increment):
    redis = servers["redis"][0]
    redis(b"SET", b"f", current)
    expected = redis(b"INCRBYFLOAT", b"f", increment)
    try:
        got = incr_long_double(current, increment)
    except CommandError as exc:
        assert isinstance(expected, hiredis.ReplyError), (current, increment, expected)
        assert str(expected).encode() == exc.message
    else:
        assert got == expected, (current, increment)


@settings(max_examples=300, deadline=None)
@given(a=st.binary(max_size=40).map(lambda b: bytes(97 + x % 3 for x in b)),
       b=st.binary(max_size=40).map(lambda b: bytes(97 + x % 3 for x in b)),
       minimum=st.integers(0, 4))
def test_lcs_matches_redis_on_small_alphabets(servers, a, b, minimum):
    for side in ("ember", "redis"):
        servers[side][0](b"MSET", b"x", a, b"y", b)
    for args in ([b"LCS", b"x", b"y"], [b"LCS", b"x", b"y", b"IDX", b"WITHMATCHLEN", b"MINMATCHLEN",
                                        b"%d" % minimum]):
        assert servers["ember"][0](*args) == servers["redis"][0](*args), (a, b, args)
