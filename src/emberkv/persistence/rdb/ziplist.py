"""Ziplist: the compact blob of RDB files before version 10 (Redis 2.6 to 6.2). Read only: on load every
ziplist becomes the value it holds, and we write listpacks instead.

    u32le zlbytes    the whole blob
    u32le zltail     offset of the last entry
    u16le zllen      entry count (65535 = "too many, scan")
    entries...
    0xFF

    entry = prevlen  encoding  data
    prevlen:  1 byte (size of the previous entry, < 254), or 0xFE + u32le
    encoding: 00pppppp               string of up to 63 bytes
              01pppppp qqqqqqqq      string, 14-bit length, BIG endian
              10______ + 4 bytes     string, 32-bit length, BIG endian
              0xC0 / 0xD0 / 0xE0     int16 / int32 / int64 LE
              0xF0                   int24 LE
              0xFE                   int8
              0xF1 .. 0xFD           the integer 0..12 (low nibble - 1), no data

Every field is checked (sizes, prevlen chain, tail offset, count) because the values are rebuilt from it.
"""

from __future__ import annotations

import struct

from emberkv.persistence.rdb.errors import BlobError

HEADER_SIZE = 10
ZIP_END = 0xFF
ZIP_BIG_PREVLEN = 0xFE
COUNT_UNKNOWN = 65535

_HEADER = struct.Struct("<IIH")
_U32 = struct.Struct("<I")
_U32BE = struct.Struct(">I")

# encoding byte -> (data width, signed little-endian) for the integer forms with data.
_INT_WIDTHS = {0xC0: 2, 0xD0: 4, 0xE0: 8, 0xF0: 3, 0xFE: 1}


def ziplist_decode(blob: bytes) -> list[bytes]:
    size = len(blob)
    if size < HEADER_SIZE + 1:
        raise BlobError("ziplist shorter than its header")
    zlbytes, zltail, zllen = _HEADER.unpack_from(blob, 0)
    if zlbytes != size or blob[-1] != ZIP_END:
        raise BlobError("ziplist header does not match its size")
    out: list[bytes] = []
    end = size - 1
    pos = HEADER_SIZE
    prev_size = 0
    last = HEADER_SIZE
    while pos < end:
        start = pos
        if blob[pos] == ZIP_BIG_PREVLEN:
            if pos + 5 > end:
                raise BlobError("ziplist prevlen past the end")
            prevlen = _U32.unpack_from(blob, pos + 1)[0]
            pos += 5
        else:
            prevlen = blob[pos]
            pos += 1
        if prevlen != prev_size:
            raise BlobError("ziplist prevlen does not match the previous entry")
        if pos >= end:
            raise BlobError("ziplist entry past the end")
        enc = blob[pos]
        kind = enc >> 6
        if kind == 0:
            n, pos = enc & 0x3F, pos + 1
        elif kind == 1:
            if pos + 2 > end:
                raise BlobError("ziplist entry past the end")
            n, pos = ((enc & 0x3F) << 8) | blob[pos + 1], pos + 2
        elif kind == 2:
            if pos + 5 > end:
                raise BlobError("ziplist entry past the end")
            n, pos = _U32BE.unpack_from(blob, pos + 1)[0], pos + 5
        else:
            n = -1
        if n >= 0:
            if pos + n > end:
                raise BlobError("ziplist string past the end")
            out.append(blob[pos : pos + n])
            pos += n
        elif 0xF1 <= enc <= 0xFD:
            out.append(b"%d" % ((enc & 0x0F) - 1))
            pos += 1
        else:
            width = _INT_WIDTHS.get(enc)
            if width is None:
                raise BlobError(f"invalid ziplist encoding byte {enc:#x}")
            if pos + 1 + width > end:
                raise BlobError("ziplist integer past the end")
            out.append(b"%d" % int.from_bytes(blob[pos + 1 : pos + 1 + width], "little", signed=True))
            pos += 1 + width
        prev_size = pos - start
        last = start
    if pos != end:
        raise BlobError("ziplist entries overrun the terminator")
    if zltail != (last if out else HEADER_SIZE):
        raise BlobError("ziplist tail offset is wrong")
    if zllen != COUNT_UNKNOWN and zllen != len(out):
        raise BlobError("ziplist entry count does not match its header")
    return out
