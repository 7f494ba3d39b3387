"""Intset: the compact blob of a set of integers (RDB type 11).

    u32le encoding    bytes per value: 2, 4 or 8
    u32le length      number of values (more than 0)
    values            signed little-endian integers of that width, strictly ascending

The width is the smallest that holds every value; the blob is exactly 8 + length * width bytes.
Example {1, 2, 3, 70000}: 04000000 04000000 01000000 02000000 03000000 70110100.
"""

from __future__ import annotations

import operator
import struct
from collections.abc import Iterable

from emberkv.persistence.rdb.errors import BlobError

HEADER_SIZE = 8
_HEADER = struct.Struct("<II")
_FORMATS = {2: "h", 4: "i", 8: "q"}


def intset_width(lo: int, hi: int) -> int:
    if -32768 <= lo and hi <= 32767:
        return 2
    if -2147483648 <= lo and hi <= 2147483647:
        return 4
    return 8


def intset_encode(values: Iterable[int]) -> bytes:
    ordered = sorted(values)
    width = intset_width(ordered[0], ordered[-1]) if ordered else 2
    return _HEADER.pack(width, len(ordered)) + struct.pack(f"<{len(ordered)}{_FORMATS[width]}", *ordered)


def intset_decode(blob: bytes) -> list[int]:
    if len(blob) < HEADER_SIZE:
        raise BlobError("intset shorter than its header")
    width, count = _HEADER.unpack_from(blob, 0)
    fmt = _FORMATS.get(width)
    if fmt is None:
        raise BlobError(f"invalid intset encoding {width}")
    if count == 0 or len(blob) != HEADER_SIZE + count * width:
        raise BlobError("intset size does not match its header")
    values = list(struct.unpack_from(f"<{count}{fmt}", blob, HEADER_SIZE))
    if not all(map(operator.lt, values, values[1:])):
        raise BlobError("intset values are not strictly ascending")
    return values
