"""Damaged and unusual RDB files: truncated at every offset, any byte flipped, bad headers, duplicate
keys, too many databases, empty collections, opcodes for LRU/LFU and functions, trailing data. The
reader must answer every one with an RdbError carrying an offset (or load it, when Redis would), never
another exception and never a hang."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest

from emberkv.keyspace.db import Keyspace
from emberkv.keyspace.values import HashValue, ListValue, SetValue
from emberkv.persistence.rdb import LoadStats, RdbError, RdbReader
from emberkv.persistence.rdb.crc64 import crc64
from emberkv.persistence.rdb.lengths import encode_length
from emberkv.persistence.rdb.strings import encode_string
from tests.servers import FIXTURES
from tests.test_rdb_roundtrip import save, zset

# -- building files by hand -------------------------------------------------------------------------


def rdb(body: bytes, version: bytes = b"0010", checksum: bool = True) -> bytes:
    data = b"REDIS" + version + body + b"\xff"
    return data + (crc64(data).to_bytes(8, "little") if checksum else bytes(8))


def string_key(key: bytes, value: bytes) -> bytes:
    return b"\x00" + encode_string(key) + encode_string(value)


def tiny_keyspace() -> Keyspace:
    """Every type and encoding, kept small so every offset and every byte can be tried."""
    ks = Keyspace()
    d = ks.dbs[0].data
    d[b"s"] = b"hello"
    d[b"i"] = b"-300"
    d[b"z"] = b"q" * 40
    d[b"l"] = ListValue([b"1", b"two", b"x" * 30])
    d[b"si"] = SetValue([b"1", b"70000"])
    d[b"ss"] = SetValue([b"a", b"b"])
    d[b"ss"].big = True
    d[b"h"] = HashValue({b"f": b"v"})
    d[b"hb"] = HashValue({b"f": b"v" * 30})
    d[b"hb"].big = True
    d[b"zs"] = zset({b"a": 1.0, b"b": 2.5})
    d[b"zb"] = zset({b"a": -1.0, b"b": 1e100}, big=True)
    ks.dbs[0].expires[b"s"] = 4102444800000
    ks.dbs[3].data[b"k"] = b"v"
    return ks


TINY = save(tiny_keyspace(), aux_extra={b"ctime": 1, b"used-mem": 2})


def read_all(data: bytes, sized: bool = True, skip_unsupported: bool = True) -> int:
    reader = RdbReader(io.BytesIO(data), total_size=len(data) if sized else None,
                       skip_unsupported=skip_unsupported)
    return sum(1 for _ in reader.entries())


def load_all(data: bytes) -> Keyspace:
    ks = Keyspace()
    RdbReader(io.BytesIO(data)).load_into(ks, None, LoadStats())
    return ks


def small_fixtures() -> list[Path]:
    if not FIXTURES.is_dir():
        return []
    return sorted(p for p in (FIXTURES / "rdb").glob("*/*.rdb") if p.stat().st_size <= 1200)


# -- truncation -------------------------------------------------------------------------------------


@pytest.mark.parametrize("sized", [True, False], ids=["size-known", "size-unknown"])
def test_tiny_file_cut_at_every_offset_is_refused(sized):
    assert read_all(TINY) == 11
    for cut in range(len(TINY)):
        with pytest.raises(RdbError) as refused:
            read_all(TINY[:cut], sized)
        assert 0 <= refused.value.offset <= cut, cut


def test_tiny_file_cut_at_every_offset_is_refused_by_load_into():
    for cut in range(len(TINY)):
        with pytest.raises(RdbError):
            load_all(TINY[:cut])


def test_fast_path_file_cut_anywhere_is_refused():
    ks = Keyspace()
    for i in range(3000):
        ks.dbs[0].data[b"key:%d" % i] = b"value:%d" % i
    data = save(ks)
    for cut in random.Random(7).sample(range(len(data)), 300) + [len(data) - 1, len(data) - 9]:
        with pytest.raises(RdbError):
            load_all(data[:cut])


@pytest.mark.parametrize("path", small_fixtures() or [None], ids=lambda p: p.name if p else "no-fixtures")
def test_redis_fixture_cut_at_every_offset_is_refused(path):
    if path is None:
        pytest.skip(f"{FIXTURES} not found: needs ../shared/fixtures")
    data = path.read_bytes()
    reader = RdbReader(io.BytesIO(data), skip_unsupported=True)
    list(reader.entries())
    end = reader.bytes_read  # some files carry bytes after the RDB data; cuts there are harmless
    for cut in range(end):
        with pytest.raises(RdbError):
            read_all(data[:cut])


def test_empty_file_is_refused():
    with pytest.raises(RdbError, match="Short read"):
        read_all(b"")


# -- corruption -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mask", [0x01, 0x10, 0x80, 0xFF])
def test_any_flipped_byte_is_refused_when_checksummed(mask):
    for i in range(len(TINY)):
        damaged = bytearray(TINY)
        damaged[i] ^= mask
        with pytest.raises(RdbError):
            read_all(bytes(damaged))
        with pytest.raises(RdbError):
            load_all(bytes(damaged))


def test_checksum_mismatch_names_both_values():
    damaged = TINY[:-1] + bytes([TINY[-1] ^ 0xFF])
    with pytest.raises(RdbError, match=r"Wrong RDB checksum expected: \([0-9a-f]+\) but got") as refused:
        read_all(damaged)
    assert refused.value.offset == len(TINY) - 8


def test_checksum_of_zero_means_saved_without_one():
    data = TINY[:-8] + bytes(8)
    assert read_all(data) == 11


def test_checksum_verification_can_be_turned_off():
    damaged = TINY[:-1] + bytes([TINY[-1] ^ 0xFF])
    reader = RdbReader(io.BytesIO(damaged), verify_checksum=False)
    assert sum(1 for _ in reader.entries()) == 11


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"REDIX0010\xff", "Wrong signature"),
        (b"REDIS0011\xff" + bytes(8), "Can't handle RDB format version 0011"),
        (b"REDIS0000\xff", "Can't handle RDB format version 0000"),
        (b"REDIS00a9\xff", "Can't handle RDB format version 00a9"),
        (rdb(b"\x08\x01k"), "Unknown RDB object type or opcode 8"),
        (rdb(b"\x14\x01k"), "Unknown RDB object type or opcode 20"),
        (rdb(b"\xf4"), "Unknown RDB object type or opcode 244"),
        (rdb(b"\xfe\x82"), "Unknown length encoding"),
        (rdb(b"\x00\x01k\xc4"), "Unknown RDB string encoding type 4"),
        (rdb(b"\x0b\x01k" + encode_string(bytes(8))), "intset"),
        (rdb(b"\x10\x01k\x03abc"), "listpack"),
        (rdb(b"\x12\x01k\x01\x03\x00"), "Quicklist integrity check failed"),
        (rdb(b"\x02\x01k\x02\x01a\x01a"), "Duplicate set members detected"),
        (rdb(b"\x04\x01k\x02\x01f\x01v\x01f\x01w"), "Duplicate hash fields detected"),
        (rdb(b"\x05\x01k\x01\x01m" + b"\x00\x00\x00\x00\x00\x00\xf8\x7f"), "Zset with NAN score detected"),
        (rdb(b"\x03\x01k\x01\x01m\xfd"), "Zset with NAN score detected"),
        (rdb(b"\x00\x01k\xc3\x02\x05ab"), "Invalid LZF compressed string"),
    ],
)
def test_malformed_files_are_refused_with_the_reason(data, message):
    with pytest.raises(RdbError, match=message):
        read_all(data)


def test_duplicate_keys_are_refused():
    data = rdb(b"\xfe\x00" + string_key(b"k", b"1") + string_key(b"k", b"2"))
    with pytest.raises(RdbError, match="Duplicated key"):
        load_all(data)


def test_a_database_beyond_the_configured_number_is_refused():
    data = rdb(b"\xfe\x10" + string_key(b"k", b"v"))
    with pytest.raises(RdbError, match="more than 16 databases"):
        load_all(data)


def test_values_are_never_allocated_from_a_length_the_file_does_not_hold():
    # A 2**62-byte string in a 30-byte file: refused at once, without trying to read or allocate it.
    data = rdb(b"\x00\x01k\x81" + (2**62).to_bytes(8, "big"))
    with pytest.raises(RdbError, match="Unexpected EOF"):
        read_all(data, sized=True)
    with pytest.raises(RdbError, match="Unexpected EOF"):
        read_all(data, sized=False)


# -- unusual but valid ------------------------------------------------------------------------------


def test_empty_collections_are_skipped_and_counted():
    data = rdb(b"\xfe\x00\x02\x01e\x00\x04\x01h\x00" + string_key(b"k", b"v"))
    ks = Keyspace()
    stats = LoadStats()
    RdbReader(io.BytesIO(data)).load_into(ks, None, stats)
    assert set(ks.dbs[0].data) == {b"k"} and stats.empty_keys_skipped == 2


def test_lru_and_lfu_attributes_apply_to_the_next_key_only():
    data = rdb(b"\xf8\x05" + string_key(b"a", b"1") + b"\xf9\x07" + string_key(b"b", b"2")
               + string_key(b"c", b"3"))
    entries = list(RdbReader(io.BytesIO(data)).entries())
    assert [(e.key, e.lru_idle, e.lfu_freq) for e in entries] == [(b"a", 5, None), (b"b", None, 7),
                                                                   (b"c", None, None)]


def test_second_precision_expire_of_old_files_is_read_as_ms():
    data = rdb(b"\xfd" + (2000000000).to_bytes(4, "little") + string_key(b"k", b"v"), version=b"0003",
               checksum=False)[:-8]
    (entry,) = RdbReader(io.BytesIO(data)).entries()
    assert entry.expire_ms == 2000000000000


def test_pre_release_function_records_become_library_source():
    body = (b"\xf6" + encode_string(b"mylib") + encode_string(b"LUA") + encode_length(1)
            + encode_string(b"a description") + encode_string(b"return 1"))
    reader = RdbReader(io.BytesIO(rdb(body)))
    assert list(reader.entries()) == []
    assert reader.functions == [b"#!LUA name=mylib\nreturn 1"]


def test_reader_stops_at_the_checksum_and_reports_where_the_rdb_ends():
    data = TINY + b"*1\r\n$4\r\nPING\r\n"  # an AOF preamble base goes on with RESP commands
    reader = RdbReader(io.BytesIO(data))
    assert sum(1 for _ in reader.entries()) == 11
    assert reader.bytes_read == len(TINY)


def test_legacy_linked_list_and_ziplist_types_load():
    body = (b"\x01\x01a" + encode_length(2) + encode_string(b"x") + encode_string(b"y")
            + b"\x0e\x01b" + encode_length(0))
    entries = list(RdbReader(io.BytesIO(rdb(body, version=b"0006"))).entries())
    assert [(e.key, list(e.value)) for e in entries] == [(b"a", [b"x", b"y"])]


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 16, 19, 64, 100])
def test_any_read_window_size_reads_the_same_file(monkeypatch, chunk):
    """Window refills can fall anywhere in a record, even within the last bytes of the file."""
    monkeypatch.setattr("emberkv.persistence.rdb.source.CHUNK", chunk)
    monkeypatch.setattr("emberkv.persistence.rdb.reader.CHUNK", chunk)
    for sized in (True, False):
        assert read_all(TINY, sized) == 11
    for sized in (True, False):
        ks = Keyspace()
        reader = RdbReader(io.BytesIO(TINY), total_size=len(TINY) if sized else None)
        assert reader.load_into(ks, None, LoadStats())
        assert sum(len(db.data) for db in ks.dbs) == 11
        for cut in range(len(TINY)):
            with pytest.raises(RdbError):
                read_all(TINY[:cut], sized)
