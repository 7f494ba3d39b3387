"""RDB length encoding (``len(x)``), used for every count, size, db number and plain integer.

The top two bits of the first byte say how long the encoding is; multi-byte forms are **big endian**
(unlike nearly everything else in the format):

    00xxxxxx                  0..63 in the low 6 bits                  1 byte
    01xxxxxx yyyyyyyy         14 bits: (b0 & 0x3f) << 8 | b1           2 bytes
    10000000 + 4 bytes        32 bits                                  5 bytes
    10000001 + 8 bytes        64 bits                                  9 bytes
    11xxxxxx                  not a length: a string's special encoding (strings.py), low 6 bits say which
    10xxxxxx (other)          invalid

The writer always picks the shortest form. Decoders are pure functions over a buffer and a position,
returning the value and the position after it; running off the end raises ``Truncated``.
"""

from __future__ import annotations

import struct

from emberkv.persistence.rdb.errors import BlobError

ENC_6BIT = 0
ENC_14BIT = 1
LEN_32BIT = 0x80
LEN_64BIT = 0x81
ENC_SPECIAL = 3  # top bits 11: see strings.py

_U32BE = struct.Struct(">I")
_U64BE = struct.Struct(">Q")
_U16BE = struct.Struct(">H")

# One-byte encodings of 0..63, built once: the writer's hot path looks them up instead of packing.
SHORT_LENGTHS = tuple(bytes([n]) for n in range(64))


class Truncated(BlobError):
    """The buffer ended inside an item: in a file, an unexpected EOF; in a blob, a malformed blob."""


def encode_length(n: int) -> bytes:
    if n < 64:
        return SHORT_LENGTHS[n]
    if n < 16384:
        return _U16BE.pack(0x4000 | n)
    if n <= 0xFFFFFFFF:
        return b"\x80" + _U32BE.pack(n)
    return b"\x81" + _U64BE.pack(n)


def length_size(first: int) -> int:
    """Bytes taken by a length (or special string header) whose first byte is first; 0 if invalid."""
    kind = first >> 6
    if kind == ENC_6BIT or kind == ENC_SPECIAL:
        return 1
    if kind == ENC_14BIT:
        return 2
    if first == LEN_32BIT:
        return 5
    if first == LEN_64BIT:
        return 9
    return 0


def decode_length_or_special(buf: bytes, pos: int) -> tuple[int, bool, int]:
    """(value, is_special, new_pos). For a special encoding the value is its number (low 6 bits)."""
    if pos >= len(buf):
        raise Truncated("length past the end")
    first = buf[pos]
    kind = first >> 6
    if kind == ENC_6BIT:
        return first, False, pos + 1
    if kind == ENC_SPECIAL:
        return first & 0x3F, True, pos + 1
    if kind == ENC_14BIT:
        if pos + 2 > len(buf):
            raise Truncated("14-bit length past the end")
        return _U16BE.unpack_from(buf, pos)[0] & 0x3FFF, False, pos + 2
    if first == LEN_32BIT:
        if pos + 5 > len(buf):
            raise Truncated("32-bit length past the end")
        return _U32BE.unpack_from(buf, pos + 1)[0], False, pos + 5
    if first == LEN_64BIT:
        if pos + 9 > len(buf):
            raise Truncated("64-bit length past the end")
        return _U64BE.unpack_from(buf, pos + 1)[0], False, pos + 9
    raise BlobError(f"Unknown length encoding {first} in rdbLoadLen()")


def decode_length(buf: bytes, pos: int) -> tuple[int, int]:
    """(length, new_pos); a string's special encoding where a length is expected is an error."""
    if pos + 1 < len(buf):  # the 6- and 14-bit forms, by far the commonest, without the general decoding
        first = buf[pos]
        if first < 0x40:
            return first, pos + 1
        if first < 0x80:
            return ((first & 0x3F) << 8) | buf[pos + 1], pos + 2
    value, special, pos = decode_length_or_special(buf, pos)
    if special:
        raise BlobError(f"Unexpected string encoding {value} where a length was expected")
    return value, pos
