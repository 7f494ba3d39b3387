"""DEBUG DIGEST / DEBUG DIGEST-VALUE: our fingerprint of a dataset equals real Redis 7.0's, for the
Redis-written fixtures and for random datasets built with the same commands in a live redis-server."""

from __future__ import annotations

import json
import math
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emberkv.keyspace.db import Keyspace
from emberkv.keyspace.digest import EMPTY_DIGEST, ZERO20, dataset_digest, key_digest_hex, value_digest
from emberkv.keyspace.values import HashValue, ListValue, RawString, SetValue, ZSetValue
from emberkv.persistence.rdb import load_rdb_file
from tests.servers import FIXTURES, REDIS_SERVER, start_redis
from tests.test_rdb_roundtrip import zset

FAR_FUTURE_MS = 4102444800000


def test_empty_dataset_digest_is_forty_zeros():
    assert dataset_digest(Keyspace()) == b"0" * 40 == EMPTY_DIGEST


def test_a_string_and_its_raw_form_digest_alike():
    assert value_digest(b"abc", False) == value_digest(RawString(b"abc"), False)


def test_ttl_presence_changes_the_digest_but_not_its_time():
    ks = Keyspace()
    ks.dbs[0].data[b"k"] = b"v"
    before = dataset_digest(ks)
    ks.dbs[0].expires[b"k"] = 1
    with_ttl = dataset_digest(ks)
    ks.dbs[0].expires[b"k"] = 2
    assert before != with_ttl == dataset_digest(ks)


def test_unordered_collections_ignore_order_and_lists_do_not():
    assert value_digest(SetValue([b"a", b"b"]), False) == value_digest(SetValue([b"b", b"a"]), False)
    assert value_digest(HashValue({b"a": b"1", b"b": b"2"}), False) == value_digest(
        HashValue({b"b": b"2", b"a": b"1"}), False)
    assert value_digest(ListValue([b"a", b"b"]), False) != value_digest(ListValue([b"b", b"a"]), False)


def test_value_digest_continues_from_the_given_state():
    assert value_digest(b"v", False, ZERO20) != value_digest(b"v", False, b"\x01" * 20)


def test_the_same_data_in_another_database_digests_differently():
    a, b = Keyspace(), Keyspace()
    a.dbs[0].data[b"k"] = b"v"
    b.dbs[1].data[b"k"] = b"v"
    assert dataset_digest(a) != dataset_digest(b)


@pytest.mark.parametrize("name", ["all-encodings", "plain-encodings", "list-compressed-nodes"])
def test_fixture_digests_match_redis(name):
    path = FIXTURES / "rdb/redis7" / f"{name}.rdb"
    if not path.is_file():
        pytest.skip(f"{path} not found: needs ../shared/fixtures")
    ks = Keyspace()
    load_rdb_file(path, ks, int(time.time() * 1000))
    assert dataset_digest(ks).decode() == json.loads(path.with_suffix(".json").read_text())["debug_digest"]


# -- against a live redis-server --------------------------------------------------------------------

members = st.binary(max_size=12)
scores = st.one_of(st.floats(allow_nan=False, allow_infinity=True, width=64).map(lambda x: x or 0.0),
                   st.integers(-1000, 1000).map(float))
values = st.one_of(
    st.binary(max_size=30),
    st.integers(-(2**63), 2**63 - 1).map(lambda n: b"%d" % n),
    st.lists(members, min_size=1, max_size=10).map(lambda xs: ("list", xs)),
    st.sets(members, min_size=1, max_size=10).map(lambda xs: ("set", xs)),
    st.dictionaries(members, members, min_size=1, max_size=10).map(lambda d: ("hash", d)),
    st.dictionaries(members, scores, min_size=1, max_size=10).map(lambda d: ("zset", d)),
)
datasets = st.dictionaries(st.tuples(st.sampled_from([0, 3]), members), st.tuples(values, st.booleans()),
                           min_size=1, max_size=15)


@pytest.fixture(scope="module")
def redis_client(tmp_path_factory):
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed: live digest comparisons need it (CI installs it)")
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


def store(server, ks: Keyspace, dbid: int, key: bytes, spec, ttl: bool) -> None:
    """Put the value in Redis with ordinary commands and in ks the way our commands would hold it."""
    r = server.client(db=dbid)
    db = ks.dbs[dbid]
    if isinstance(spec, bytes):
        r.set(key, spec)
        db.data[key] = spec
    else:
        kind, content = spec
        if kind == "list":
            r.rpush(key, *content)
            db.data[key] = ListValue(content)
        elif kind == "set":
            r.sadd(key, *content)
            db.data[key] = SetValue(content)
        elif kind == "hash":
            r.hset(key, mapping=content)
            db.data[key] = HashValue(content)
        else:
            r.zadd(key, {m: repr(s) for m, s in content.items()})
            db.data[key] = zset(content)
    if ttl:
        r.pexpireat(key, FAR_FUTURE_MS)
        db.expires[key] = FAR_FUTURE_MS


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(datasets)
def test_random_datasets_digest_like_redis(redis_client, dataset):
    redis_client.client().flushall()
    ks = Keyspace()
    for (dbid, key), (spec, ttl) in dataset.items():
        store(redis_client, ks, dbid, key, spec, ttl)
    assert redis_client.client().execute_command("DEBUG", "DIGEST") == dataset_digest(ks)
    for dbid in (0, 3):
        db = ks.dbs[dbid]
        if db.data:
            keys = list(db.data)
            want = redis_client.client(db=dbid).execute_command("DEBUG", "DIGEST-VALUE", *keys)
            assert want == [key_digest_hex(db.data[k], k in db.expires) for k in keys]


def test_negative_zero_score_digests_like_redis_in_both_encodings(redis_client):
    r = redis_client.client()
    r.flushall()
    r.zadd("compact", {"m": "-0"})
    assert r.execute_command("DEBUG", "DIGEST-VALUE", "compact") == [key_digest_hex(zset({b"m": -0.0}), False)]
    r.config_set("zset-max-listpack-entries", 0)
    try:
        r.zadd("big", {"m": "-0"})
        big = zset({b"m": -0.0}, big=True)
        assert r.execute_command("DEBUG", "DIGEST-VALUE", "big") == [key_digest_hex(big, False)]
    finally:
        r.config_set("zset-max-listpack-entries", 128)


def test_infinite_scores_digest_like_redis(redis_client):
    r = redis_client.client()
    r.flushall()
    r.zadd("z", {"lo": "-inf", "hi": "inf", "third": repr(1 / 3)})
    z = ZSetValue()
    for member, score in ((b"lo", -math.inf), (b"hi", math.inf), (b"third", 1 / 3)):
        z.add(member, score)
    assert r.execute_command("DEBUG", "DIGEST-VALUE", "z", "missing") == [key_digest_hex(z, False), b"0" * 40]
