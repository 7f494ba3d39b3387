"""DUMP / RESTORE payloads: every payload real Redis 7.0.15 produced restores to the same value, ours are
byte-identical to Redis's (except where Redis's own hash-table order shows), real Redis restores ours,
and damaged payloads get Redis's exact error replies."""

from __future__ import annotations

import json
import time

import pytest

from emberkv.keyspace.db import Keyspace
from emberkv.keyspace.digest import key_digest_hex, value_digest
from emberkv.keyspace.values import HashValue, ListValue, SetValue
from emberkv.persistence.rdb import DumpError, load_rdb_file
from emberkv.persistence.rdb.crc64 import crc64
from emberkv.persistence.rdb.dump import dump_payload, restore_payload
from tests.servers import FIXTURES, REDIS_SERVER, start_redis
from tests.test_rdb_roundtrip import zset

CHECKSUM_ERROR = "ERR DUMP payload version or checksum are wrong"
FORMAT_ERROR = "ERR Bad data format"


def signed(body: bytes, version: int = 10) -> bytes:
    """A payload with a valid footer around body (type byte + value)."""
    data = body + version.to_bytes(2, "little")
    return data + crc64(data).to_bytes(8, "little")


@pytest.fixture(scope="module")
def redis_payloads() -> list[dict]:
    path = FIXTURES / "rdb/redis7/dump-payloads.json"
    if not path.is_file():
        pytest.skip(f"{path} not found: needs ../shared/fixtures")
    return json.loads(path.read_text())["payloads"]


@pytest.fixture(scope="module")
def all_encodings() -> dict:
    path = FIXTURES / "rdb/redis7/all-encodings.rdb"
    if not path.is_file():
        pytest.skip(f"{path} not found: needs ../shared/fixtures")
    ks = Keyspace()
    load_rdb_file(path, ks, int(time.time() * 1000))
    return ks.dbs[0].data


def key_of(entry: dict) -> bytes:
    k = entry["key"]
    return bytes.fromhex(k["hex"]) if isinstance(k, dict) else k.encode()


def test_every_redis_payload_restores_to_the_value_redis_dumped(redis_payloads, all_encodings):
    assert len(redis_payloads) == 34
    for entry in redis_payloads:
        value = restore_payload(bytes.fromhex(entry["payload_hex"]))
        assert value_digest(value, False) == value_digest(all_encodings[key_of(entry)], False), entry["key"]


def test_our_payloads_are_byte_identical_to_redis(redis_payloads, all_encodings):
    for entry in redis_payloads:
        value = all_encodings[key_of(entry)]
        ours = dump_payload(value)
        if isinstance(value, (SetValue, HashValue)) and value.big:
            # A hash table lists members in hash order, which differs between any two processes.
            assert len(ours) == len(bytes.fromhex(entry["payload_hex"])), entry["key"]
        else:
            assert ours.hex() == entry["payload_hex"], entry["key"]


@pytest.mark.parametrize(
    ("value", "payload"),
    [
        (b"12345", "00c139300a009d94ea2793fc08b9"),
        (ListValue([b"a", b"b", b"c"]), "1201021010000000030081610281620281630" + "2ff0a00c818b90c9533529e"),
        (zset({b"m": 1.5, b"n": 2.0}), "11141400000004008" + "16d0283312e3504816e020201ff0a00f1b03a6d585f6938"),
    ],
)
def test_spec_dump_examples(value, payload):
    assert dump_payload(value).hex() == payload
    assert value_digest(restore_payload(bytes.fromhex(payload)), False) == value_digest(value, False)


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (b"", CHECKSUM_ERROR),
        (bytes.fromhex("0a009d94ea2793fc08"), CHECKSUM_ERROR),  # shorter than the footer
        (bytes.fromhex("00c139300a009d94ea2793fc08b8"), CHECKSUM_ERROR),  # flipped CRC bit
        (bytes.fromhex("00c139310a009d94ea2793fc08b9"), CHECKSUM_ERROR),  # flipped value bit
        (bytes.fromhex("00c139300a000000000000000000"), CHECKSUM_ERROR),  # zero CRC is not "disabled"
        (signed(b"\x00\xc1\x39\x30", version=11), CHECKSUM_ERROR),
        (signed(b"\x00\x05abc"), FORMAT_ERROR),  # value cut short
        (signed(b"\x0b\x08" + bytes(8)), FORMAT_ERROR),  # empty intset
        (signed(b"\x04\x00"), FORMAT_ERROR),  # empty hash
        (signed(b"\x08\x00"), FORMAT_ERROR),  # no such type
        (signed(b"\x13\x00"), FORMAT_ERROR),  # a stream: emberkv cannot hold it
        (signed(b""), FORMAT_ERROR),
        (signed(b"\xff\xff\xff"), FORMAT_ERROR),
    ],
)
def test_bad_payloads_get_redis_errors(payload, error):
    with pytest.raises(DumpError) as refused:
        restore_payload(payload)
    assert str(refused.value) == error


def test_payload_cut_at_every_length_is_refused():
    payload = dump_payload(zset({b"m%d" % i: i / 3 for i in range(20)}))
    for cut in range(len(payload)):
        with pytest.raises(DumpError):
            restore_payload(payload[:cut])


def test_trailing_bytes_after_the_value_are_accepted_like_redis():
    assert restore_payload(signed(b"\x00\xc1\x39\x30garbage")) == b"12345"


def test_old_versions_and_old_types_restore():
    assert restore_payload(signed(b"\x00\x02ok", version=6)) == b"ok"
    old_zset = restore_payload(signed(b"\x03\x01\x01m\x031.5", version=6))
    assert old_zset.scores == {b"m": 1.5}


@pytest.mark.interop
def test_real_redis_restores_our_payloads_to_the_same_value(tmp_path, all_encodings):
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed: interop tests need it (CI installs it)")
    server = start_redis(tmp_path / "redis")
    try:
        r = server.client()
        for key, value in all_encodings.items():
            r.restore(key, 0, dump_payload(value))
            assert r.execute_command("DEBUG", "DIGEST-VALUE", key) == [key_digest_hex(value, False)], key
            # and what Redis dumps back restores here to the same value
            assert value_digest(restore_payload(r.dump(key)), False) == value_digest(value, False), key
    finally:
        server.stop()
