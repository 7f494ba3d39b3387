"""Differential tests: list, hash and set commands go to a spawned emberkv-server and a spawned
redis-server 7.0, and every reply must be identical as hiredis parses it (errors by text).

Three state machines (lists, hashes, sets) drive random commands, wrong-type and bad-argument paths
included, through a RESP2 and a RESP3 connection on each side, and after every step compare each
key's type, contents and OBJECT ENCODING. Replies whose order Redis leaves to its hash table are
compared sorted, but only there: a listpack hash and an intset set have a defined order and are
compared as they come. Random replies (SPOP, SRANDMEMBER, HRANDFIELD) are checked for their shape
against the other side's contents, and after a random SPOP emberkv is brought back in step with the
members Redis popped.

Two more checks run fixed-shape command lists on both servers: the keyspace events they publish,
and what they append to the AOF (effects, not requests: BLPOP as LPOP, SPOP as SREM/DEL, ...).
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import hiredis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from emberkv.commands.args import to_int_or_none
from tests.inproc import encode_request
from tests.servers import REDIS_SERVER, start_emberkv, start_redis

pytestmark = pytest.mark.skipif(
    REDIS_SERVER is None,
    reason="redis-server is not installed: differential tests need it (CI installs it)")


class RawConnection:
    """A bare RESP connection: replies exactly as hiredis parses them."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.reader = hiredis.Reader()

    def send(self, *args: bytes) -> None:
        self.sock.sendall(encode_request(args))

    def read(self):
        while (reply := self.reader.gets()) is False:
            data = self.sock.recv(1 << 20)
            if not data:
                raise ConnectionError("server closed the connection")
            self.reader.feed(data)
        return reply

    def __call__(self, *args: bytes):
        self.send(*args)
        return self.read()

    def close(self) -> None:
        self.sock.close()


def comparable(reply):
    if isinstance(reply, hiredis.ReplyError):
        return ("error", str(reply))
    if isinstance(reply, list):
        return [comparable(item) for item in reply]
    return reply


def unordered(reply):
    """A reply whose order is hash-table order: sorted (pairs kept together for flat maps)."""
    if not isinstance(reply, list):
        return comparable(reply)
    return sorted(map(repr, reply))


def unordered_pairs(reply):
    if not isinstance(reply, list) or len(reply) % 2:
        return unordered(reply)
    return sorted(zip(reply[::2], reply[1::2], strict=True))


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    ember = start_emberkv(tmp_path_factory.mktemp("emberkv"))
    redis = start_redis(tmp_path_factory.mktemp("redis"))
    conns = {"ember": [RawConnection(ember.port), RawConnection(ember.port)],
             "redis": [RawConnection(redis.port), RawConnection(redis.port)]}
    for side in conns.values():
        side[1](b"HELLO", b"3")
    yield conns, {"ember": ember.port, "redis": redis.port}
    for pair in conns.values():
        for conn in pair:
            conn.close()
    ember.stop()
    redis.stop()


# -- strategies ------------------------------------------------------------------------------------

def cmd(*parts) -> st.SearchStrategy:
    return st.tuples(*[st.just(p) if isinstance(p, bytes) else p for p in parts]).map(list)


def joined(*parts) -> st.SearchStrategy:
    """Concatenate strategies of argv pieces (each a list or a single bytes)."""
    return st.tuples(*parts).map(
        lambda t: [x for part in t for x in (part if isinstance(part, list) else [part])])


OTHERS = [b"str", b"missing", b"otherlist", b"otherhash", b"otherset"]
number = st.one_of(st.integers(-4, 4).map(lambda n: b"%d" % n),
                   st.sampled_from([b"x", b"-9223372036854775808", b"9223372036854775807", b"", b"1.5"]))
timeout = st.sampled_from([b"0.001", b"0.01", b"x", b"-1", b"inf", b"nan", b"1e400"])
side = st.sampled_from([b"LEFT", b"RIGHT", b"left", b"up"])
LONG = b"y" * 65

lkey = st.one_of(st.sampled_from([b"l1", b"l2", b"l3"]), st.sampled_from([b"l1", *OTHERS]))
element = st.sampled_from([b"a", b"b", b"c", b"1", b"2", b""])
elements = st.lists(element, min_size=1, max_size=4)

list_write = st.one_of(
    joined(cmd(st.sampled_from([b"LPUSH", b"RPUSH", b"LPUSHX", b"RPUSHX"]), lkey), elements),
    joined(cmd(st.sampled_from([b"LPOP", b"RPOP"]), lkey), st.lists(number, max_size=1)),
    cmd(b"LSET", lkey, number, element),
    cmd(b"LINSERT", lkey, st.sampled_from([b"BEFORE", b"after", b"middle"]), element, element),
    cmd(b"LREM", lkey, number, element),
    cmd(b"LTRIM", lkey, number, number),
    cmd(b"LMOVE", lkey, lkey, side, side),
    cmd(b"RPOPLPUSH", lkey, lkey),
    joined(cmd(b"LMPOP"), st.lists(lkey, min_size=1, max_size=3).map(lambda ks: [b"%d" % len(ks), *ks]),
           side, st.lists(st.sampled_from([[b"COUNT", b"2"], [b"COUNT", b"0"], [b"count", b"9"]]),
                          max_size=1).map(lambda xs: [x for p in xs for x in p])),
    joined(cmd(st.sampled_from([b"BLPOP", b"BRPOP"])), st.lists(lkey, min_size=1, max_size=2), timeout),
    cmd(b"BLMOVE", lkey, lkey, side, side, timeout),
    cmd(b"BRPOPLPUSH", lkey, lkey, timeout),
    joined(cmd(b"BLMPOP", timeout, b"1", lkey, side), st.lists(st.just([b"COUNT", b"2"]), max_size=1).map(
        lambda xs: [x for p in xs for x in p])),
    cmd(b"DEL", lkey),
)
lpos_options = st.lists(st.sampled_from([
    [b"RANK", b"1"], [b"RANK", b"-1"], [b"RANK", b"2"], [b"RANK", b"-2"], [b"RANK", b"0"],
    [b"RANK", b"-9223372036854775808"], [b"COUNT", b"0"], [b"COUNT", b"2"], [b"COUNT", b"-1"],
    [b"MAXLEN", b"2"], [b"MAXLEN", b"0"], [b"MAXLEN", b"x"], [b"FOO"]]), max_size=3).map(
    lambda xs: [x for p in xs for x in p])
list_read = st.one_of(
    cmd(b"LRANGE", lkey, number, number), cmd(b"LINDEX", lkey, number), cmd(b"LLEN", lkey),
    joined(cmd(b"LPOS", lkey, element), lpos_options),
)

hkey = st.one_of(st.sampled_from([b"h1", b"h2"]), st.sampled_from([b"h1", *OTHERS]))
field = st.sampled_from([b"f", b"g", b"n", b"1", b"", LONG])
value = st.sampled_from([b"v", b"1", b"-3", b"1.5", b"10", b"", b" 2", b"9223372036854775807", LONG])
float_incr = st.sampled_from([b"0.1", b"-1.5", b"3", b"1e3", b"inf", b"x", b"0x10", b"-0"])
hash_write = st.one_of(
    joined(cmd(st.sampled_from([b"HSET", b"HMSET"]), hkey),
           st.lists(st.tuples(field, value).map(list), min_size=1, max_size=3).map(
               lambda ps: [x for p in ps for x in p])),
    cmd(b"HSET", hkey, field),
    cmd(b"HSETNX", hkey, field, value),
    joined(cmd(b"HDEL", hkey), st.lists(field, min_size=1, max_size=3)),
    cmd(b"HINCRBY", hkey, field, number),
    cmd(b"HINCRBYFLOAT", hkey, field, float_incr),
    cmd(b"DEL", hkey),
)
hash_read = st.one_of(
    cmd(b"HGET", hkey, field), joined(cmd(b"HMGET", hkey), st.lists(field, min_size=1, max_size=3)),
    cmd(st.sampled_from([b"HLEN", b"HKEYS", b"HVALS", b"HGETALL"]), hkey),
    cmd(st.sampled_from([b"HSTRLEN", b"HEXISTS"]), hkey, field),
    joined(cmd(b"HSCAN", hkey, st.sampled_from([b"0", b"x"])),
           st.lists(st.sampled_from([[b"MATCH", b"[fg]*"], [b"COUNT", b"0"], [b"COUNT", b"100"]]),
                    max_size=1).map(lambda xs: [x for p in xs for x in p])),
)

skey = st.one_of(st.sampled_from([b"s1", b"s2", b"s3"]), st.sampled_from([b"s1", *OTHERS]))
# Writes create sets only at s1..s3, so that a plain SPOP elsewhere is never random.
dkey = st.sampled_from([b"s1", b"s2", b"s3", b"s1", b"str"])
member = st.sampled_from([b"1", b"2", b"3", b"-7", b"10", b"a", b"b", b"01"])
members = st.lists(member, min_size=1, max_size=4)
set_write = st.one_of(
    joined(cmd(b"SADD", dkey), members), joined(cmd(b"SADD", dkey), st.lists(
        st.sampled_from([b"1", b"2", b"3", b"4", b"5"]), min_size=1, max_size=5)),
    joined(cmd(b"SREM", skey), members),
    cmd(b"SMOVE", skey, dkey, member),
    joined(cmd(st.sampled_from([b"SINTERSTORE", b"SUNIONSTORE", b"SDIFFSTORE"]),
               st.sampled_from([b"s1", b"s2", b"s3"])), st.lists(skey, min_size=1, max_size=3)),
    cmd(b"SPOP", skey, st.sampled_from([b"0", b"100", b"-1", b"x"])),
    cmd(b"SPOP", st.sampled_from([b"str", b"missing", b"otherhash"])),
    cmd(b"DEL", st.sampled_from([b"s1", b"s2", b"s3"])),
)
set_read = st.one_of(
    cmd(st.sampled_from([b"SCARD", b"SMEMBERS"]), skey), cmd(b"SISMEMBER", skey, member),
    joined(cmd(b"SMISMEMBER", skey), members),
    joined(cmd(st.sampled_from([b"SINTER", b"SUNION", b"SDIFF"])), st.lists(skey, min_size=1, max_size=3)),
    joined(cmd(b"SINTERCARD"), st.lists(skey, min_size=1, max_size=3).map(lambda ks: [b"%d" % len(ks), *ks]),
           st.lists(st.sampled_from([[b"LIMIT", b"1"], [b"LIMIT", b"0"], [b"LIMIT", b"-1"]]), max_size=1).map(
               lambda xs: [x for p in xs for x in p])),
    cmd(b"SRANDMEMBER", skey, st.sampled_from([b"0", b"100", b"x", b"-9223372036854775808"])),
    joined(cmd(b"SSCAN", skey, st.sampled_from([b"0", b"x"])),
           st.lists(st.sampled_from([[b"MATCH", b"[12]*"], [b"COUNT", b"0"], [b"COUNT", b"100"]]),
                    max_size=1).map(lambda xs: [x for p in xs for x in p])),
)


# -- the state machines ----------------------------------------------------------------------------

class AgainstRedis(RuleBasedStateMachine):
    """Shared plumbing: both sides get every command; replies and every key's state must match."""

    conns: dict = {}
    KEYS: tuple[bytes, ...] = ()
    # Commands whose reply order is hash-table order even for a small key (compared sorted in EXEC).
    UNORDERED_IN_MULTI: frozenset[bytes] = frozenset()
    in_multi = False

    @initialize()
    def fresh_keyspace(self) -> None:
        for name in ("ember", "redis"):
            for conn in self.conns[name]:
                conn(b"DISCARD")  # a failed example may have left a transaction open
            conn = self.conns[name][0]
            conn(b"FLUSHALL")
            conn(b"SET", b"str", b"x")
            conn(b"RPUSH", b"otherlist", b"a")
            conn(b"HSET", b"otherhash", b"f", b"v")
            conn(b"SADD", b"otherset", b"1")

    def both(self, who: int, args: list[bytes]):
        return self.conns["ember"][who](*args), self.conns["redis"][who](*args)

    def send(self, who: int, args: list[bytes]) -> None:
        ember, redis = self.both(who, args)
        # Inside MULTI a probe of the key's encoding would be queued, so nothing is looked up.
        if not self.in_multi and self.order_free(args, redis):
            normalise = unordered_pairs if self.pairs(args) and who == 0 else unordered
            ember, redis = normalise(ember), normalise(redis)
        assert comparable(ember) == comparable(redis), (args, ember, redis)

    def order_free(self, args: list[bytes], redis_reply) -> bool:
        return False

    def pairs(self, args: list[bytes]) -> bool:
        return False

    def redis_encoding(self, key: bytes):
        return self.conns["redis"][0](b"OBJECT", b"ENCODING", key)

    @invariant()
    def same_keys(self) -> None:
        for key in self.KEYS:
            for probe in ([b"TYPE", key], [b"OBJECT", b"ENCODING", key], self.dump(key)):
                ember, redis = self.both(0, probe)
                if probe[0] == b"SMEMBERS":
                    ember, redis = unordered(ember), unordered(redis)
                elif probe[0] == b"HGETALL":
                    ember, redis = unordered_pairs(ember), unordered_pairs(redis)
                assert comparable(ember) == comparable(redis), (probe, ember, redis)

    def dump(self, key: bytes) -> list[bytes]:
        return [b"EXISTS", key]

    def transaction(self, commands: list[list[bytes]]) -> None:
        self.in_multi = True
        try:
            self.send(0, [b"MULTI"])
            for queued in commands:
                self.send(0, queued)
        finally:
            self.in_multi = False
        ember, redis = self.both(0, [b"EXEC"])
        if isinstance(ember, list) and isinstance(redis, list) and len(ember) == len(redis):
            for i, queued in enumerate(commands):
                if queued[0] in self.UNORDERED_IN_MULTI:
                    ember[i], redis[i] = unordered(ember[i]), unordered(redis[i])
        assert comparable(ember) == comparable(redis), (commands, ember, redis)


class ListsAgainstRedis(AgainstRedis):
    KEYS = (b"l1", b"l2", b"l3")

    def dump(self, key: bytes) -> list[bytes]:
        return [b"LRANGE", key, b"0", b"-1"]

    @rule(args=list_write)
    def write(self, args: list[bytes]) -> None:
        self.send(0, args)

    @rule(args=list_read, who=st.sampled_from([0, 1]))
    def read(self, args: list[bytes], who: int) -> None:
        self.send(who, args)

    @rule(commands=st.lists(list_write, min_size=1, max_size=3))
    def multi(self, commands: list[list[bytes]]) -> None:
        self.transaction(commands)


class HashesAgainstRedis(AgainstRedis):
    KEYS = (b"h1", b"h2")

    def dump(self, key: bytes) -> list[bytes]:
        return [b"HGETALL", key]

    def order_free(self, args: list[bytes], redis_reply) -> bool:
        if args[0] not in (b"HKEYS", b"HVALS", b"HGETALL", b"HSCAN"):
            return False
        return self.redis_encoding(args[1]) == b"hashtable"

    def pairs(self, args: list[bytes]) -> bool:
        return args[0] == b"HGETALL"

    def send(self, who: int, args: list[bytes]) -> None:
        if args[0] == b"HSCAN" and self.order_free(args, None):
            ember, redis = (self.full_scan(side, args) for side in ("ember", "redis"))
            assert ember == redis, (args, ember, redis)
            return
        super().send(who, args)

    def full_scan(self, name: str, args: list[bytes]):
        """Everything a complete HSCAN iteration returns, as sorted pairs (cursors differ)."""
        conn, cursor, seen = self.conns[name][0], b"0", set()
        while True:
            reply = conn(args[0], args[1], cursor, *args[3:])
            if not isinstance(reply, list):
                return comparable(reply)
            cursor, flat = reply
            seen.update(zip(flat[::2], flat[1::2], strict=True))
            if cursor == b"0":
                return sorted(seen)

    @rule(args=hash_write)
    def write(self, args: list[bytes]) -> None:
        self.send(0, args)

    @rule(args=hash_read, who=st.sampled_from([0, 1]))
    def read(self, args: list[bytes], who: int) -> None:
        self.send(who, args)

    @rule(commands=st.lists(hash_write, min_size=1, max_size=3))
    def multi(self, commands: list[list[bytes]]) -> None:
        self.transaction(commands)

    @rule(key=hkey, count=st.sampled_from([b"1", b"2", b"-5", b"100"]), withvalues=st.booleans())
    def hrandfield(self, key: bytes, count: bytes, withvalues: bool) -> None:
        args = [b"HRANDFIELD", key, count, *([b"WITHVALUES"] if withvalues else [])]
        ember, redis = self.both(0, args)
        if not isinstance(redis, list):
            assert comparable(ember) == comparable(redis), (args, ember, redis)
            return
        flat = self.conns["redis"][0](b"HGETALL", key)
        contents = dict(zip(flat[::2], flat[1::2], strict=True))
        assert len(ember) == len(redis), (args, ember, redis)
        if withvalues:
            picks = list(zip(ember[::2], ember[1::2], strict=True))
        else:
            picks = [(f, contents.get(f)) for f in ember]
        assert all(f in contents and contents[f] == v for f, v in picks), (args, ember, contents)
        if int(count) > 0:
            assert len({f for f, _ in picks}) == len(picks), (args, ember)


class SetsAgainstRedis(AgainstRedis):
    KEYS = (b"s1", b"s2", b"s3")
    UNORDERED_IN_MULTI = frozenset({b"SPOP"})

    def dump(self, key: bytes) -> list[bytes]:
        return [b"SMEMBERS", key]

    def order_free(self, args: list[bytes], redis_reply) -> bool:
        name = args[0]
        if name in (b"SMEMBERS", b"SSCAN", b"SRANDMEMBER", b"SPOP"):
            return self.redis_encoding(args[1]) != b"intset"
        if name in (b"SUNION", b"SDIFF"):
            # The result is built as an intset, and then listed in numeric order, if it can be one.
            return not (isinstance(redis_reply, list)
                        and all(to_int_or_none(m) is not None for m in redis_reply))
        return name == b"SINTER"

    def send(self, who: int, args: list[bytes]) -> None:
        if args[0] == b"SSCAN" and self.redis_encoding(args[1]) == b"hashtable":
            ember, redis = (self.full_scan(name, args) for name in ("ember", "redis"))
            assert ember == redis, (args, ember, redis)
            return
        super().send(who, args)

    def full_scan(self, name: str, args: list[bytes]):
        conn, cursor, seen = self.conns[name][0], b"0", set()
        while True:
            reply = conn(args[0], args[1], cursor, *args[3:])
            if not isinstance(reply, list):
                return comparable(reply)
            cursor, chunk = reply
            seen.update(chunk)
            if cursor == b"0":
                return sorted(seen)

    @rule(args=set_write)
    def write(self, args: list[bytes]) -> None:
        self.send(0, args)

    @rule(args=set_read, who=st.sampled_from([0, 1]))
    def read(self, args: list[bytes], who: int) -> None:
        self.send(who, args)

    @rule(commands=st.lists(set_write, min_size=1, max_size=3))
    def multi(self, commands: list[list[bytes]]) -> None:
        self.transaction(commands)

    @rule(key=st.sampled_from([b"s1", b"s2", b"s3"]), count=st.sampled_from([None, b"1", b"2"]))
    def random_spop(self, key: bytes, count: bytes | None) -> None:
        """Pop at random on both sides, then give emberkv back its members and take Redis's."""
        args = [b"SPOP", key, *([count] if count else [])]
        ember, redis = self.both(0, args)
        if ember is None or redis is None:
            assert ember == redis
            return
        ember_popped = ember if isinstance(ember, list) else [ember]
        redis_popped = redis if isinstance(redis, list) else [redis]
        assert len(ember_popped) == len(redis_popped), (args, ember, redis)
        if ember_popped:
            self.conns["ember"][0](b"SADD", key, *ember_popped)
            self.conns["ember"][0](b"SREM", key, *redis_popped)

    @rule(key=skey, count=st.sampled_from([b"1", b"3", b"-4"]))
    def srandmember(self, key: bytes, count: bytes) -> None:
        ember, redis = self.both(0, [b"SRANDMEMBER", key, count])
        if not isinstance(redis, list):
            assert comparable(ember) == comparable(redis)
            return
        contents = set(self.conns["redis"][0](b"SMEMBERS", key))
        assert len(ember) == len(redis) and set(ember) <= contents, (key, count, ember, redis)


TestListsAgainstRedis = settings(max_examples=60, stateful_step_count=30, deadline=None,
                                 suppress_health_check=[HealthCheck.too_slow])(ListsAgainstRedis).TestCase
TestHashesAgainstRedis = settings(max_examples=60, stateful_step_count=30, deadline=None,
                                  suppress_health_check=[HealthCheck.too_slow])(HashesAgainstRedis).TestCase
TestSetsAgainstRedis = settings(max_examples=60, stateful_step_count=30, deadline=None,
                                suppress_health_check=[HealthCheck.too_slow])(SetsAgainstRedis).TestCase


@pytest.fixture(autouse=True)
def _bind_servers(servers):
    AgainstRedis.conns = servers[0]


# -- keyspace events -------------------------------------------------------------------------------

deterministic_write = st.one_of(list_write, hash_write, set_write)


def _events(port: int, commands: list[list[bytes]]) -> list:
    conn, sub = RawConnection(port), RawConnection(port)
    try:
        conn(b"FLUSHALL")
        conn(b"SET", b"str", b"x")
        conn(b"CONFIG", b"SET", b"notify-keyspace-events", b"KEA")
        sub(b"PSUBSCRIBE", b"__key*__:*")
        for args in commands:
            conn(*args)
        conn(b"SET", b"end-of-test", b"1")
        seen = []
        while True:
            message = sub.read()
            seen.append(message[2:])
            if message[2] == b"__keyevent@0__:set" and message[3] == b"end-of-test":
                return seen
    finally:
        conn(b"CONFIG", b"SET", b"notify-keyspace-events", b"")
        conn.close()
        sub.close()


@settings(max_examples=40, deadline=None)
@given(commands=st.lists(deterministic_write, min_size=1, max_size=12))
def test_keyspace_events_like_redis(servers, commands):
    ports = servers[1]
    assert _events(ports["ember"], commands) == _events(ports["redis"], commands)


# -- what reaches the AOF --------------------------------------------------------------------------

AOF_SCRIPT = [
    [b"RPUSH", b"l", b"a", b"b", b"c", b"d", b"e"], [b"BLPOP", b"none", b"l", b"0"], [b"BRPOP", b"l", b"0"],
    [b"BLMOVE", b"l", b"m", b"left", b"RIGHT", b"0"], [b"BRPOPLPUSH", b"l", b"m", b"0"],
    [b"LMPOP", b"2", b"none", b"m", b"LEFT", b"COUNT", b"5"], [b"RPUSH", b"l", b"x", b"y"],
    [b"BLMPOP", b"0", b"1", b"l", b"RIGHT", b"COUNT", b"1"], [b"LPOP", b"none"], [b"LTRIM", b"l", b"0", b"-1"],
    [b"HSET", b"h", b"f", b"1.5"], [b"HINCRBYFLOAT", b"h", b"f", b"0.1"], [b"HINCRBY", b"h", b"n", b"2"],
    [b"HDEL", b"h", b"zz"], [b"SADD", b"s", b"1", b"2", b"3"], [b"SPOP", b"s", b"10"], [b"SADD", b"s", b"4"],
    [b"SPOP", b"s"], [b"SADD", b"t", b"a", b"b"], [b"SINTERSTORE", b"u", b"t", b"t"],
    [b"SUNIONSTORE", b"u", b"none"], [b"SMOVE", b"t", b"v", b"a"], [b"MULTI"], [b"RPUSH", b"q", b"1"],
    [b"BLPOP", b"q", b"0"], [b"BLPOP", b"q", b"0"], [b"EXEC"], [b"SREM", b"t", b"b"],
]


def _aof_commands(port: int, workdir: Path) -> list[list[bytes]]:
    conn = RawConnection(port)
    for args in AOF_SCRIPT:
        conn(*args)
    conn.close()
    time.sleep(0.2)
    (incr,) = (workdir / "appendonlydir").glob("*.incr.aof")
    reader = hiredis.Reader()
    reader.feed(incr.read_bytes())
    commands = []
    while (item := reader.gets()) is not False:
        commands.append(item)
    return commands


def test_aof_gets_effects_like_redis(tmp_path):
    options = ("--appendonly", "yes", "--appendfsync", "always")
    ember = start_emberkv(tmp_path / "emberkv", *options)
    redis = start_redis(tmp_path / "redis", *options)
    try:
        ember_log = _aof_commands(ember.port, ember.dir)
        redis_log = _aof_commands(redis.port, redis.dir)
    finally:
        ember.stop()
        redis.stop()
    assert ember_log == redis_log
    assert [b"LPOP", b"l"] in ember_log and [b"DEL", b"s"] in ember_log
