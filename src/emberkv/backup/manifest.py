"""A backup's manifest: the JSON document that describes one backup, written last.

A backup exists in a catalog exactly when its manifest does: the data object is stored first, the
manifest after it, so an interrupted upload is never listed. Every fact a later command needs is here:
what to download (``object``, ``compression``, ``stored_size``, ``stored_sha256``), what it must decode to
(``size``, ``sha256``, ``rdb_version``, ``crc64``, ``keys``, ``digest``), and where it came from.

Ids sort by creation time: ``20261120T225241Z-3fa9c1`` (UTC time, then 6 random hex digits).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from emberkv.backup.errors import EXIT_CORRUPT, BackupError

MANIFEST_NAME = "manifest.json"
FORMAT = 1


def new_backup_id(now: float | None = None) -> str:
    stamp = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    return stamp.strftime("%Y%m%dT%H%M%SZ") + "-" + os.urandom(3).hex()


def iso_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class Manifest:
    id: str
    created: float  # unix time the snapshot was taken
    source: str  # the server's address, without credentials
    server: str  # "emberkv" or "redis"
    server_version: str
    run_id: str
    object: str  # the data object's name inside the backup (dump.rdb or dump.rdb.zst)
    compression: str  # "none" or "zstd"
    size: int  # bytes of the RDB
    sha256: str  # of the RDB
    stored_size: int  # bytes of the object as stored
    stored_sha256: str  # of the object as stored
    rdb_version: int
    crc64: str  # the RDB's own checksum, as stored in its trailer (hex; "0" when saved without one)
    keys: dict[str, int] = field(default_factory=dict)  # database number -> keys
    expires: int = 0
    digest: str | None = None  # DEBUG DIGEST of the dataset; None if it holds module data
    replid: str = ""
    repl_offset: int = -1
    duration: float = 0.0  # seconds the transfer took
    format: int = FORMAT

    @property
    def total_keys(self) -> int:
        return sum(self.keys.values())

    @property
    def created_iso(self) -> str:
        return iso_time(self.created)

    def to_json(self) -> bytes:
        doc = asdict(self)
        doc["created_iso"] = self.created_iso
        return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes, where: str) -> Manifest:
        try:
            doc = json.loads(data)
            doc.pop("created_iso", None)
            if doc.get("format") != FORMAT:
                raise ValueError(f"unknown manifest format {doc.get('format')!r}")
            return cls(**doc)
        except (ValueError, TypeError) as exc:
            raise BackupError(f"unreadable manifest {where}: {exc}", EXIT_CORRUPT) from None
