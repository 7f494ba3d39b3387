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
from collections.abc import Collection, Iterable

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
INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1

_I8 = struct.Struct("<b")
_I16 = struct.Struct("<h")
_I32 = struct.Struct("<i")
_DOUBLE = struct.Struct("<d")

# First bytes a canonical decimal can start with: the hot path looks here before trying to parse.
_INT_FIRST = frozenset(b"-0123456789")

# The first byte of an LZF string: special encoding (top bits 11), ENC_LZF.
_LZF_HEADER = 0xC0 | ENC_LZF

# Header kinds returned by decode_string_header.
RAW = 0
INT = 1
LZF = 2


def canonical_int(s: bytes) -> int | None:
    """The signed 64-bit integer s spells in canonical form (Redis's string2ll rules), else None."""
    # The digit test turns most non-integers away cheaply; what passes it is ASCII digits int() takes.
    if not s or len(s) > 20 or not (s.isdigit() or (s[0] == 45 and s[1:].isdigit())):
        return None
    v = int(s)
    # Digits alone still allow "01" and "-0": only text that round-trips is canonical.
    if b"%d" % v != s or not INT64_MIN <= v <= INT64_MAX:
        return None
    return v


def canonical_ints(values: Collection[bytes]) -> list[int] | None:
    """canonical_int of every value, in order, when all are canonical int64 texts; else None. It runs
    at C speed over the whole collection (a set is saved and loaded as an intset by it): the values
    joined by spaces must hold only digits and '-', and must be exactly the decimal texts of their
    int()s joined the same way (a canonical text holds no space, so texts and values pair up)."""
    if not values:
        return []
    joined = b" ".join(values) + b" "
    if not joined.translate(None, b"- ").isdigit():
        return None
    try:
        ints = list(map(int, values))
    except ValueError:  # "-", "--1", "1-2", "", or more digits than int() takes
        return None
    if (b"%d " * len(ints)) % tuple(ints) != joined:
        return None
    if not (INT64_MIN <= min(ints) and max(ints) <= INT64_MAX):
        return None
    return ints


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


def encode_strings(values: Iterable[bytes], compress: bool = True) -> list[bytes]:
    """encode_string of every value, in order, as parts to join: a short string that cannot be an
    integer (most members and fields) is its length byte and itself, without a call."""
    inline_max = LZF_MIN_LEN - 1 if compress else 63
    int_first = _INT_FIRST
    lengths = SHORT_LENGTHS
    parts: list[bytes] = []
    append = parts.append
    for s in values:
        n = len(s)
        if n <= inline_max and not (n and s[0] in int_first):
            parts += (lengths[n], s)
        else:
            append(encode_string(s, compress))
    return parts


def decode_string_header(buf: bytes, pos: int) -> tuple[int, int, int, int]:
    """Parse a string's header: (kind, a, b, payload_start).

    RAW: a = length, payload of a bytes at payload_start. INT: a = the integer, nothing follows
    (payload_start is the position after it). LZF: a = compressed length, b = original length.
    """
    if pos < len(buf) and buf[pos] == _LZF_HEADER:  # the commonest special form (compressed blobs)
        clen, p = decode_length(buf, pos + 1)
        ulen, p = decode_length(buf, p)
        return LZF, clen, ulen, p
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
# Bytes float() skips or allows around digits that a strictly written double never holds.
_NOT_IN_PLAIN_DOUBLE = b" \t\n\r\x0b\x0c_"


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


def parse_doubles(texts: list[bytes]) -> list[float]:
    """parse_double of every text, in order (a zset listpack's scores). Without any whitespace or
    underscore in them, float() alone is as strict, so it runs over all of them at C speed; otherwise,
    or when one fails, each goes through parse_double (which raises for the first bad one)."""
    joined = b"".join(texts)
    if len(joined.translate(None, _NOT_IN_PLAIN_DOUBLE)) == len(joined):
        try:
            return list(map(float, texts))
        except ValueError:
            pass
    return [parse_double(text) for text in texts]
