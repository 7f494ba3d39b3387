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


# -- the SYNC client against scripted servers -------------------------------------------------------------


def _scripted_server(answers: list[bytes], chunk: int = 1):
    """A server that answers the n-th command it receives with answers[n], ``chunk`` bytes at a time."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(5)
            buffered = b""
            for answer in answers:
                while not buffered.startswith(b"*") or buffered.count(b"\r\n") < 1 + 2 * int(buffered[1:2]):
                    try:
                        data = conn.recv(4096)
                    except OSError:
                        return
                    if not data:
                        return
                    buffered += data
                buffered = b""
                for i in range(0, len(answer), chunk):
                    conn.sendall(answer[i:i + chunk])
        listener.close()

    threading.Thread(target=serve, daemon=True).start()
    return parse_address(f"127.0.0.1:{listener.getsockname()[1]}")


def _fetch(address):
    from emberkv.backup.source import SourceInfo, fetch_snapshot

    out = io.BytesIO()
    info = SourceInfo(address.display)
    transfer = fetch_snapshot(address, out, info, timeout=5)
    return out.getvalue(), transfer, info


RDB = b"REDIS0010" + b"x" * 100


def test_sync_client_reads_the_eof_marker_form_byte_by_byte():
    mark = b"m" * 40
    answers = [b"+OK\r\n", b"+OK\r\n", b"\n\n+FULLRESYNC " + b"a" * 40 + b" 77\r\n\n$EOF:" + mark + b"\r\n" + RDB + mark]
    data, transfer, info = _fetch(_scripted_server(answers, chunk=1))
    assert data == RDB and transfer.framing == "eof-marker" and transfer.size == len(RDB)
    assert info.replid == "a" * 40 and info.offset == 77


def test_sync_client_reads_the_sized_form():
    answers = [b"+OK\r\n", b"-ERR Unrecognized REPLCONF option: rdb-only\r\n",
               b"+FULLRESYNC " + b"b" * 40 + b" 0\r\n$%d\r\n" % len(RDB) + RDB + b"*1\r\n$4\r\nPING\r\n"]
    data, transfer, _ = _fetch(_scripted_server(answers, chunk=7))
    assert data == RDB and transfer.framing == "size"


OK = b"+OK\r\n"


@pytest.mark.parametrize(("answers", "code", "fragment"), [
    ([OK, OK, b"+FULLRESYNC x 0\r\n$EOF:" + b"m" * 40 + b"\r\nREDIS"], 3, "after 5 bytes: the snapshot is incomplete"),
    ([OK, OK, b"+FULLRESYNC x 0\r\n$100\r\nREDIS"], 3, "after 5 bytes"),
    ([OK, OK, b"-NOPERM no permissions to run the 'psync' command\r\n"], 11, "NOPERM"),
    ([OK, OK, b"+CONTINUE\r\n"], 11, "unexpected answer to PSYNC"),
    ([OK, OK, b"+FULLRESYNC x 0\r\n*3\r\n"], 11, "unexpected payload header"),
    ([b"-NOAUTH Authentication required.\r\n"], 4, "requires a password"),
    ([OK, OK, b"-LOADING Redis is loading the dataset in memory\r\n"], 11, "LOADING"),
])
def test_sync_client_failures(answers, code, fragment):
    with pytest.raises(BackupError) as exc:
        _fetch(_scripted_server(answers, chunk=64))
    assert exc.value.code == code and fragment in exc.value.message


def test_protocol_garbage_is_a_server_error():
    from emberkv.backup.connection import Connection

    address = _scripted_server([b"+bad\nvalue\r\n"])
    with Connection(address, timeout=5) as conn:
        conn.send(b"*1\r\n$4\r\nPING\r\n")
        with pytest.raises(BackupError) as exc:
            conn.reply()
    assert exc.value.code == 11 and "broke the protocol" in exc.value.message
