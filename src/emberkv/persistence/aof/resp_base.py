"""A base file made of commands (``aof-use-rdb-preamble no``): what a RESP rewrite writes (spec §3.10).

The snapshot engine drives it like the RDB writer (header, databases, keys, finish). Each key becomes
the commands that rebuild it, at most 64 elements per command, the way Redis splits them: ``SET``,
``RPUSH``, ``SADD``, ``ZADD`` (scores as ``%.17g``), ``HMSET``, then ``PEXPIREAT`` when it has a TTL.
With ``aof-timestamp-enabled`` the file starts with one ``#TS:`` annotation.
"""

from __future__ import annotations

import time
from typing import Any, BinaryIO

from emberkv.keyspace.values import HashValue, ListValue, RawString, SetValue, ZSetValue
from emberkv.persistence.aof.format import encode_command, encode_select, timestamp_annotation

ITEMS_PER_COMMAND = 64
FLUSH_AT = 1 << 20


def _score(score: float) -> bytes:
    return b"%.17g" % score


class RespBaseWriter:
    def __init__(self, f: BinaryIO, timestamps: bool = False) -> None:
        self.f = f
        self.timestamps = timestamps
        self.out = bytearray()
        self.bytes_written = 0

    def _emit(self, argv: list[bytes]) -> None:
        self.out += encode_command(argv)
        if len(self.out) >= FLUSH_AT:
            self._flush()

    def _flush(self) -> None:
        if self.out:
            self.f.write(self.out)
            self.bytes_written += len(self.out)
            self.out = bytearray()

    def write_header(self, aux: dict | None = None) -> None:
        if self.timestamps:
            self.out += timestamp_annotation(int(time.time()))

    def select_db(self, dbid: int, db_size: int = 0, expires_size: int = 0) -> None:
        self.out += encode_select(dbid)

    def write_key(self, key: bytes, value: Any, expire_ms: int | None) -> None:
        kind = type(value)
        if kind is bytes or kind is RawString:
            self._emit([b"SET", key, bytes(value)])
        elif kind is ListValue:
            self._chunked(b"RPUSH", key, list(value))
        elif kind is SetValue:
            self._chunked(b"SADD", key, list(value))
        elif kind is ZSetValue:
            pairs = [item for score, member in value.ranked for item in (_score(score), member)]
            self._chunked(b"ZADD", key, pairs, 2)
        elif kind is HashValue:
            pairs = [item for field_value in value.items() for item in field_value]
            self._chunked(b"HMSET", key, pairs, 2)
        else:
            raise TypeError(f"cannot write a {kind.__name__} to an AOF base")
        if expire_ms is not None:
            self._emit([b"PEXPIREAT", key, b"%d" % expire_ms])

    def _chunked(self, name: bytes, key: bytes, items: list[bytes], width: int = 1) -> None:
        step = ITEMS_PER_COMMAND * width
        for start in range(0, len(items), step):
            self._emit([name, key, *items[start:start + step]])

    def finish(self) -> None:
        self._flush()
