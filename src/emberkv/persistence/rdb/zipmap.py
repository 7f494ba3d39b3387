"""Zipmap: the compact hash blob of RDB versions 1-3 (type 9). Read only.

    1 byte count (254 or more: unknown)
    repeat: L(key) key  L(value) free-byte value <free padding bytes>
    0xFF end

L is one byte 0..253, or 0xFE followed by a u32 (little endian: the hosts that wrote these files).
"""

from __future__ import annotations

import struct

from emberkv.persistence.rdb.errors import BlobError

ZIPMAP_END = 0xFF
ZIPMAP_BIGLEN = 0xFE
_U32 = struct.Struct("<I")


def _length(blob: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(blob):
        raise BlobError("zipmap length past the end")
    first = blob[pos]
    if first < ZIPMAP_BIGLEN:
        return first, pos + 1
    if first == ZIPMAP_BIGLEN and pos + 5 <= len(blob):
        return _U32.unpack_from(blob, pos + 1)[0], pos + 5
    raise BlobError("invalid zipmap length")


def zipmap_decode(blob: bytes) -> list[tuple[bytes, bytes]]:
    """The (field, value) pairs, in order."""
    if len(blob) < 2:
        raise BlobError("zipmap shorter than its header")
    count = blob[0]
    pairs: list[tuple[bytes, bytes]] = []
    pos = 1
    while True:
        if pos >= len(blob):
            raise BlobError("zipmap has no end marker")
        if blob[pos] == ZIPMAP_END:
            pos += 1
            break
        klen, pos = _length(blob, pos)
        key = blob[pos : pos + klen]
        pos += klen
        vlen, pos = _length(blob, pos)
        if pos >= len(blob):
            raise BlobError("zipmap value past the end")
        free = blob[pos]
        pos += 1
        value = blob[pos : pos + vlen]
        pos += vlen + free
        if len(key) != klen or len(value) != vlen or pos > len(blob):
            raise BlobError("zipmap entry past the end")
        pairs.append((key, value))
    if pos != len(blob):
        raise BlobError("zipmap has trailing bytes after its end marker")
    if count < ZIPMAP_BIGLEN and count != len(pairs):
        raise BlobError("zipmap count does not match its entries")
    return pairs
