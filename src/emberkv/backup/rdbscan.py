"""Reading a backup's RDB the whole way through: keys per database, the dataset digest, raw values.

``scan_rdb`` walks a file with the server's own reader, so a file it accepts is one the server loads:
every record is decoded, every blob validated, and the CRC-64 trailer checked. On the way it counts
keys per database and computes the dataset's DEBUG DIGEST (spec/debug-digest.md) key by key in file
order; databases come in ascending order in an RDB, which is the order the digest mixes them in.

Values emberkv cannot hold are still handled: a stream is walked (and digested from its entries, as
Redis digests it), module data is walked but leaves the digest unknown. For an online restore the
scanner also cuts each value's bytes out of the file as they were written (``TapReader``), so a key
becomes a RESTORE payload without being encoded again, whatever its type.
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from hashlib import sha1
from typing import BinaryIO

from emberkv.keyspace.digest import _h, _mix, value_digest
from emberkv.persistence.rdb import constants as C
from emberkv.persistence.rdb.crc64 import crc64
from emberkv.persistence.rdb.limits import DEFAULT_LIMITS, EncodingLimits
from emberkv.persistence.rdb.listpack import lp_decode
from emberkv.persistence.rdb.reader import RdbReader, UnsupportedValue
from emberkv.persistence.rdb.source import RdbSource
from emberkv.persistence.rdb.strings import INT, decode_string_header

_EXPIRE_MARK = b"!!expire!!"
_TYPE_STREAM = (6).to_bytes(4, "big")
_STREAM_TYPES = (C.TYPE_STREAM_LISTPACKS, C.TYPE_STREAM_LISTPACKS_2)
_STREAM_DELETED = 1
_STREAM_SAMEFIELDS = 2


class TapReader:
    """A file wrapper that remembers the chunks read through it, so byte ranges can be cut out later.

    ``release(offset)`` forgets chunks that end before offset; the scanner calls it after every key, so
    only the chunks holding the current record are kept."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.offset = 0
        self.chunks: deque[tuple[int, bytes]] = deque()

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        if data:
            self.chunks.append((self.offset, data))
            self.offset += len(data)
        return data

    def cut(self, start: int, end: int) -> bytes:
        parts = []
        for chunk_start, chunk in self.chunks:
            chunk_end = chunk_start + len(chunk)
            if chunk_end <= start or chunk_start >= end:
                continue
            parts.append(chunk[max(0, start - chunk_start): end - chunk_start])
        return b"".join(parts)

    def release(self, offset: int) -> None:
        chunks = self.chunks
        while chunks and chunks[0][0] + len(chunks[0][1]) <= offset:
            chunks.popleft()


@dataclass(slots=True)
class ScanEntry:
    dbid: int
    key: bytes
    rdb_type: int
    expire_ms: int | None
    value: object  # an emberkv value, or UnsupportedValue for streams and module data
    body: bytes = b""  # with raw=True: type byte + the value's bytes as stored (a DUMP payload's body)


@dataclass
class ScanResult:
    version: int = 0
    keys: dict[int, int] = field(default_factory=dict)
    expires: int = 0
    digest: str | None = None  # None when module data makes it unknowable here
    checksum: int | None = None  # as stored after EOF (0: saved without one; None: version < 5)
    functions: list[bytes] = field(default_factory=list)
    aux: dict[bytes, bytes] = field(default_factory=dict)
    types: dict[str, int] = field(default_factory=dict)
    size: int = 0

    @property
    def total_keys(self) -> int:
        return sum(self.keys.values())


class DatasetDigest:
    """DEBUG DIGEST computed one key at a time, databases in ascending order."""

    def __init__(self) -> None:
        self.state = 0
        self.dbid = -1
        self.unknown = False

    def add(self, dbid: int, key: bytes, rdb_type: int, value: object, body: bytes, has_expire: bool) -> None:
        if dbid != self.dbid:
            self.state = _mix(self.state, dbid.to_bytes(4, "big"))
            self.dbid = dbid
        start = sha1(sha1(key).digest()).digest()  # mix_in(20 zero bytes, key)
        if isinstance(value, UnsupportedValue):
            if rdb_type not in _STREAM_TYPES or not body:
                self.unknown = True  # module data: only the module knows its digest
                return
            state = stream_digest(body, start)
            if has_expire:
                state ^= _h(_EXPIRE_MARK)
            self.state ^= _h(state.to_bytes(20, "big"))
            return
        self.state ^= _h(value_digest(value, has_expire, start))

    def hexdigest(self) -> str | None:
        if self.unknown:
            return None
        return self.state.to_bytes(20, "big").hex() if self.state else "0" * 40


def stream_digest(body: bytes, start: bytes) -> int:
    """A stream's value digest from its stored bytes: every live entry in ID order, "<ms>.<seq>" then
    its fields and values."""
    src = RdbSource(io.BytesIO(body), checksum=False, total_size=len(body))
    src.buf, src.pos, src.at_eof = body, 1, True
    state = _mix(int.from_bytes(start, "big"), _TYPE_STREAM)
    for _ in range(src.read_length()):
        node_key = src.read_string()
        master_ms = int.from_bytes(node_key[:8], "big")
        master_seq = int.from_bytes(node_key[8:], "big")
        items = lp_decode(src.read_string())
        count, deleted, nfields = int(items[0]), int(items[1]), int(items[2])
        master_fields = items[3:3 + nfields]
        pos = 4 + nfields  # past the master entry's terminating 0
        for _ in range(count + deleted):
            flags = int(items[pos])
            ms = master_ms + int(items[pos + 1])
            seq = master_seq + int(items[pos + 2])
            pos += 3
            if flags & _STREAM_SAMEFIELDS:
                fields, values = master_fields, items[pos:pos + nfields]
                pos += nfields
            else:
                n = int(items[pos])
                fields, values = items[pos + 1:pos + 1 + 2 * n:2], items[pos + 2:pos + 2 + 2 * n:2]
                pos += 1 + 2 * n
            pos += 1  # lp-count
            if flags & _STREAM_DELETED:
                continue
            state = _mix(state, b"%d.%d" % (ms, seq))
            for f, v in zip(fields, values, strict=True):
                state = _mix(_mix(state, f), v)
    return state


def _key_end(record: bytes) -> int:
    """Where the key ends in a record that starts with its type byte."""
    kind, a, _, p = decode_string_header(record, 1)
    return p if kind == INT else p + a


def scan_rdb(
    f: BinaryIO,
    total_size: int | None = None,
    on_entry: Callable[[ScanEntry], None] | None = None,
    raw: bool = False,
    digest: bool = True,
    limits: EncodingLimits = DEFAULT_LIMITS,
) -> ScanResult:
    """Read the whole RDB from f; RdbError (with the offset) when anything is wrong with it."""
    tap = TapReader(f)
    reader = RdbReader(tap, limits, True, total_size, skip_unsupported=True)
    result = ScanResult(version=reader.version, aux=reader.aux, functions=reader.functions)
    keys = result.keys
    dd = DatasetDigest() if digest else None
    keep = raw or digest  # streams are digested from their bytes
    while (entry := reader.next_entry()) is not None:
        rdb_type = reader.current_type or 0
        body = b""
        if keep and (raw or isinstance(entry.value, UnsupportedValue)):
            record = tap.cut(reader.current_offset, reader.bytes_read)
            body = record[:1] + record[_key_end(record):]
        tap.release(reader.bytes_read)
        keys[entry.dbid] = keys.get(entry.dbid, 0) + 1
        name = C.TYPE_NAMES.get(rdb_type, "unknown")
        result.types[name] = result.types.get(name, 0) + 1
        if entry.expire_ms is not None:
            result.expires += 1
        if dd is not None:
            dd.add(entry.dbid, entry.key, rdb_type, entry.value, body, entry.expire_ms is not None)
        if on_entry is not None:
            on_entry(ScanEntry(entry.dbid, entry.key, rdb_type, entry.expire_ms, entry.value, body))
    result.checksum = reader.checksum
    result.size = reader.bytes_read
    result.digest = dd.hexdigest() if dd is not None else None
    return result


def restore_payload_of(body: bytes, rdb_version: int) -> bytes:
    """A DUMP payload (RESTORE's argument) holding a value stored in an RDB of rdb_version."""
    data = body + rdb_version.to_bytes(2, "little")
    return data + crc64(data).to_bytes(8, "little")

