"""``backup verify``: prove a stored backup is intact and still decodes to the dataset it recorded.

One pass over the stored object: its SHA-256 and size as stored, then (decompressed) the RDB's SHA-256
and size, every record decoded by the server's own reader with the CRC-64 trailer checked, and the keys
per database and DEBUG DIGEST recomputed. Each disagreement with the manifest is reported by name.
"""

from __future__ import annotations

from emberkv.backup.catalog import Catalog
from emberkv.backup.errors import BackupError
from emberkv.backup.manifest import Manifest
from emberkv.backup.progress import Reporter
from emberkv.backup.rdbscan import ScanResult, scan_rdb
from emberkv.backup.streams import HashingReader, ZstdReader
from emberkv.persistence.rdb.errors import RdbError


def open_rdb(catalog: Catalog, manifest: Manifest, progress=None) -> tuple[HashingReader, HashingReader, object]:
    """(stored, rdb, raw stream): readers hashing the object as stored and the RDB it holds."""
    raw = catalog.open_object(manifest)
    return (*rdb_readers(raw, manifest, progress), raw)


def rdb_readers(raw, manifest: Manifest, progress=None) -> tuple[HashingReader, HashingReader]:
    """Readers over a stored object: one hashing it as stored, one hashing the RDB it decompresses to."""
    stored = HashingReader(raw, progress)
    if manifest.compression == "zstd":
        rdb = HashingReader(ZstdReader(stored, f"backup {manifest.id}"))
    elif manifest.compression == "none":
        rdb = HashingReader(stored)
    else:
        raise BackupError(f"backup {manifest.id} uses an unknown compression {manifest.compression!r}")
    return stored, rdb


def verify_backup(catalog: Catalog, manifest: Manifest, reporter: Reporter) -> list[str]:
    """The problems found (an empty list: the backup is sound)."""
    problems: list[str] = []
    result: ScanResult | None = None
    rdb_whole = True  # False when decompression broke off: the RDB hashes then cover only a part
    with reporter.task(f"verifying {manifest.id}", manifest.stored_size) as task:
        stored, rdb, raw = open_rdb(catalog, manifest, task.update)
        try:
            try:
                result = scan_rdb(rdb, manifest.size)
                rdb.drain()
            except RdbError as exc:
                problems.append(f"the RDB does not decode: {exc}")
                rdb_whole = _drain(rdb, problems)
            except BackupError as exc:
                problems.append(exc.message)
                rdb_whole = False
            stored.drain()  # the object as stored is hashed to its end whatever the RDB held
        finally:
            close = getattr(raw, "close", None)
            if close is not None:
                close()
    _compare(problems, "stored size", stored.count, manifest.stored_size)
    _compare(problems, "stored SHA-256", stored.hexdigest(), manifest.stored_sha256)
    if rdb_whole:
        _compare(problems, "RDB size", rdb.count, manifest.size)
        _compare(problems, "RDB SHA-256", rdb.hexdigest(), manifest.sha256)
    if result is not None:
        _compare(problems, "RDB version", result.version, manifest.rdb_version)
        _compare(problems, "CRC-64", f"{result.checksum or 0:x}", manifest.crc64)
        _compare(problems, "keys per database", {str(k): v for k, v in result.keys.items()}, manifest.keys)
        _compare(problems, "DEBUG DIGEST", result.digest, manifest.digest)
    return problems


def _drain(rdb: HashingReader, problems: list[str]) -> bool:
    try:
        rdb.drain()
    except BackupError as exc:
        problems.append(exc.message)
        return False
    return True


def _compare(problems: list[str], what: str, found: object, expected: object) -> None:
    if found != expected:
        problems.append(f"{what} is {found}, the manifest says {expected}")
