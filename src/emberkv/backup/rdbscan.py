"""Reading a backup's RDB the whole way through: keys per database, the dataset digest, raw values.

``scan_rdb`` walks a file with the server's own reader, so a file it accepts is one the server loads:
every record is decoded, every blob validated, and the CRC-64 trailer checked. On the way it counts
keys per database and computes the dataset's DEBUG DIGEST (spec/debug-digest.md) key by key in file
order; databases come in ascending order in an RDB, which is the order the digest mixes them in.

The walk goes through ``RdbReader.load_into`` (the loader's fast paths for string records) with a
stand-in keyspace that hands each key to the scanner instead of keeping it, so nothing accumulates.

Values emberkv cannot hold are still handled: a stream is walked (and digested from its entries, as
Redis digests it), module data is walked but leaves the digest unknown. For an online restore the
scanner also cuts each value's bytes out of the file as they were written (``TapReader``), so a key
becomes a RESTORE payload without being decoded and encoded again, whatever its type (strings read by
the loader's inline paths are simply re-encoded).
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from hashlib import sha1
from types import SimpleNamespace
from typing import BinaryIO

from emberkv.keyspace.digest import _h, _mix, value_digest
from emberkv.keyspace.values import HashValue, ListValue, SetValue, ZSetValue
from emberkv.persistence.rdb import constants as C
from emberkv.persistence.rdb.crc64 import crc64
from emberkv.persistence.rdb.dump import dump_payload
from emberkv.persistence.rdb.limits import DEFAULT_LIMITS, EncodingLimits
from emberkv.persistence.rdb.listpack import lp_decode
from emberkv.persistence.rdb.reader import LoadStats, RdbReader, UnsupportedValue
from emberkv.persistence.rdb.source import RdbSource
from emberkv.persistence.rdb.strings import INT, decode_string_header, encode_string

_from = int.from_bytes
_EXPIRE_H = _h(b"!!expire!!")
_TYPE_STRING_H = _h(bytes(4))
_TYPE_STREAM = (6).to_bytes(4, "big")
_STREAM_TYPES = (C.TYPE_STREAM_LISTPACKS, C.TYPE_STREAM_LISTPACKS_2)
_STRING_TYPE = bytes([C.TYPE_STRING])
# For counting types of values that did not come through next_entry (any RDB type of the family will do).
_TYPE_OF_VALUE = {ListValue: C.TYPE_LIST_QUICKLIST_2, SetValue: C.TYPE_SET, ZSetValue: C.TYPE_ZSET_2,
                  HashValue: C.TYPE_HASH}
SLICE_BYTES = 4 << 20
_STREAM_DELETED = 1
_STREAM_SAMEFIELDS = 2


class TapReader:
    """A file wrapper that remembers the chunks read through it, so byte ranges can be cut out later.

    ``release(offset)`` forgets chunks that end before offset; the scanner calls it between slices of
    the walk, so only the last few megabytes are kept."""

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

    def select(self, dbid: int) -> None:
        if dbid != self.dbid:
            self.state = _mix(self.state, dbid.to_bytes(4, "big"))
            self.dbid = dbid

    def add_string(self, key: bytes, value: bytes, has_expire: bool) -> None:
        """The common case, spelled out: K = mix_in(zeros, key), then the type, then the value."""
        k = _from(sha1(sha1(key).digest()).digest())
        k = _from(sha1((k ^ _TYPE_STRING_H).to_bytes(20, "big")).digest())
        k = _from(sha1((k ^ _from(sha1(value).digest())).to_bytes(20, "big")).digest())
        if has_expire:
            k ^= _EXPIRE_H
        self.state ^= _from(sha1(k.to_bytes(20, "big")).digest())

    def add(self, key: bytes, rdb_type: int, value: object, body: bytes, has_expire: bool) -> None:
        start = sha1(sha1(key).digest()).digest()  # mix_in(20 zero bytes, key)
        if isinstance(value, UnsupportedValue):
            if rdb_type not in _STREAM_TYPES or not body:
                self.unknown = True  # module data: only the module knows its digest
                return
            state = stream_digest(body, start)
            if has_expire:
                state ^= _EXPIRE_H
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


class _Scanner:
    """Takes every key the reader reads, in file order: counts it, digests it, hands it on."""

    def __init__(self, reader: RdbReader, tap: TapReader, result: ScanResult, digest: bool, raw: bool,
                 on_entry: Callable[[ScanEntry], None] | None) -> None:
        self.reader = reader
        self.tap = tap
        self.result = result
        self.digest = DatasetDigest() if digest else None
        self.raw = raw
        self.on_entry = on_entry
        self.types = [0] * 256
        self.dbid = -1

    def key(self, dbid: int, key: bytes, value: object, expire_ms: int | None) -> None:
        reader = self.reader
        # Records the reader decodes through next_entry leave it pointing at them (the key object is the
        # reader's current key); its inline paths for string records do not, and those are re-encoded
        # when their stored form is wanted (any valid encoding makes the same RESTORE payload value).
        slow = key is reader.current_key
        if slow:
            rdb_type = reader.current_type or 0
        else:
            rdb_type = C.TYPE_STRING if type(value) is bytes else _TYPE_OF_VALUE.get(type(value), 0)
        self.types[rdb_type] += 1
        if expire_ms is not None:
            self.result.expires += 1
        body = b""
        if self.raw or (slow and type(value) is UnsupportedValue):
            if slow:
                record = self.tap.cut(reader.current_offset, reader.bytes_read)
                body = record[:1] + record[_key_end(record):]
            elif type(value) is bytes:
                body = _STRING_TYPE + encode_string(value, False)  # type: ignore[arg-type]
            else:
                body = dump_payload(value)[:-C.DUMP_FOOTER_LEN]
        dd = self.digest
        if dd is not None:
            if dbid != dd.dbid:
                dd.select(dbid)
            if type(value) is bytes:
                dd.add_string(key, value, expire_ms is not None)
            else:
                dd.add(key, rdb_type, value, body, expire_ms is not None)
        if self.on_entry is not None:
            self.on_entry(ScanEntry(dbid, key, rdb_type, expire_ms, value, body))


class _DbSink:
    """Stands in for one database's ``data`` and ``expires`` dicts while ``RdbReader.load_into`` walks the
    file (the reader's fastest path): every key goes to the scanner as it is read, and nothing is kept.
    The reader sets a key's expire time just before the key itself."""

    __slots__ = ("id", "scanner", "count", "data", "expires", "expire_key", "expire_ms")

    def __init__(self, dbid: int, scanner: _Scanner) -> None:
        self.id = dbid
        self.scanner = scanner
        self.count = 0
        self.data = self
        self.expires = _ExpireSink(self)
        self.expire_key: bytes | None = None
        self.expire_ms = 0

    def __len__(self) -> int:
        return self.count  # the reader compares it with its own count to catch keys stored twice

    def __setitem__(self, key: bytes, value: object) -> None:
        self.count += 1
        if key is self.expire_key:
            self.expire_key = None
            self.scanner.key(self.id, key, value, self.expire_ms)
        else:
            self.scanner.key(self.id, key, value, None)


class _ExpireSink:
    __slots__ = ("db",)

    def __init__(self, db: _DbSink) -> None:
        self.db = db

    def __setitem__(self, key: bytes, when_ms: int) -> None:
        self.db.expire_key = key
        self.db.expire_ms = when_ms


class _Databases:
    """Any database number a file may name (a server can be configured with more than 16)."""

    def __init__(self, scanner: _Scanner) -> None:
        self.scanner = scanner
        self.sinks: dict[int, _DbSink] = {}

    def __len__(self) -> int:
        return 1 << 32

    def __getitem__(self, dbid: int) -> _DbSink:
        sink = self.sinks.get(dbid)
        if sink is None:
            sink = self.sinks[dbid] = _DbSink(dbid, self.scanner)
        return sink


def scan_rdb(
    f: BinaryIO,
    total_size: int | None = None,
    on_entry: Callable[[ScanEntry], None] | None = None,
    raw: bool = False,
    digest: bool = True,
    limits: EncodingLimits = DEFAULT_LIMITS,
) -> ScanResult:
    """Read the whole RDB from f; RdbError (with the offset) when anything is wrong with it.

    With ``raw``, each ScanEntry given to ``on_entry`` carries the value's stored bytes (``body``)."""
    tap = TapReader(f)
    reader = RdbReader(tap, limits, True, total_size, skip_unsupported=True)
    result = ScanResult(version=reader.version, aux=reader.aux, functions=reader.functions)
    scanner = _Scanner(reader, tap, result, digest, raw, on_entry)
    keyspace = SimpleNamespace(dbs=_Databases(scanner))
    stats = LoadStats()
    # In slices, so the chunks kept for cutting raw values out are released as the reader moves on.
    while not reader.load_into(keyspace, None, stats, max_bytes=SLICE_BYTES):
        tap.release(reader.bytes_read)
    result.keys = {dbid: sink.count for dbid, sink in sorted(keyspace.dbs.sinks.items()) if sink.count}
    result.types = {}
    for rdb_type, count in enumerate(scanner.types):
        if count:
            name = C.TYPE_NAMES.get(rdb_type, "unknown")
            result.types[name] = result.types.get(name, 0) + count
    result.checksum = reader.checksum
    result.size = reader.bytes_read
    result.digest = scanner.digest.hexdigest() if scanner.digest is not None else None
    return result


def restore_payload_of(body: bytes, rdb_version: int) -> bytes:
    """A DUMP payload (RESTORE's argument) holding a value stored in an RDB of rdb_version."""
    data = body + rdb_version.to_bytes(2, "little")
    return data + crc64(data).to_bytes(8, "little")

