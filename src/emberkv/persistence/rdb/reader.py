"""rdb_load: reading an RDB file (versions 1-10) record by record.

``RdbReader`` reads the header and the leading metadata (AUX fields, function libraries) when it is
created, then ``entries()`` yields every key in file order. ``load_into`` fills a keyspace directly and
is what the server uses: it runs in slices (``max_bytes`` at a time) so the event loop can answer
``-LOADING`` in between. It decodes the most common record (a string key holding a short raw string,
no TTL) inline, without a function call, because that loop is most of the load time of a big dataset,
and other string records (TTL, integer, long or LZF values) and collection records (with or without a
TTL) without building an ``RdbEntry``.

Anything wrong with the file raises ``RdbError`` with the byte offset: bad signature or version, unknown
opcodes or types, malformed blobs, truncation, a checksum mismatch at EOF (unless the stored checksum is
0, meaning the file was saved without one). Values emberkv cannot hold are refused by name: a stream key
(``UnsupportedTypeError``) and module data (``ModuleError``, naming the module as Redis does). With
``skip_unsupported`` (check-rdb) they are walked and reported as ``UnsupportedValue`` instead.
"""

from __future__ import annotations

import gc
import os
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from emberkv.persistence.rdb import constants as C
from emberkv.persistence.rdb.errors import BlobError, ModuleError, UnsupportedTypeError
from emberkv.persistence.rdb.limits import DEFAULT_LIMITS, EncodingLimits
from emberkv.persistence.rdb.objects import LOADERS
from emberkv.persistence.rdb.skip import module_type_name, skip_module_data, skip_module_value, skip_stream
from emberkv.persistence.rdb.source import CHUNK, RdbSource
from emberkv.persistence.rdb.strings import decode_string

# The inline fast path handles records of at most 1 + 1 + 63 + 1 + 63 bytes; it only runs while that
# many bytes are buffered, so it never needs a bounds check of its own.
FAST_RECORD_MAX = 129
_STRING_RECORD_START = frozenset((C.TYPE_STRING, C.OP_EXPIRETIME_MS))
_EXPIRE = struct.Struct("<q")
_STREAM_TYPES = (C.TYPE_STREAM_LISTPACKS, C.TYPE_STREAM_LISTPACKS_2)
_MODULE_TYPES = (C.TYPE_MODULE, C.TYPE_MODULE_2)


@dataclass(slots=True)
class RdbEntry:
    dbid: int
    key: bytes
    value: object
    expire_ms: int | None
    lru_idle: int | None
    lfu_freq: int | None


@dataclass(slots=True)
class UnsupportedValue:
    """What check-rdb sees in place of a value emberkv cannot hold (stream, module)."""

    type_name: str
    detail: str


@dataclass
class LoadStats:
    keys_loaded: int = 0
    keys_expired: int = 0  # skipped because their time had passed
    empty_keys_skipped: int = 0  # collections stored empty: Redis skips them too
    per_db: dict[int, int] = field(default_factory=dict)  # keys loaded per database


def is_object_type(t: int) -> bool:
    return t <= C.TYPE_MODULE_2 or C.TYPE_HASH_ZIPMAP <= t <= C.TYPE_STREAM_LISTPACKS_2


class RdbReader:
    def __init__(
        self,
        f: BinaryIO,
        limits: EncodingLimits = DEFAULT_LIMITS,
        verify_checksum: bool = True,
        total_size: int | None = None,
        skip_unsupported: bool = False,
        observer: Callable[[str, int, object], None] | None = None,
    ) -> None:
        self.src = RdbSource(f, verify_checksum, total_size)
        self.limits = limits
        self.verify_checksum = verify_checksum
        self.skip_unsupported = skip_unsupported
        # Told about every metadata record as (kind, file offset, payload): check-rdb's report.
        self.observer = observer
        # The key being read and its type byte, for error reports.
        self.current_key: bytes | None = None
        self.current_type: int | None = None
        self.current_offset = 0
        self.aux: dict[bytes, bytes] = {}
        self.functions: list[bytes] = []
        self.modules: list[str] = []  # module AUX data walked over (skip_unsupported only)
        self.resize_hints: dict[int, tuple[int, int]] = {}  # dbid -> RESIZEDB (keys, keys with TTL)
        self.dbid = 0
        self.empty_keys_skipped = 0
        self.checksum: int | None = None  # as stored after EOF; None before EOF or for version < 5
        self.done = False
        # Size of each database before load_into first touched it, to catch keys stored twice.
        self._db_base: dict[int, int] = {}
        self.version = self._read_header()
        self._note("version", 5, self.version)
        self._read_metadata()

    @property
    def bytes_read(self) -> int:
        return self.src.offset

    def _read_header(self) -> int:
        src = self.src
        if not src.fill(9):
            raise src.error("Short read or OOM loading DB: the file is shorter than the RDB header", 0)
        head = src.read_raw(9)
        if head[:5] != C.MAGIC:
            raise src.error("Wrong signature trying to load DB from file", 0)
        digits = head[5:]
        if not digits.isdigit() or not 1 <= int(digits) <= C.RDB_VERSION:
            raise src.error(f"Can't handle RDB format version {digits.decode('latin-1')}", 5)
        return int(digits)

    def _read_metadata(self) -> None:
        """AUX, function and module AUX records ahead of the first key, so ``aux`` is known early."""
        src = self.src
        while src.fill(1) and src.buf[src.pos] in (C.OP_AUX, C.OP_FUNCTION2, C.OP_FUNCTION, C.OP_MODULE_AUX):
            start = src.offset
            self._read_opcode(src.read_byte(), start)

    # -- records ---------------------------------------------------------------------------------

    def _read_opcode(self, op: int, start: int) -> None:
        """Metadata opcodes that carry no key. EOF and per-key attributes are handled by the caller."""
        src = self.src
        if op == C.OP_AUX:
            name = src.read_string()
            self.aux[name] = value = src.read_string()
            self._note("aux", start, (name, value))
        elif op == C.OP_SELECTDB:
            self.dbid = src.read_length()
            self._note("selectdb", start, self.dbid)
        elif op == C.OP_RESIZEDB:
            self.resize_hints[self.dbid] = hint = (src.read_length(), src.read_length())
            self._note("resizedb", start, hint)
        elif op == C.OP_FUNCTION2:
            self.functions.append(src.read_string())
            self._note("function", start, self.functions[-1])
        elif op == C.OP_FUNCTION:
            name, engine = src.read_string(), src.read_string()
            if src.read_length():
                src.read_string()  # the description is not part of the library source
            code = src.read_string()
            self.functions.append(b"#!%s name=%s\n%s" % (engine, name, code))
            self._note("function", start, self.functions[-1])
        elif op == C.OP_MODULE_AUX:
            self._read_module_aux(start)
        else:
            raise src.error(f"Unknown RDB object type or opcode {op}", start)

    def _read_module_aux(self, start: int) -> None:
        src = self.src
        name = module_type_name(src.read_length())
        if src.read_length() != C.MODULE_OPCODE_UINT:
            raise src.error("Module AUX 'when' has a bad opcode", start)
        src.read_length()
        if not self.skip_unsupported:
            raise ModuleError(
                f"The RDB file contains AUX module data I can't load: no matching module '{name}'",
                name,
                start,
            )
        skip_module_data(src)
        self.modules.append(name)
        self._note("module-aux", start, name)

    def _note(self, kind: str, offset: int, payload: object) -> None:
        if self.observer is not None:
            self.observer(kind, offset, payload)

    def _read_unsupported(self, rdbtype: int, key: bytes, start: int) -> object:
        """Streams and module values: refused, or walked over for check-rdb."""
        src = self.src
        if rdbtype in _STREAM_TYPES:
            if not self.skip_unsupported:
                raise UnsupportedTypeError(key, "stream", rdbtype, start)
            return UnsupportedValue("stream", skip_stream(src, rdbtype))
        if rdbtype in _MODULE_TYPES:
            module_id = src.read_length()
            if not self.skip_unsupported:
                name = module_type_name(module_id)
                raise ModuleError(
                    f"The RDB file contains module data I can't load: no matching module type '{name}'",
                    name,
                    start,
                )
            return UnsupportedValue("module", skip_module_value(src, rdbtype, module_id))
        raise src.error(f"Unknown RDB encoding type {rdbtype}", start)

    def _finish(self) -> None:
        """After the EOF opcode: read and check the checksum (files of version 5 and later)."""
        src = self.src
        self.done = True
        if self.version < C.RDB_CHECKSUM_SINCE:
            return
        computed = src.crc_so_far() if self.verify_checksum else 0
        start = src.offset
        self.checksum = int.from_bytes(src.read_raw(8), "little")
        if self.verify_checksum and self.checksum and self.checksum != computed:
            raise src.error(
                f"Wrong RDB checksum expected: ({computed:x}) but got ({self.checksum:x}). RDB CRC error",
                start,
            )

    def next_entry(self) -> RdbEntry | None:
        """The next key, or None once EOF (and the checksum) has been read."""
        if self.done:
            return None
        src = self.src
        expire_ms = idle = freq = None
        while True:
            start = src.offset
            t = src.read_byte()
            if is_object_type(t):
                self.current_offset = start
                self.current_type = t
                self.current_key = None
                self.current_key = key = src.read_string()
                loader = LOADERS.get(t)
                value = loader(src, t, self.limits) if loader else self._read_unsupported(t, key, start)
                if value is None:
                    self.empty_keys_skipped += 1
                    expire_ms = idle = freq = None
                    continue
                return RdbEntry(self.dbid, key, value, expire_ms, idle, freq)
            if t == C.OP_EXPIRETIME_MS:
                expire_ms = int.from_bytes(src.read_raw(8), "little", signed=True)
            elif t == C.OP_EXPIRETIME:
                expire_ms = int.from_bytes(src.read_raw(4), "little", signed=True) * 1000
            elif t == C.OP_IDLE:
                idle = src.read_length()
            elif t == C.OP_FREQ:
                freq = src.read_byte()
            elif t == C.OP_EOF:
                self._finish()
                return None
            else:
                self._read_opcode(t, start)

    def _value_record(self, buf: bytes, pos: int) -> tuple[bytes, object, int | None] | None:
        """(key, value, expire_ms) of the key record at pos (an optional TTL, the type byte, the key
        and the value), read through its type's loader without next_entry and its RdbEntry; the value
        is None for a collection stored empty (counted as skipped). None for any other record (other
        attributes, opcodes, unsupported types) or a TTL not wholly buffered: next_entry reads it."""
        expire_ms = None
        t = buf[pos]
        if t == C.OP_EXPIRETIME_MS:
            if pos + 10 > len(buf):
                return None
            expire_ms = _EXPIRE.unpack_from(buf, pos + 1)[0]
            pos += 9
            t = buf[pos]
        loader = LOADERS.get(t)
        if loader is None:
            return None
        src = self.src
        src.pos = pos + 1
        self.current_offset = src.base + pos
        self.current_type = t
        self.current_key = None
        self.current_key = key = src.read_string()
        value = loader(src, t, self.limits)
        if value is None:
            self.empty_keys_skipped += 1
        return key, value, expire_ms

    def entries(self) -> Iterator[RdbEntry]:
        while (entry := self.next_entry()) is not None:
            yield entry

    # -- loading into a keyspace -----------------------------------------------------------------

    def load_into(self, keyspace: Any, now_ms: int | None, stats: LoadStats, max_bytes: int | None = None) -> bool:
        """Load keys into ``keyspace.dbs[i].data/.expires`` until EOF (True) or until about max_bytes
        more of the file were read (False: call again). Keys whose expire time is <= now_ms are
        skipped and counted; ``now_ms=None`` keeps them (replicas and AOF bases do).

        On an RdbError the keyspace holds part of the file: discard it."""
        src = self.src
        stop_at = src.offset + max_bytes if max_bytes else None
        dbs = keyspace.dbs
        db = self._db(dbs)
        data = db.data
        loaded = 0
        while True:
            if len(src.buf) - src.pos < FAST_RECORD_MAX:
                src.fill_upto(CHUNK)
            buf = src.buf
            pos = src.pos
            end = len(buf) - FAST_RECORD_MAX
            if stop_at is not None:
                end = min(end, stop_at - src.base)
            # The fast path: type 0, a raw key of < 64 bytes, a raw value of < 64 bytes, no attributes.
            while pos < end and not buf[pos]:
                kl = buf[pos + 1]
                if kl > 63:
                    break
                k = pos + 2
                p = k + kl
                vl = buf[p]
                if vl > 63:
                    break
                pos = p + 1 + vl
                data[buf[k:p]] = buf[p + 1 : pos]
                loaded += 1
            src.pos = pos
            if stop_at is not None and src.offset >= stop_at:
                self._count(stats, db, loaded)
                return False
            # Next most common: a string record with a TTL, an int-encoded or longer or LZF value; then
            # a collection's record, with or without a TTL; anything else goes through next_entry.
            string_record = None
            if pos < len(buf) and buf[pos] in _STRING_RECORD_START:
                string_record = _string_record(buf, pos)
            if string_record is not None:
                key, value, expire_ms, src.pos = string_record
            elif pos < len(buf) and (value_record := self._value_record(buf, pos)) is not None:
                key, value, expire_ms = value_record
                if value is None:
                    continue
            else:
                entry = self.next_entry()
                if entry is None:
                    self._count(stats, db, loaded)
                    stats.empty_keys_skipped = self.empty_keys_skipped
                    return True
                if entry.dbid != db.id:
                    self._count(stats, db, loaded)
                    loaded = 0
                    db = self._db(dbs)
                    data = db.data
                key, value, expire_ms = entry.key, entry.value, entry.expire_ms
            if expire_ms is not None:
                if now_ms is not None and expire_ms <= now_ms:
                    stats.keys_expired += 1
                    continue
                db.expires[key] = expire_ms
            data[key] = value
            loaded += 1

    def _db(self, dbs: list) -> Any:
        if self.dbid >= len(dbs):
            raise self.src.error(
                "FATAL: Data file was created with a Redis server configured to handle more than "
                f"{len(dbs)} databases"
            )
        db = dbs[self.dbid]
        self._db_base.setdefault(db.id, len(db.data))
        return db

    def _count(self, stats: LoadStats, db: Any, loaded: int) -> None:
        stats.keys_loaded += loaded
        total = stats.per_db.get(db.id, 0) + loaded
        stats.per_db[db.id] = total
        # The loop counts insertions instead of testing each key: fewer keys than insertions means a
        # key was stored twice, which Redis treats as a corrupt file.
        if len(db.data) != self._db_base[db.id] + total:
            raise self.src.error(f"Duplicated key found in RDB file (database {db.id})")


def _string_record(buf: bytes, pos: int) -> tuple[bytes, bytes, int | None, int] | None:
    """(key, value, expire_ms, end) of a string key's record lying wholly in buf at pos, else None.

    None also for anything odd (a malformed string, a record cut by the end of the window): the
    general path then reads the same bytes again, refilling the window or reporting the error."""
    try:
        expire_ms = None
        if buf[pos] == C.OP_EXPIRETIME_MS:
            expire_ms = _EXPIRE.unpack_from(buf, pos + 1)[0]
            pos += 9
        if buf[pos] != C.TYPE_STRING:
            return None
        key, pos = decode_string(buf, pos + 1)
        value, pos = decode_string(buf, pos)
    except (IndexError, struct.error, BlobError):
        return None
    return key, value, expire_ms, pos


def load_rdb_file(
    path: str | os.PathLike,
    keyspace: Any,
    now_ms: int | None,
    limits: EncodingLimits = DEFAULT_LIMITS,
    verify_checksum: bool = True,
) -> LoadStats:
    """rdb_load of a whole file into an (empty) keyspace; see ``RdbReader.load_into``."""
    stats = LoadStats()
    with open(path, "rb") as f:
        reader = RdbReader(f, limits, verify_checksum, total_size=os.fstat(f.fileno()).st_size)
        # Loading allocates millions of objects and frees none: the cyclic collector would only rescan
        # the growing heap over and over.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            reader.load_into(keyspace, now_ms, stats)
        finally:
            if gc_was_enabled:
                gc.enable()
    return stats
