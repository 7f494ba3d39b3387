"""rdb_save: writing an RDB version 10 file the way Redis 7.0 writes it.

``RdbWriter`` is driven record by record (header, databases, keys, finish) so the snapshot engine can
write a key at a time between client requests; ``rdb_save_keyspace`` writes a whole keyspace at once.
Output collects in a bytearray and goes to the file object in chunks of about FLUSH_AT bytes, each
chunk folded into the CRC-64 as it leaves. Strings that are plain short raw strings (the bulk of most
datasets) are encoded inline in ``write_keys``; everything else goes through objects.rdb_save_object.

The writer does not fsync or rename: the caller writes to a temporary file and swaps it in atomically.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable, Mapping
from itertools import islice
from typing import Any, BinaryIO

from emberkv.keyspace.values import RawString
from emberkv.persistence.rdb import constants as C
from emberkv.persistence.rdb.crc64 import crc64
from emberkv.persistence.rdb.lengths import SHORT_LENGTHS, encode_length
from emberkv.persistence.rdb.limits import DEFAULT_LIMITS, EncodingLimits
from emberkv.persistence.rdb.objects import rdb_save_object
from emberkv.persistence.rdb.strings import encode_string

FLUSH_AT = 1 << 20
WRITE_BATCH = 8192
REDIS_VERSION = b"7.0.15"
# AUX fields Redis 7.0 writes, in its order; others given by the caller follow them.
AUX_ORDER = (b"redis-ver", b"redis-bits", b"ctime", b"used-mem", b"repl-stream-db", b"repl-id",
             b"repl-offset", b"aof-base")

_EXPIRE = struct.Struct("<q")
_TYPE_BYTES = tuple(bytes([t]) for t in range(256))
# "type 0 (string), then a key length of n" for the inline path.
_STRING_KEY_HEADERS = tuple(bytes([C.TYPE_STRING, n]) for n in range(64))
# By first byte: can a string starting with it be a canonical integer (stored int-encoded)?
_INT_FIRST = tuple(c in b"-0123456789" for c in range(256))


def _aux_bytes(value: bytes | int | str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, int):
        return b"%d" % value
    return value.encode()


class RdbWriter:
    def __init__(
        self,
        f: BinaryIO,
        compress: bool = True,
        checksum: bool = True,
        limits: EncodingLimits = DEFAULT_LIMITS,
    ) -> None:
        self.f = f
        self.compress = compress
        self.checksum = checksum
        self.limits = limits
        self.out = bytearray()
        self.crc = 0
        self.flushed = 0
        # A raw string this short is written as is; longer ones are candidates for LZF.
        self._inline_max = 20 if compress else 63

    @property
    def bytes_written(self) -> int:
        return self.flushed + len(self.out)

    def _flush(self) -> None:
        out = self.out
        if not out:
            return
        if self.checksum:
            self.crc = crc64(out, self.crc)
        self.f.write(out)
        self.flushed += len(out)
        self.out = bytearray()

    # -- records ---------------------------------------------------------------------------------

    def write_header(self, aux: Mapping[bytes, bytes | int | str] | None = None) -> None:
        """Magic, version and the AUX fields: Redis's own (defaults filled in) then the caller's."""
        fields: dict[bytes, bytes | int | str] = {
            b"redis-ver": REDIS_VERSION,
            b"redis-bits": 64,
            b"ctime": int(time.time()),
            b"used-mem": 0,
        }
        fields.update(aux or {})
        fields.setdefault(b"aof-base", 0)
        ordered = [k for k in AUX_ORDER if k in fields] + [k for k in fields if k not in AUX_ORDER]
        out = self.out
        out += C.MAGIC + b"%04d" % C.RDB_VERSION
        for name in ordered:
            out += _TYPE_BYTES[C.OP_AUX]
            out += encode_string(name, self.compress)
            out += encode_string(_aux_bytes(fields[name]), self.compress)

    def write_function(self, library_code: bytes) -> None:
        """One function library (FUNCTION2), after the header and before the first database."""
        self.out += _TYPE_BYTES[C.OP_FUNCTION2] + encode_string(library_code, self.compress)

    def select_db(self, dbid: int, db_size: int, expires_size: int) -> None:
        out = self.out
        out += _TYPE_BYTES[C.OP_SELECTDB] + encode_length(dbid)
        out += _TYPE_BYTES[C.OP_RESIZEDB] + encode_length(db_size) + encode_length(expires_size)

    def write_key(self, key: bytes, value: object, expire_ms: int | None) -> None:
        """One key. An empty collection is not written at all (Redis would skip it when loading)."""
        encoded = rdb_save_object(value, self.limits, self.compress)
        if encoded is None:
            return
        out = self.out
        if expire_ms is not None:
            out += _TYPE_BYTES[C.OP_EXPIRETIME_MS] + _EXPIRE.pack(expire_ms)
        out += _TYPE_BYTES[encoded[0]]
        kl = len(key)
        if kl <= self._inline_max and (kl > 11 or (kl and not _INT_FIRST[key[0]])):
            out += SHORT_LENGTHS[kl]
            out += key
        else:
            out += encode_string(key, self.compress)
        out += encoded[1]
        if len(out) >= FLUSH_AT:
            self._flush()

    def write_keys(self, items: Iterable[tuple[bytes, Any]], expires: Mapping[bytes, int]) -> None:
        """Many keys of one database: write_key with the common case (short raw strings) inline."""
        inline_max = self._inline_max
        headers = _STRING_KEY_HEADERS
        lengths = SHORT_LENGTHS
        int_first = _INT_FIRST
        pending = iter(items)
        while True:
            # Batches keep the flush check out of the per-key loop; a batch of short strings is a few
            # hundred KiB, so the buffer still goes out in chunks of about FLUSH_AT.
            out = self.out
            seen = 0
            for key, value in islice(pending, WRITE_BATCH):
                seen += 1
                if type(value) is bytes or type(value) is RawString:
                    kl = len(key)
                    vl = len(value)
                    if (
                        kl <= inline_max
                        and vl <= inline_max
                        and (kl > 11 or (kl and not int_first[key[0]]))
                        and (vl > 11 or (vl and not int_first[value[0]]))
                        and not (expires and key in expires)
                    ):
                        out += headers[kl]
                        out += key
                        out += lengths[vl]
                        out += value
                        continue
                self.write_key(key, value, expires.get(key) if expires else None)
                out = self.out
            if len(self.out) >= FLUSH_AT:
                self._flush()
            if seen < WRITE_BATCH:
                return

    def finish(self) -> None:
        """EOF and the checksum (8 zero bytes when checksums are off), then hand everything to the file."""
        self.out += _TYPE_BYTES[C.OP_EOF]
        self._flush()
        self.out += self.crc.to_bytes(8, "little") if self.checksum else bytes(8)
        self._flush()


def rdb_save_keyspace(
    f: BinaryIO,
    keyspace: Any,
    aux_extra: Mapping[bytes, bytes | int | str] | None = None,
    compress: bool = True,
    checksum: bool = True,
    limits: EncodingLimits = DEFAULT_LIMITS,
    functions: Iterable[bytes] = (),
) -> int:
    """Write every database of keyspace (``dbs[i].data`` / ``.expires``) as one RDB; returns its size."""
    writer = RdbWriter(f, compress, checksum, limits)
    writer.write_header(aux_extra)
    for code in functions:
        writer.write_function(code)
    for db in keyspace.dbs:
        if db.data:
            writer.select_db(db.id, len(db.data), len(db.expires))
            writer.write_keys(db.data.items(), db.expires)
    writer.finish()
    return writer.bytes_written
