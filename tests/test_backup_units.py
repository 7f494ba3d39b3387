"""The backup library's pieces on their own: addresses, manifests, retention plans, the file digest,
raw value slices and progress lines."""

from __future__ import annotations

import io
import json
import time

import pytest

from emberkv.backup.connection import parse_address
from emberkv.backup.errors import EXIT_CORRUPT, EXIT_USAGE, BackupError, storage_error
from emberkv.backup.manifest import Manifest, new_backup_id
from emberkv.backup.progress import Reporter, human_bytes
from emberkv.backup.prune import plan_prune
from emberkv.backup.rdbscan import TapReader, restore_payload_of, scan_rdb
from emberkv.keyspace.db import Keyspace
from emberkv.keyspace.digest import dataset_digest
from emberkv.persistence.rdb.dump import dump_payload, restore_payload
from emberkv.persistence.rdb.errors import RdbError
from emberkv.persistence.rdb.writer import rdb_save_keyspace
from tests.backup_support import FAR_FUTURE_MS, every_type

# -- addresses ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "host", "port", "user", "password", "db"), [
    ("redis://example.com:6380/2", "example.com", 6380, "", "", 2),
    ("redis://:pw@127.0.0.1", "127.0.0.1", 6379, "", "pw", 0),
    ("redis://alice:p%40ss@h:1", "h", 1, "alice", "p@ss", 0),
    ("10.0.0.5:7000", "10.0.0.5", 7000, "", "", 0),
    ("redis://[::1]:7001", "::1", 7001, "", "", 0),
])
def test_parse_address(url, host, port, user, password, db, monkeypatch):
    monkeypatch.delenv("REDISCLI_AUTH", raising=False)
    a = parse_address(url)
    assert (a.host, a.port, a.username, a.password, a.db) == (host, port, user, password, db)
    assert "@" not in a.display and (not password or password not in a.display)


def test_parse_address_unix_socket_and_env_password(monkeypatch):
    monkeypatch.setenv("REDISCLI_AUTH", "fromenv")
    a = parse_address("unix:///run/redis.sock")
    assert a.unix_path == "/run/redis.sock" and a.password == "fromenv" and a.display == "unix:///run/redis.sock"
    assert parse_address("redis://:given@h").password == "given"


@pytest.mark.parametrize("url", ["http://h", "rediss://h", "redis://h:port", "redis://h/x", "unix://"])
def test_parse_address_refuses(url):
    with pytest.raises(BackupError) as exc:
        parse_address(url)
    assert exc.value.code == EXIT_USAGE


def test_storage_error_words_the_common_cases():
    import errno

    assert "no space left on device" in storage_error(OSError(errno.ENOSPC, "x"), "writing").message
    assert "file too large" in storage_error(OSError(errno.EFBIG, "x"), "writing").message
    assert storage_error(OSError(errno.EACCES, "Permission denied", "/f"), "w").message == "w: Permission denied (/f)"


# -- manifests and ids ----------------------------------------------------------------------------------------


def _manifest(backup_id: str = "id", created: float = 0.0) -> Manifest:
    return Manifest(id=backup_id, created=created, source="redis://h:1", server="emberkv", server_version="v",
                    run_id="r", object="dump.rdb", compression="none", size=1, sha256="s", stored_size=1,
                    stored_sha256="s", rdb_version=10, crc64="0", keys={"0": 3, "5": 2}, digest="d")


def test_manifest_round_trip_and_bad_documents():
    m = _manifest()
    doc = json.loads(m.to_json())
    assert doc["created_iso"] == "1970-01-01T00:00:00.000Z" and doc["format"] == 1
    assert Manifest.from_json(m.to_json(), "x") == m
    assert m.total_keys == 5
    for bad in (b"{", b"[]", json.dumps({**doc, "format": 99}).encode(), json.dumps({"format": 1}).encode()):
        with pytest.raises(BackupError) as exc:
            Manifest.from_json(bad, "where")
        assert exc.value.code == EXIT_CORRUPT and "where" in exc.value.message


def test_backup_ids_sort_by_time():
    early, late = new_backup_id(1_000_000_000), new_backup_id(1_000_000_001)
    assert early < late and early.startswith("20010909T014640Z-") and len(early) == 23


# -- retention ------------------------------------------------------------------------------------------------

HOUR = 3600.0
DAY = 24 * HOUR


def _series(times: list[float]) -> list[Manifest]:
    return [_manifest(f"b{i:03d}", t) for i, t in enumerate(times)]


def test_keep_last():
    backups = _series([i * HOUR for i in range(5)])
    kept, doomed = plan_prune(backups, keep_last=2)
    assert sorted(kept) == ["b003", "b004"] and [m.id for m in doomed] == ["b000", "b001", "b002"]


def test_keep_hourly_daily_weekly_take_the_newest_of_each_period():
    start = 1_700_006_400.0  # a Wednesday, 00:00 UTC
    times = [start + d * DAY + h * HOUR + m * 60 for d in range(15) for h in (1, 2) for m in (0, 30)]
    backups = _series(times)
    newest = backups[-1].id
    kept, _ = plan_prune(backups, keep_hourly=3)
    assert len(kept) == 3 and newest in kept
    kept, _ = plan_prune(backups, keep_daily=4)
    assert len(kept) == 4 and all(kept[k] == ["daily"] for k in kept)
    kept_days = sorted(int((m.created - start) // DAY) for m in backups if m.id in kept)
    assert kept_days == [11, 12, 13, 14]
    kept, _ = plan_prune(backups, keep_weekly=10)
    assert len(kept) == 3  # 15 days span three ISO weeks: only periods with backups count


def test_rules_combine_and_no_rule_keeps_nothing():
    backups = _series([i * DAY for i in range(10)])
    kept, doomed = plan_prune(backups, keep_last=1, keep_daily=3)
    assert kept[backups[-1].id] == ["last", "daily"] and len(kept) == 3 and len(doomed) == 7
    kept, doomed = plan_prune(backups)
    assert kept == {} and len(doomed) == 10
    assert plan_prune([], keep_last=3) == ({}, [])


# -- reading a file: digest, counts, raw values ---------------------------------------------------------------


def _keyspace_and_file() -> tuple[Keyspace, bytes]:
    ks = Keyspace()
    for dbid, key, value, ttl in every_type():
        ks.dbs[dbid].data[key] = value
        if ttl:
            ks.dbs[dbid].expires[key] = FAR_FUTURE_MS
    out = io.BytesIO()
    rdb_save_keyspace(out, ks)
    return ks, out.getvalue()


def test_file_digest_equals_the_keyspace_digest():
    ks, data = _keyspace_and_file()
    result = scan_rdb(io.BytesIO(data), len(data))
    assert result.digest == dataset_digest(ks).decode()
    assert result.keys == {0: 17, 2: 2, 15: 1} and result.expires == 3 and result.version == 10
    assert result.size == len(data) and result.checksum == int.from_bytes(data[-8:], "little")


def test_empty_dataset_digest_is_forty_zeros():
    out = io.BytesIO()
    rdb_save_keyspace(out, Keyspace())
    assert scan_rdb(io.BytesIO(out.getvalue())).digest == "0" * 40


def test_raw_values_become_restore_payloads_of_the_same_values():
    _, data = _keyspace_and_file()
    bodies = {}
    scan_rdb(io.BytesIO(data), on_entry=lambda e: bodies.__setitem__(e.key, e), raw=True, digest=False)
    for _, key, value, _ in every_type():
        payload = restore_payload_of(bodies[key].body, 10)
        if isinstance(value, bytes):
            assert restore_payload(payload) == value  # strings may be re-encoded (no LZF): same value
        else:
            assert payload == dump_payload(value)  # other values: the stored bytes themselves


def test_corrupt_file_raises_with_an_offset():
    _, data = _keyspace_and_file()
    broken = bytearray(data)
    broken[len(data) // 2] ^= 0xFF
    with pytest.raises(RdbError) as exc:
        scan_rdb(io.BytesIO(bytes(broken)), len(broken))
    assert exc.value.offset > 0


def test_tap_reader_cuts_ranges_across_chunks():
    class Chunky(io.BytesIO):
        def read(self, n=-1):
            return super().read(3)

    tap = TapReader(Chunky(b"0123456789"))
    while tap.read(100):
        pass
    assert tap.cut(2, 8) == b"234567"
    tap.release(6)
    assert tap.cut(6, 10) == b"6789"


# -- progress -------------------------------------------------------------------------------------------------


def test_plain_progress_lines(monkeypatch):
    out = io.StringIO()
    clock = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    reporter = Reporter("plain", out)
    with reporter.task("copying", 2_000_000) as task:
        clock[0] += 6
        task.update(1_000_000)
        clock[0] += 1
        task.update(1_500_000)  # within 5 s of the last line: quiet
        clock[0] += 1
        task.update(2_000_000)
    lines = out.getvalue().splitlines()
    assert lines == ["copying ...", "copying: 1.0 MB of 2.0 MB (50%), 166.7 kB/s",
                     "copying: done, 2.0 MB in 8.0 s (250.0 kB/s)"]


def test_progress_off_and_human_bytes():
    out = io.StringIO()
    with Reporter("off", out).task("x", 10) as task:
        task.update(5)
    assert out.getvalue() == ""
    assert [human_bytes(n) for n in (0, 999, 1000, 1_234_567, 5e12)] == ["0 B", "999 B", "1.0 kB", "1.2 MB", "5.0 TB"]


def test_bar_mode_renders_without_a_terminal():
    out = io.StringIO()
    reporter = Reporter("rich", out)
    with reporter.task("copying", 100) as task:
        task.update(50)
        reporter.line("a status line while the bar is up")
        task.update(100)
    assert "copying" in out.getvalue() and "a status line" in out.getvalue()
