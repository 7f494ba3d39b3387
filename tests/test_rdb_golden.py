"""Golden files: every RDB fixture written by real Redis (2.x to 7.0.15) loads to exactly the dataset
real redis-server 7.0.15 saw when it loaded the same file: keys, types, values, TTLs, the encoding our
``big`` flag decides, and DEBUG DIGEST. Files Redis refuses (module data) are refused by name, and
files holding streams are refused naming the stream key."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from emberkv.keyspace.db import Keyspace
from emberkv.keyspace.digest import dataset_digest
from emberkv.keyspace.values import HashValue, ListValue, SetValue, ZSetValue, string_encoding, type_name
from emberkv.persistence.rdb import (
    ModuleError,
    RdbReader,
    UnsupportedTypeError,
    UnsupportedValue,
    load_rdb_file,
)
from tests.servers import FIXTURES

RDB_FIXTURES = FIXTURES / "rdb"
MISSING = [pytest.param(
    None, marks=pytest.mark.skip(reason=f"{RDB_FIXTURES} not found: golden tests need ../shared/fixtures")
)]


def expected(path: Path) -> dict:
    return json.loads(path.with_suffix(".json").read_text())


def _has_stream(path: Path) -> bool:
    return any(k["type"] == "stream" for k in expected(path).get("keys", []))


CASES = sorted(RDB_FIXTURES.glob("*/*.rdb")) if RDB_FIXTURES.is_dir() else []
# What real Redis did with each file: loaded it, loaded it with streams in it, or refused it.
LOADABLE = [p for p in CASES if expected(p)["loads"] and not _has_stream(p)] or MISSING
WITH_STREAMS = [p for p in CASES if expected(p)["loads"] and _has_stream(p)] or MISSING
REFUSED = [p for p in CASES if not expected(p)["loads"]] or MISSING


def case_id(path: Path | None) -> str:
    return f"{path.parent.name}/{path.name}" if path else "no-fixtures"


def jbytes(x: str | dict) -> bytes:
    """A byte string as the fixture JSON holds it: text when valid UTF-8, else {"hex": ...}."""
    return bytes.fromhex(x["hex"]) if isinstance(x, dict) else x.encode()


def encoding_of(value: object) -> str:
    if isinstance(value, bytes):
        return string_encoding(value).decode()
    if isinstance(value, ListValue):
        return "quicklist"
    if isinstance(value, SetValue):
        return "hashtable" if value.big else "intset"
    if isinstance(value, ZSetValue):
        return "skiplist" if value.big else "listpack"
    assert isinstance(value, HashValue)
    return "hashtable" if value.big else "listpack"


def assert_value_matches(value: object, want: dict) -> None:
    name = want["key"]
    assert type_name(value).decode() == want["type"], name
    v = want["value"]
    if want["type"] == "string":
        assert value == jbytes(v), name
    elif want["type"] == "list":
        assert list(value) == [jbytes(e) for e in v], name
    elif want["type"] == "set":
        assert value == {jbytes(m) for m in v}, name
    elif want["type"] == "hash":
        assert dict(value) == {jbytes(f): jbytes(x) for f, x in v}, name
    else:
        assert [m for _, m in value.ranked] == [jbytes(m) for m, _ in v], name
        assert [s for s, _ in value.ranked] == [float(s) for _, s in v], name
    assert encoding_of(value) == want["encoding"], name


@pytest.mark.parametrize("path", LOADABLE, ids=case_id)
def test_fixture_loads_like_redis(path: Path) -> None:
    want = expected(path)
    ks = Keyspace()
    stats = load_rdb_file(path, ks, int(time.time() * 1000))
    assert stats.keys_loaded == len(want["keys"])
    for k in want["keys"]:
        db = ks.dbs[k["db"]]
        key = jbytes(k["key"])
        assert key in db.data, k["key"]
        assert_value_matches(db.data[key], k)
        assert db.expires.get(key) == k["pexpireat"], k["key"]
    assert dataset_digest(ks).decode() == want["debug_digest"]


@pytest.mark.parametrize("path", WITH_STREAMS, ids=case_id)
def test_stream_fixture_is_refused_naming_the_key(path: Path) -> None:
    streams = {jbytes(k["key"]) for k in expected(path)["keys"] if k["type"] == "stream"}
    with pytest.raises(UnsupportedTypeError) as refused:
        load_rdb_file(path, Keyspace(), int(time.time() * 1000))
    assert refused.value.key in streams
    assert refused.value.type_name == "stream"
    assert repr(refused.value.key) in str(refused.value) and "stream" in str(refused.value)


@pytest.mark.parametrize("path", WITH_STREAMS, ids=case_id)
def test_stream_fixture_walked_for_check_rdb_keeps_every_other_key(path: Path) -> None:
    want = expected(path)
    with path.open("rb") as f:
        entries = {(e.dbid, e.key): e for e in RdbReader(f, skip_unsupported=True).entries()}
    assert len(entries) == len(want["keys"])
    for k in want["keys"]:
        entry = entries[(k["db"], jbytes(k["key"]))]
        if k["type"] == "stream":
            assert isinstance(entry.value, UnsupportedValue) and entry.value.type_name == "stream"
        else:
            assert_value_matches(entry.value, k)


@pytest.mark.parametrize("path", REFUSED, ids=case_id)
def test_module_fixture_is_refused_naming_the_module(path: Path) -> None:
    want = expected(path)
    redis_said = want["redis_log_tail"][-1]
    with pytest.raises(ModuleError) as refused:
        load_rdb_file(path, Keyspace(), int(time.time() * 1000))
    assert f"'{refused.value.module}'" in redis_said
    assert refused.value.reason in redis_said  # the same words as Redis's log line


def test_expired_keys_are_skipped_and_counted(fixtures_dir: Path) -> None:
    ks = Keyspace()
    stats = load_rdb_file(fixtures_dir / "rdb/legacy/keys_with_expiry.rdb", ks, int(time.time() * 1000))
    assert stats.keys_loaded == 0 and stats.keys_expired == 1
    kept = Keyspace()
    stats = load_rdb_file(fixtures_dir / "rdb/legacy/keys_with_expiry.rdb", kept, None)
    assert stats.keys_loaded == 1 and kept.dbs[0].expires


def test_reader_reports_version_aux_and_checksum(fixtures_dir: Path) -> None:
    with (fixtures_dir / "rdb/redis7/all-encodings.rdb").open("rb") as f:
        reader = RdbReader(f)
        assert reader.version == 10
        assert reader.aux[b"redis-ver"] == b"7.0.15" and reader.aux[b"redis-bits"] == b"64"
        assert sum(1 for _ in reader.entries()) == 37
        assert reader.checksum and reader.done
        assert reader.bytes_read == (fixtures_dir / "rdb/redis7/all-encodings.rdb").stat().st_size
