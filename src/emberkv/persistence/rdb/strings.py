"""RDB string encoding (``str(x)``) and the two double encodings.

A string starts with a length (lengths.py). A normal length is followed by that many raw bytes; a
"special" first byte (top bits 11) instead says how the string was packed:

    0xC0  INT8   1 byte signed              c0 fb        = "-5"
    0xC1  INT16  2 bytes signed LE          c1 39 30     = "12345"
    0xC2  INT32  4 bytes signed LE          c2 1d c0 00 6b = "1795211293"
    0xC3  LZF    len(compressed) len(original) + compressed bytes
    other        invalid

Integer forms decode to the canonical decimal text. Writer rule, as Redis 7.0 applies it to every string
in the file (keys, values, members, AUX, listpack blobs...):

1. at most 11 bytes, a canonical decimal (no '+', no leading zeros, not "-0") that fits int32: the
   smallest integer form;
2. else, when compression is on and the string is longer than 20 bytes: LZF, kept only if the output
   fits in len - 4 bytes (so it saves at least 4);
3. else the length and the raw bytes.

Doubles: ZSET_2 scores are 8-byte little-endian IEEE-754. The pre-3.0 ZSET type stored scores as text:
one length byte (253 = NaN, 254 = +inf, 255 = -inf) and that many ASCII bytes.
"""

from __future__ import annotations

import math
import struct

import lzf

from emberkv.persistence.rdb.errors import BlobError
from emberkv.persistence.rdb.lengths import (
    SHORT_LENGTHS,
    Truncated,
    decode_length,
    decode_length_or_special,
    encode_length,
)

ENC_INT8 = 0
ENC_INT16 = 1
ENC_INT32 = 2
ENC_LZF = 3

# Strings this short or shorter are never compressed: LZF could not save 4 bytes on them.
LZF_MIN_LEN = 21
# Every LZF back-reference of 3 bytes expands to at most 264: no valid stream grows more than 88-fold.
# A declared original length beyond that is corrupt; refusing it avoids allocating from a bad length.
LZF_MAX_RATIO = 88
# Longest decimal text that may be stored as an int8/16/32: "-2147483648".
INT_ENCODING_MAX_LEN = 11

_I8 = struct.Struct("<b")
_I16 = struct.Struct("<h")
_I32 = struct.Struct("<i")
_DOUBLE = struct.Struct("<d")

# First bytes a canonical decimal can start with: the hot path looks here before trying to parse.
_INT_FIRST = frozenset(b"-0123456789")

# Header kinds returned by decode_string_header.
RAW = 0
INT = 1
LZF = 2


def canonical_int(s: bytes) -> int | None:
    """The signed 64-bit integer s spells in canonical form (Redis's string2ll rules), else None."""
    if not s or len(s) > 20:
        return None
    try:
        v = int(s)
    except ValueError:
        return None
    # int() also takes "+1", " 1", "01", "-0", "1_0": only text that round-trips is canonical.
    if b"%d" % v != s or not -(1 << 63) <= v < (1 << 63):
        return None
    return v


def encode_int_string(v: int) -> bytes | None:
    """The c0/c1/c2 form of v, or None when v does not fit in 32 bits."""
    if -128 <= v <= 127:
        return b"\xc0" + _I8.pack(v)
    if -32768 <= v <= 32767:
        return b"\xc1" + _I16.pack(v)
    if -2147483648 <= v <= 2147483647:
        return b"\xc2" + _I32.pack(v)
    return None


def encode_string(s: bytes, compress: bool = True) -> bytes:
    n = len(s)
    if n <= INT_ENCODING_MAX_LEN and n and s[0] in _INT_FIRST:
        v = canonical_int(s)
        if v is not None:
            packed = encode_int_string(v)
            if packed is not None:
                return packed
    if compress and n >= LZF_MIN_LEN:
        packed = lzf.compress(s, n - 4)
        if packed:
            return b"\xc3" + encode_length(len(packed)) + encode_length(n) + packed
    if n < 64:
        return SHORT_LENGTHS[n] + s
    return encode_length(n) + s


def decode_string_header(buf: bytes, pos: int) -> tuple[int, int, int, int]:
    """Parse a string's header: (kind, a, b, payload_start).

    RAW: a = length, payload of a bytes at payload_start. INT: a = the integer, nothing follows
    (payload_start is the position after it). LZF: a = compressed length, b = original length.
    """
    n, special, p = decode_length_or_special(buf, pos)
    if not special:
        return RAW, n, 0, p
    if n == ENC_INT8:
        if p + 1 > len(buf):
            raise Truncated("int8 string past the end")
        return INT, _I8.unpack_from(buf, p)[0], 0, p + 1
    if n == ENC_INT16:
        if p + 2 > len(buf):
            raise Truncated("int16 string past the end")
        return INT, _I16.unpack_from(buf, p)[0], 0, p + 2
    if n == ENC_INT32:
        if p + 4 > len(buf):
            raise Truncated("int32 string past the end")
        return INT, _I32.unpack_from(buf, p)[0], 0, p + 4
    if n == ENC_LZF:
        clen, p = decode_length(buf, p)
        ulen, p = decode_length(buf, p)
        return LZF, clen, ulen, p
    raise BlobError(f"Unknown RDB string encoding type {n}")


def lzf_expand(data: bytes, ulen: int) -> bytes:
    """Decompress an LZF string that must expand to exactly ulen bytes."""
    if ulen == 0 or not data or ulen > len(data) * LZF_MAX_RATIO:
        raise BlobError("Invalid LZF compressed string")
    try:
        out = lzf.decompress(data, ulen)
    except ValueError:
        out = None
    if out is None or len(out) != ulen:
        raise BlobError("Invalid LZF compressed string")
    return out


def decode_string(buf: bytes, pos: int) -> tuple[bytes, int]:
    """(string, new_pos) from an in-memory buffer (the reader's string records, DUMP payloads)."""
    first = buf[pos] if pos < len(buf) else -1
    if 0 <= first < 0x40:  # the common short raw string, without the general header decoding
        end = pos + 1 + first
        if end > len(buf):
            raise Truncated("string past the end")
        return buf[pos + 1 : end], end
    kind, a, b, p = decode_string_header(buf, pos)
    if kind == INT:
        return b"%d" % a, p
    end = p + a
    if end > len(buf):
        raise Truncated("string past the end")
    if kind == RAW:
        return buf[p:end], end
    return lzf_expand(buf[p:end], b), end


# -- doubles ----------------------------------------------------------------------------------------

DOUBLE_SIZE = 8
_TEXT_NAN = 253
_TEXT_POS_INF = 254
_TEXT_NEG_INF = 255


def encode_binary_double(x: float) -> bytes:
    return _DOUBLE.pack(x)


def decode_binary_double(buf: bytes, pos: int) -> tuple[float, int]:
    if pos + 8 > len(buf):
        raise Truncated("double past the end")
    return _DOUBLE.unpack_from(buf, pos)[0], pos + 8


def encode_text_double(x: float) -> bytes:
    """The pre-3.0 text form (written only by tests: type 3 is read only)."""
    if math.isnan(x):
        return bytes([_TEXT_NAN])
    if math.isinf(x):
        return bytes([_TEXT_POS_INF if x > 0 else _TEXT_NEG_INF])
    text = b"%d" % x if x.is_integer() and abs(x) < 1 << 52 else b"%.17g" % x
    return bytes([len(text)]) + text


def decode_text_double(buf: bytes, pos: int) -> tuple[float, int]:
    if pos >= len(buf):
        raise Truncated("double past the end")
    n = buf[pos]
    if n == _TEXT_NAN:
        return math.nan, pos + 1
    if n == _TEXT_POS_INF:
        return math.inf, pos + 1
    if n == _TEXT_NEG_INF:
        return -math.inf, pos + 1
    end = pos + 1 + n
    if end > len(buf):
        raise Truncated("double past the end")
    return parse_double(buf[pos + 1 : end]), end


def parse_double(text: bytes) -> float:
    """A score written as text (%.17g, %lg or an integer), strictly: Python's float() alone would also
    take "1_0" and surrounding spaces."""
    if not text or text[0] in b" \t\n\r" or text[-1] in b" \t\n\r" or b"_" in text:
        raise BlobError(f"Invalid double value {text!r}")
    try:
        return float(text)
    except ValueError:
        raise BlobError(f"Invalid double value {text!r}") from None
