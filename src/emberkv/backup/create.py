"""``backup create``: a consistent online snapshot of a running server, stored in a catalog.

1. INFO server (version, run id): fails fast, before anything is written, on a wrong address or password.
2. A staging area in the catalog (for S3: the bucket must exist).
3. The snapshot over the replication protocol (source.py), streamed to ``dump.rdb`` with its SHA-256.
4. One pass over the file: the scanner decodes every record (CRC-64, structure, keys per database, the
   DEBUG DIGEST) while the same bytes feed the zstd compressor.
5. Publish: object first, manifest last. On any failure the staging area is removed: nothing half-made
   is ever listed, and nothing that existed before is touched.
"""

from __future__ import annotations

import os
import time

import zstandard

from emberkv.backup.catalog import Catalog
from emberkv.backup.connection import RedisAddress
from emberkv.backup.errors import EXIT_CORRUPT, BackupError, storage_error
from emberkv.backup.manifest import Manifest, new_backup_id
from emberkv.backup.progress import Reporter
from emberkv.backup.rdbscan import ScanResult, scan_rdb
from emberkv.backup.source import fetch_snapshot, server_info
from emberkv.backup.streams import HashingReader, HashingWriter, zstd_writer
from emberkv.persistence.rdb.errors import RdbError

RDB_NAME = "dump.rdb"


def create_backup(catalog: Catalog, address: RedisAddress, reporter: Reporter, compress: bool = True,
                  level: int = 3, timeout: float = 60.0) -> Manifest:
    info = server_info(address, timeout)
    backup_id = new_backup_id()
    staging = catalog.staging(backup_id)
    try:
        rdb_path = staging.path(RDB_NAME)
        started = time.time()
        try:
            with open(rdb_path, "wb") as f, reporter.task(f"snapshot of {address.display}") as task:
                transfer = fetch_snapshot(address, f, info, timeout, task.update)
        except OSError as exc:
            raise storage_error(exc, "cannot store the snapshot") from None
        duration = time.time() - started
        object_name = RDB_NAME + ".zst" if compress else RDB_NAME
        result, stored_size, stored_sha = _check_and_compress(
            rdb_path, staging.path(object_name), transfer.size, compress, level, reporter, address.display)
        manifest = Manifest(
            id=backup_id, created=started, source=address.display, server=info.server,
            server_version=info.version, run_id=info.run_id, object=object_name,
            compression="zstd" if compress else "none", size=transfer.size, sha256=transfer.sha256,
            stored_size=stored_size, stored_sha256=stored_sha or transfer.sha256,
            rdb_version=result.version, crc64=f"{result.checksum or 0:x}",
            keys={str(db): n for db, n in sorted(result.keys.items())}, expires=result.expires,
            digest=result.digest, replid=info.replid, repl_offset=info.offset, duration=round(duration, 3),
        )
        with reporter.task(f"storing in {catalog.location}", manifest.stored_size) as task:
            catalog.publish(staging, manifest, task.update)
    except BaseException:
        staging.discard()
        raise
    return manifest


def _check_and_compress(rdb_path: str, object_path: str, size: int, compress: bool, level: int,
                        reporter: Reporter, source: str) -> tuple[ScanResult, int, str]:
    """Decode the whole RDB (and compress it in the same pass); the RDB is replaced by the .zst."""
    try:
        with open(rdb_path, "rb") as f, reporter.task("checking the snapshot", size) as task:
            if not compress:
                result = _scan(HashingReader(f, task.update), size, source)
                return result, size, ""
            with open(object_path, "wb") as out:
                hashed = HashingWriter(out)
                writer = zstd_writer(hashed, level, size)
                reader = HashingReader(f, task.update, tee=writer.write)
                result = _scan(reader, size, source)
                reader.drain()
                writer.flush(zstandard.FLUSH_FRAME)
                out.flush()
        os.unlink(rdb_path)
    except OSError as exc:
        raise storage_error(exc, "cannot write the backup") from None
    return result, hashed.count, hashed.hexdigest()


def _scan(reader: HashingReader, size: int, source: str) -> ScanResult:
    try:
        return scan_rdb(reader, size)
    except RdbError as exc:
        raise BackupError(f"the snapshot sent by {source} is not a valid RDB: {exc}", EXIT_CORRUPT) from None
