"""rdb_save then rdb_load gives back the same dataset (same DEBUG DIGEST, same TTLs), for random datasets
of every type in both encodings, with compression and checksums on and off; and the writer's choices
(AUX fields, int-encoding, quicklist node sizes, which type byte) are Redis 7.0's."""

from __future__ import annotations

import io
import math
import struct
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emberkv.keyspace.db import Keyspace
from emberkv.keyspace.digest import dataset_digest
from emberkv.keyspace.values import HashValue, ListValue, RawString, SetValue, ZSetValue
from emberkv.persistence.rdb import DEFAULT_LIMITS, EncodingLimits, LoadStats, RdbReader
from emberkv.persistence.rdb import constants as C
from emberkv.persistence.rdb.listpack import lp_decode
from emberkv.persistence.rdb.reader import load_rdb_file
from emberkv.persistence.rdb.strings import decode_string
from emberkv.persistence.rdb.writer import RdbWriter, rdb_save_keyspace

FAR_FUTURE_MS = 4102444800000  # 2100-01-01
NO_COMPACT = EncodingLimits(0, 0, 0, 0, 0, 1)

# -- building datasets ------------------------------------------------------------------------------


def zset(pairs: dict[bytes, float], big: bool = False) -> ZSetValue:
    z = ZSetValue()
    for member, score in pairs.items():
        z.add(member, score)
    z.big = big
    return z


def with_big(value, big: bool):
    value.big = big
    return value


def sample_keyspace() -> Keyspace:
    """A small dataset with every type, both encodings, TTLs, three databases."""
    ks = Keyspace()
    d0 = ks.dbs[0].data
    d0[b"s:str"] = b"hello"
    d0[b"s:int"] = b"12345"
    d0[b"s:neg"] = b"-5"
    d0[b"s:big"] = b"123456789012"
    d0[b"s:lzf"] = b"a" * 100
    d0[b"s:raw"] = RawString(b"appended")
    d0[b""] = b""
    d0[b"l:small"] = ListValue([b"1", b"2", b"3", b"a", b"b", b"c"])
    d0[b"l:big"] = ListValue(b"element-%06d-xxxxxxxxxx" % i for i in range(400))
    d0[b"set:int"] = SetValue([b"1", b"2", b"3", b"70000"])
    d0[b"set:str"] = with_big(SetValue([b"a", b"b", b"c"]), True)
    d0[b"h:small"] = HashValue({b"f1": b"v1", b"f2": b"2"})
    d0[b"h:big"] = with_big(HashValue({b"f1": b"x" * 70, b"f2": b"y"}), True)
    d0[b"z:small"] = zset({b"a": 1.0, b"b": 2.5, b"c": -3.0})
    d0[b"z:big"] = zset({b"member-%d" % i: i * 1.5 for i in range(200)}, big=True)
    d0[b"z:inf"] = zset({b"lo": -math.inf, b"hi": math.inf, b"huge": 2.0**70, b"third": 1 / 3})
    ks.dbs[0].expires[b"s:str"] = FAR_FUTURE_MS
    ks.dbs[0].expires[b"h:small"] = FAR_FUTURE_MS + 1
    ks.dbs[1].data[b"k"] = b"v"
    ks.dbs[15].data[b"ttl"] = b"x"
    ks.dbs[15].expires[b"ttl"] = FAR_FUTURE_MS
    return ks


def save(ks: Keyspace, **kwargs) -> bytes:
    f = io.BytesIO()
    rdb_save_keyspace(f, ks, **kwargs)
    return f.getvalue()


def load(data: bytes, limits: EncodingLimits = DEFAULT_LIMITS, now_ms: int | None = 0) -> Keyspace:
    ks = Keyspace()
    RdbReader(io.BytesIO(data), limits, total_size=len(data)).load_into(ks, now_ms, LoadStats())
    return ks


def same_dataset(a: Keyspace, b: Keyspace) -> None:
    assert dataset_digest(a) == dataset_digest(b)
    for da, db in zip(a.dbs, b.dbs, strict=True):
        assert da.expires == db.expires


# -- random datasets --------------------------------------------------------------------------------

blobs = st.one_of(
    st.binary(max_size=40),
    st.integers(-(2**63), 2**63 - 1).map(lambda n: b"%d" % n),
    st.integers(21, 3000).map(lambda n: b"ab" * n),  # compressible, beyond one-byte lengths
)
scores = st.floats(allow_nan=False).map(lambda x: 0.0 if x == 0 else x)  # -0.0: see the digest tests
lists = st.lists(blobs, min_size=1, max_size=30).map(ListValue)
sets = st.tuples(st.sets(blobs, min_size=1, max_size=30), st.booleans()).map(
    lambda t: with_big(SetValue(t[0]), t[1]))
int_sets = st.sets(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=30).map(
    lambda s: SetValue(b"%d" % n for n in s))
hashes = st.tuples(st.dictionaries(blobs, blobs, min_size=1, max_size=30), st.booleans()).map(
    lambda t: with_big(HashValue(t[0]), t[1]))
zsets = st.tuples(st.dictionaries(blobs, scores, min_size=1, max_size=30), st.booleans()).map(
    lambda t: zset(t[0], t[1]))
values = st.one_of(blobs, lists, sets, int_sets, hashes, zsets)
expiry = st.one_of(st.none(), st.integers(1, 2**62))
databases = st.dictionaries(blobs, st.tuples(values, expiry), max_size=12)


def build(dbs: list[dict]) -> Keyspace:
    ks = Keyspace()
    for db, content in zip(ks.dbs, dbs, strict=False):
        for key, (value, ttl) in content.items():
            db.data[key] = value
            if ttl is not None:
                db.expires[key] = ttl
    return ks


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(databases, min_size=1, max_size=3),
    st.booleans(),
    st.booleans(),
    st.sampled_from([DEFAULT_LIMITS, NO_COMPACT, EncodingLimits(4, 8, 4, 4, 8, 3)]),
)
def test_random_datasets_round_trip(dbs, compress, checksum, limits):
    ks = build(dbs)
    data = save(ks, compress=compress, checksum=checksum, limits=limits)
    same_dataset(ks, load(data, limits))


@settings(max_examples=60, deadline=None)
@given(st.lists(databases, min_size=1, max_size=2))
def test_key_by_key_writes_the_same_bytes_as_the_bulk_path(dbs):
    ks = build(dbs)
    f = io.BytesIO()
    writer = RdbWriter(f)
    writer.write_header({b"ctime": 1, b"used-mem": 2})
    for db in ks.dbs:
        if db.data:
            writer.select_db(db.id, len(db.data), len(db.expires))
            for key, value in db.data.items():
                writer.write_key(key, value, db.expires.get(key))
    writer.finish()
    assert f.getvalue() == save(ks, aux_extra={b"ctime": 1, b"used-mem": 2})
    assert writer.bytes_written == len(f.getvalue())


def test_sample_dataset_round_trips_through_entries_and_load_into():
    ks = sample_keyspace()
    data = save(ks)
    same_dataset(ks, load(data))
    entries = list(RdbReader(io.BytesIO(data)).entries())
    assert len(entries) == sum(len(db.data) for db in ks.dbs)
    for e in entries:
        assert e.value == ks.dbs[e.dbid].data[e.key] or isinstance(e.value, ZSetValue)
        assert e.expire_ms == ks.dbs[e.dbid].expires.get(e.key)


def test_loading_in_slices_gives_the_same_dataset():
    ks = sample_keyspace()
    for i in range(5000):
        ks.dbs[2].data[b"key:%d" % i] = b"value:%d" % i
    data = save(ks)
    sliced = Keyspace()
    reader = RdbReader(io.BytesIO(data))
    stats = LoadStats()
    rounds = 1
    while not reader.load_into(sliced, 0, stats, max_bytes=1000):
        rounds += 1
    assert rounds > 10
    same_dataset(ks, sliced)
    assert stats.keys_loaded == sum(len(db.data) for db in ks.dbs)
    assert stats.per_db[2] == 5000


def test_load_rdb_file_reads_a_file_and_counts(tmp_path: Path):
    ks = sample_keyspace()
    path = tmp_path / "dump.rdb"
    path.write_bytes(save(ks))
    loaded = Keyspace()
    stats = load_rdb_file(path, loaded, int(time.time() * 1000))
    same_dataset(ks, loaded)
    assert stats.keys_loaded == sum(len(db.data) for db in ks.dbs)
    assert stats.per_db == {0: len(ks.dbs[0].data), 1: 1, 15: 1}


def test_big_is_decided_from_the_limits_when_loading():
    ks = Keyspace()
    d = ks.dbs[0].data
    d[b"h"] = with_big(HashValue({b"f": b"v"}), True)  # written as a hashtable, fits a listpack
    d[b"s"] = with_big(SetValue([b"1", b"2"]), True)
    d[b"z"] = zset({b"m": 1.0}, big=True)
    d[b"h600"] = HashValue({b"f%d" % i: b"v" for i in range(600)})  # "compact" but over the limit
    loaded = load(save(ks)).dbs[0].data
    assert not loaded[b"h"].big and not loaded[b"s"].big and not loaded[b"z"].big
    assert loaded[b"h600"].big
    strict = load(save(ks), NO_COMPACT).dbs[0].data
    assert strict[b"h"].big and strict[b"s"].big and strict[b"z"].big


# -- what the writer writes -------------------------------------------------------------------------


def test_empty_dataset_is_byte_identical_to_redis(fixtures_dir: Path):
    redis_file = (fixtures_dir / "rdb/redis7/empty.rdb").read_bytes()
    aux = RdbReader(io.BytesIO(redis_file)).aux
    ours = save(Keyspace(), aux_extra={b"ctime": int(aux[b"ctime"]), b"used-mem": int(aux[b"used-mem"])})
    assert ours == redis_file


def test_header_writes_redis_aux_fields_in_redis_order_and_int_encoded():
    data = save(Keyspace(), aux_extra={b"aof-base": 1, b"used-mem": 1398984, b"ctime": 1795211293,
                                       b"repl-id": b"x" * 40, b"custom": b"yes"})
    assert data.startswith(b"REDIS0010\xfa\x09redis-ver\x067.0.15\xfa\x0aredis-bits\xc0\x40"
                           b"\xfa\x05ctime\xc2\x1d\xc0\x00\x6b\xfa\x08used-mem\xc2\xc8\x58\x15\x00")
    reader = RdbReader(io.BytesIO(data))
    assert list(reader.aux) == [b"redis-ver", b"redis-bits", b"ctime", b"used-mem", b"repl-id", b"aof-base",
                                b"custom"]
    assert reader.aux[b"aof-base"] == b"1"


def test_function_libraries_are_written_before_the_first_database():
    ks = Keyspace()
    ks.dbs[0].data[b"k"] = b"v"
    code = b"#!lua name=mylib\nredis.register_function('f', function() return 1 end)"
    data = save(ks, functions=[code])
    assert data.index(b"\xf5") < data.index(b"\xfe\x00")
    reader = RdbReader(io.BytesIO(data))
    assert reader.functions == [code]


def test_checksum_off_writes_eight_zero_bytes_and_loads():
    data = save(sample_keyspace(), checksum=False)
    assert data.endswith(b"\xff" + bytes(8))
    same_dataset(sample_keyspace(), load(data))


def value_bytes(value, limits: EncodingLimits = DEFAULT_LIMITS) -> tuple[int, bytes]:
    """The type byte and value bytes the writer produces for one key named k."""
    ks = Keyspace()
    ks.dbs[0].data[b"k"] = value
    data = save(ks, aux_extra={b"ctime": 0}, limits=limits)
    start = data.index(b"\xfe\x00\xfb\x01\x00") + 5
    assert data[start + 1 : start + 3] == b"\x01k"
    return data[start], data[start + 3 : -9]


@pytest.mark.parametrize(
    ("value", "rdbtype"),
    [
        (b"text", C.TYPE_STRING),
        (ListValue([b"a"]), C.TYPE_LIST_QUICKLIST_2),
        (SetValue([b"1", b"-2"]), C.TYPE_SET_INTSET),
        (SetValue([b"1", b"x"]), C.TYPE_SET),
        (with_big(SetValue([b"1"]), True), C.TYPE_SET),
        (HashValue({b"f": b"v"}), C.TYPE_HASH_LISTPACK),
        (with_big(HashValue({b"f": b"v"}), True), C.TYPE_HASH),
        (zset({b"m": 1.0}), C.TYPE_ZSET_LISTPACK),
        (zset({b"m": 1.0}, big=True), C.TYPE_ZSET_2),
    ],
)
def test_type_byte_follows_the_encoding(value, rdbtype):
    assert value_bytes(value)[0] == rdbtype


def test_spec_value_bytes_are_reproduced():
    # spec §6.2: l:small, h:small, z:small, set:int
    assert value_bytes(ListValue([b"1", b"2", b"3", b"a", b"b", b"c"]))[1].hex() == (
        "010216160000000600010102010301816102816202816302ff")
    assert value_bytes(HashValue({b"f1": b"v1", b"f2": b"2"}))[1].hex() == (
        "1515000000040082663103827631038266320302" + "01ff")
    assert value_bytes(zset({b"a": 1.0, b"b": 2.5, b"c": -3.0}))[1].hex() == (
        "1a1a000000060081630" + "2dffd02816102010181620283322e3504ff")
    assert value_bytes(SetValue([b"1", b"2", b"3", b"70000"]))[1].hex() == (
        "18" + "04000000040000000100000002000000030000007" + "0110100")


def test_zset_2_is_written_highest_score_first():
    z = zset({b"member-%d" % i: i * 1.5 for i in range(3)}, big=True)
    raw = value_bytes(z)[1]
    assert raw == (b"\x03" + b"\x08member-2" + struct.pack("<d", 3.0) + b"\x08member-1" + struct.pack("<d", 1.5)
                   + b"\x08member-0" + struct.pack("<d", 0.0))


def quicklist_nodes(value: ListValue, limits: EncodingLimits = DEFAULT_LIMITS) -> list[tuple[int, bytes]]:
    raw = value_bytes(value, limits)[1]
    count, pos = raw[0] if raw[0] < 64 else None, 1
    nodes = []
    for _ in range(count):
        container = raw[pos]
        blob, pos = decode_string(raw, pos + 1)
        nodes.append((container, blob))
    assert pos == len(raw)
    return nodes


def test_quicklist_nodes_are_cut_like_redis():
    # spec §1.7.1: 1000 elements of 25 bytes -> 302, 302, 302, 94 elements; full nodes are 8161 bytes.
    lst = ListValue(b"element-%06d-xxxxxxxxxx" % i for i in range(1000))
    nodes = quicklist_nodes(lst)
    assert [len(lp_decode(blob)) for _, blob in nodes] == [302, 302, 302, 94]
    assert [len(blob) for _, blob in nodes][:3] == [8161] * 3
    assert [b for _, blob in nodes for b in lp_decode(blob)] == list(lst)


@pytest.mark.parametrize(("fill", "sizes"), [(5, [5, 5, 2]), (1, [1] * 12), (0, [1] * 12), (-1, [12])])
def test_quicklist_node_size_follows_list_max_listpack_size(fill, sizes):
    lst = ListValue(b"e%d" % i for i in range(12))
    nodes = quicklist_nodes(lst, EncodingLimits(list_max_listpack_size=fill))
    assert [len(lp_decode(blob)) for _, blob in nodes] == sizes


def test_huge_list_elements_get_plain_nodes(monkeypatch):
    monkeypatch.setattr(C, "QUICKLIST_PACKED_THRESHOLD", 100)
    lst = ListValue([b"a", b"b", b"x" * 150, b"c"])
    nodes = quicklist_nodes(lst)
    assert [c for c, _ in nodes] == [C.QUICKLIST_NODE_PACKED, C.QUICKLIST_NODE_PLAIN, C.QUICKLIST_NODE_PACKED]
    assert nodes[1][1] == b"x" * 150
    assert list(load(save(build([{b"l": (lst, None)}]))).dbs[0].data[b"l"]) == list(lst)


def test_empty_collections_are_not_written():
    ks = Keyspace()
    ks.dbs[0].data[b"gone"] = HashValue()
    ks.dbs[0].data[b"kept"] = b""
    assert set(load(save(ks)).dbs[0].data) == {b"kept"}


def test_writer_output_reaches_the_file_in_chunks():
    ks = Keyspace()
    for i in range(100_000):
        ks.dbs[0].data[b"key:%d" % i] = b"value:%d" % i
    writes = []

    class Sink(io.BytesIO):
        def write(self, b):
            writes.append(len(b))
            return super().write(b)

    rdb_save_keyspace(Sink(), ks)
    assert len(writes) < 10 and max(writes) >= 1 << 20
