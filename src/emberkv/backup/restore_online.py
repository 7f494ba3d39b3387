"""``backup restore ID --into redis://...``: load a backup into a running server with RESTORE.

Each key of the RDB becomes ``RESTORE key <expire-ms> <payload> ABSTTL [REPLACE]`` where the payload is
the value's bytes exactly as stored in the file plus a DUMP footer (the file's RDB version and a
CRC-64): nothing is decoded into Python objects and encoded again, and any type the target knows is
restored (streams too, into Redis). Commands go out in pipelines of a few thousand, a SELECT in front of
each database's keys. Keys whose expire time has passed are skipped, as Redis would drop them.

The stored object is checked against the manifest (size, SHA-256) before anything is sent, so a
corrupt backup is refused without touching the target. Without filters, and when the target held no keys before, the target's DEBUG DIGEST is compared with
the backup's at the end. An interrupted restore is reported as partial, with how far it got.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import hiredis

from emberkv.backup.catalog import Catalog
from emberkv.backup.connection import Connection, RedisAddress, ServerReplyError, encode_command, info_fields
from emberkv.backup.errors import (
    EXIT_CORRUPT,
    EXIT_MISMATCH,
    EXIT_PARTIAL,
    EXIT_UNREACHABLE,
    BackupError,
    storage_error,
)
from emberkv.backup.manifest import Manifest
from emberkv.backup.progress import Reporter
from emberkv.backup.rdbscan import ScanEntry, scan_rdb
from emberkv.backup.streams import HashingReader
from emberkv.backup.verify import rdb_readers
from emberkv.keyspace.glob import glob_match
from emberkv.persistence.rdb.crc64 import crc64
from emberkv.persistence.rdb.errors import RdbError

BATCH_COMMANDS = 2000
BATCH_BYTES = 8 << 20


@dataclass
class RestoreReport:
    restored: int = 0
    expired: int = 0  # skipped: their time had passed
    filtered: int = 0  # skipped by --db / --match
    existing: int = 0  # BUSYKEY: already there and no --replace
    failed: list[str] = field(default_factory=list)  # "key: error" for other refusals
    failed_count: int = 0
    functions: int = 0  # function libraries loaded (FUNCTION LOAD)
    function_errors: list[str] = field(default_factory=list)
    digest_note: str = ""


class _Restorer:
    """Turns scanned keys into RESTORE commands and sends them in pipelines.

    One batch is kept in flight: a batch is sent, then the replies of the one before it are read, so
    the target works on one batch while the next is being decoded and encoded here."""

    def __init__(self, conn: Connection, version: int, replace: bool, db: int | None, match: bytes | None) -> None:
        self.conn = conn
        self.footer = version.to_bytes(2, "little")
        options = [b"ABSTTL", b"REPLACE"] if replace else [b"ABSTTL"]
        self.argc = b"*%d\r\n$7\r\nRESTORE\r\n" % (4 + len(options))
        self.options = b"".join(b"$%d\r\n%s\r\n" % (len(o), o) for o in options)
        self.db = db
        self.match = match
        self.report = RestoreReport()
        self.batch: list[bytes] = []
        self.keys: list[bytes | None] = []  # the key of each batched command (None: SELECT)
        self.size = 0
        self.in_flight: list[bytes | None] | None = None
        self.selected = -1
        self.now_ms = int(time.time() * 1000)

    def entry(self, e: ScanEntry) -> None:
        key, expire_ms = e.key, e.expire_ms
        if (self.db is not None and e.dbid != self.db) or (self.match is not None and not glob_match(self.match, key)):
            self.report.filtered += 1
            return
        if expire_ms is not None and expire_ms <= self.now_ms:
            self.report.expired += 1
            return
        if e.dbid != self.selected:
            self.batch.append(encode_command([b"SELECT", b"%d" % e.dbid]))
            self.keys.append(None)
            self.selected = e.dbid
        data = e.body + self.footer
        payload_len = len(data) + 8
        ttl = b"%d" % expire_ms if expire_ms is not None else b"0"
        command = b"%s$%d\r\n%s\r\n$%d\r\n%s\r\n$%d\r\n%s%s\r\n%s" % (
            self.argc, len(key), key, len(ttl), ttl, payload_len, data, crc64(data).to_bytes(8, "little"),
            self.options)
        self.batch.append(command)
        self.keys.append(key)
        self.size += len(command)
        if len(self.batch) >= BATCH_COMMANDS or self.size >= BATCH_BYTES:
            self.send()

    def send(self) -> None:
        """Send the batch being built, then take the replies of the previous one."""
        if not self.batch:
            return
        self.conn.send(b"".join(self.batch))
        previous, self.in_flight = self.in_flight, self.keys
        self.batch, self.keys, self.size = [], [], 0
        if previous is not None:
            self._replies(previous)

    def flush(self) -> None:
        """Send what is left and wait for every reply."""
        self.send()
        if self.in_flight is not None:
            self._replies(self.in_flight)
            self.in_flight = None

    def _replies(self, keys: list[bytes | None]) -> None:
        report = self.report
        for key in keys:
            reply = self.conn.reply()
            if not isinstance(reply, hiredis.ReplyError):
                if key is not None:
                    report.restored += 1
                continue
            text = str(reply)
            if key is None:
                raise BackupError(f"the target refused SELECT: {text}", EXIT_PARTIAL)
            if text.startswith("BUSYKEY"):
                report.existing += 1
                continue
            report.failed_count += 1
            if len(report.failed) < 5:
                report.failed.append(f"{key.decode('utf-8', 'backslashreplace')}: {text}")


def restore_online(catalog: Catalog, manifest: Manifest, address: RedisAddress, reporter: Reporter,
                   replace: bool = False, db: int | None = None, match: bytes | None = None,
                   timeout: float = 60.0, tmp_dir: str | None = None) -> RestoreReport:
    """Check the stored object against the manifest first (a corrupt backup sends nothing), then restore."""
    with Connection(address, timeout) as conn:
        conn.authenticate()
        conn.call("PING")
    with reporter.task(f"checking {manifest.id}", manifest.stored_size) as task:
        path, staging = catalog.fetch_local(manifest, tmp_dir, task.update)
        try:
            _check_stored(path, manifest, task.update)
        except BaseException:
            if staging is not None:
                staging.discard()
            raise
    try:
        return _restore_file(path, manifest, address, reporter, replace, db, match, timeout)
    finally:
        if staging is not None:
            staging.discard()


def _check_stored(path: str, manifest: Manifest, progress) -> None:
    try:
        with open(path, "rb") as f:
            reader = HashingReader(f, lambda n: progress(n, manifest.stored_size))
            reader.drain()
    except OSError as exc:
        raise storage_error(exc, f"cannot read backup {manifest.id}") from None
    if reader.count != manifest.stored_size or reader.hexdigest() != manifest.stored_sha256:
        raise BackupError(f"backup {manifest.id} is corrupt (its data does not match the manifest's size and "
                          "SHA-256): nothing was restored; run 'emberkv backup verify' for details", EXIT_CORRUPT)


def _restore_file(path: str, manifest: Manifest, address: RedisAddress, reporter: Reporter, replace: bool,
                  db: int | None, match: bytes | None, timeout: float) -> RestoreReport:
    with Connection(address, timeout) as conn, open(path, "rb") as raw:
        conn.authenticate()
        was_empty = _keyspace_empty(conn)
        restorer = _Restorer(conn, manifest.rdb_version, replace, db, match)
        try:
            with reporter.task(f"restoring {manifest.id} into {address.display}", manifest.stored_size) as task:
                stored, rdb = rdb_readers(raw, manifest, task.update)
                result = scan_rdb(rdb, manifest.size, on_entry=restorer.entry, raw=True, digest=False)
                restorer.flush()
        except (BackupError, RdbError) as exc:
            reason = exc.message if isinstance(exc, BackupError) else f"the backup does not decode: {exc}"
            done = restorer.report.restored
            raise BackupError(f"restore interrupted after {done} of {manifest.total_keys} keys: {reason}; "
                              f"the target holds a partial restore", EXIT_PARTIAL) from None
        report = restorer.report
        if db is None and match is None:
            _load_functions(conn, result.functions, replace, report)
            report.digest_note = _check_digest(conn, manifest, report, was_empty)
    return report


def _load_functions(conn: Connection, libraries: list[bytes], replace: bool, report: RestoreReport) -> None:
    """Function libraries (Redis 7 FUNCTION LOAD) travel in the RDB's header, not as keys."""
    for code in libraries:
        try:
            conn.call("FUNCTION", "LOAD", *(["REPLACE"] if replace else []), code)
            report.functions += 1
        except ServerReplyError as exc:
            name = code.split(b"\n", 1)[0].decode("utf-8", "replace")
            report.function_errors.append(f"{name}: {exc.message}")


def _keyspace_empty(conn: Connection) -> bool:
    fields = info_fields(conn.call("INFO", "keyspace"))
    return not any(name.startswith("db") for name in fields)


def _check_digest(conn: Connection, manifest: Manifest, report: RestoreReport, was_empty: bool) -> str:
    """Compare DEBUG DIGEST with the backup's; a mismatch raises, otherwise a note on what was done."""
    if not was_empty:
        return "digest not compared: the target held keys before the restore"
    if report.expired or report.existing or report.failed_count:
        return "digest not compared: some keys were not restored"
    if manifest.digest is None:
        return "digest not compared: the backup holds module data"
    try:
        digest = conn.call("DEBUG", "DIGEST")
    except ServerReplyError as exc:
        return f"digest not compared: DEBUG DIGEST refused ({exc.message[:60]})"
    except BackupError as exc:
        raise BackupError(exc.message, EXIT_UNREACHABLE) from None
    digest = digest.decode() if isinstance(digest, bytes) else str(digest)
    if digest != manifest.digest:
        raise BackupError(f"restored, but the target's DEBUG DIGEST {digest} differs from the backup's "
                          f"{manifest.digest}", EXIT_MISMATCH)
    return f"DEBUG DIGEST matches the backup ({digest})"
