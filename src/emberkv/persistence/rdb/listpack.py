"""Listpack: the compact blob Redis 7.0 writes for small hashes and sorted sets and for list nodes.

    u32le total_bytes     the whole blob, header and terminator included
    u16le num_elements    65535 = "too many to count here, scan"
    elements...
    0xFF                  terminator

Each element is encoding+data followed by a backlen (the size of encoding+data, so the blob can also be
walked right to left):

    0xxxxxxx               uint 0..127                                      1 byte
    10xxxxxx               string of 0..63 bytes follows                    1 + len
    110xxxxx b1            13-bit signed int ((b0 & 0x1f) << 8 | b1)         2 bytes
    1110xxxx b1            string of 0..4095 bytes ((b0 & 0x0f) << 8 | b1)   2 + len
    0xF0 u32le             string with a 32-bit length                       5 + len
    0xF1 / F2 / F3 / F4    int16 / int24 / int32 / int64, little endian      3 / 4 / 5 / 9

backlen takes 1 byte for sizes up to 127, 2 below 16383, 3 below 2097151, 4 below 268435455, else 5:
7-bit groups, the most significant in the first byte, every later byte with bit 7 set (200 -> 01 c8).

A string element that is a canonical int64 (strings.canonical_int) is stored in the smallest integer
form; integers read back as their decimal text.

Encoding and decoding run for every element of every small hash, zset and list node, so both have a
fast case: encoders inline short non-numeric strings, and a listpack of short text strings is decoded
by cutting it at its framing bytes (_short_strings) instead of walking it element by element.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence

from emberkv.persistence.rdb.errors import BlobError
from emberkv.persistence.rdb.strings import canonical_int

HEADER_SIZE = 6
EMPTY_SIZE = HEADER_SIZE + 1
LP_EOF = 0xFF
COUNT_UNKNOWN = 65535

_HEADER = struct.Struct("<IH")
_U32 = struct.Struct("<I")
_I16 = struct.Struct("<h")
_I32 = struct.Struct("<i")
_I64 = struct.Struct("<q")

# Listpack zset scores that are integral and within +-2^62 are stored as listpack integers.
LP_INT_SCORE_LIMIT = float(1 << 62)

# By first byte: can a string starting with it be a canonical integer (stored as a listpack integer)?
_INT_FIRST = tuple(c in b"-0123456789" for c in range(256))
# The 1-byte forms, built once: uint 0..127 (encoding and backlen are the same byte) and short strings.
_UINT7 = tuple(bytes([v, 1]) for v in range(128))
_STR6 = tuple(bytes([0x80 | n]) for n in range(64))
_BACKLEN1 = tuple(bytes([n]) for n in range(128))
# A string of n < 64 bytes is _STR6[n] + string + _BACKLEN1[n + 1]: the two pieces, per n.
_STR6_AROUND = tuple((_STR6[n], _BACKLEN1[n + 1]) for n in range(64))
_DECIMAL = tuple(b"%d" % v for v in range(128))

# What _short_strings cuts a listpack at: the backlens of strings of 0..30 bytes (0x01..0x1f), every
# short-string encoding byte (0x80..0xbf) and 0xff, the separator it turns them all into.
_FRAMING = bytes(range(0x01, 0x20)) + bytes(range(0x80, 0xC0)) + b"\xff"
_SEPARATOR = b"\xff"
_FRAMING_TO_SEPARATOR = bytes.maketrans(_FRAMING, _SEPARATOR * len(_FRAMING))
_NOT_FRAMING = bytes(b for b in range(256) if b not in _FRAMING)
# backlen -> string length for the backlens of 0..30 bytes; 0xff (no such length) otherwise.
_LENGTH_OF_BACKLEN = bytes(b - 1 if 0x01 <= b <= 0x1F else 0xFF for b in range(256))
# string length -> its encoding byte for 0..30 bytes; 0x00 (never framing) otherwise.
_HEAD_OF_LENGTH = bytes(0x80 | n if n <= 30 else 0 for n in range(256))
# Below this many elements the walk is quicker than _short_strings' fixed cost.
_SHORT_STRINGS_FROM = 8


def encode_backlen(size: int) -> bytes:
    if size <= 127:
        return _BACKLEN1[size]
    if size < 16383:
        return bytes((size >> 7, (size & 127) | 128))
    if size < 2097151:
        return bytes((size >> 14, ((size >> 7) & 127) | 128, (size & 127) | 128))
    if size < 268435455:
        return bytes((size >> 21, ((size >> 14) & 127) | 128, ((size >> 7) & 127) | 128, (size & 127) | 128))
    return bytes(
        (size >> 28, ((size >> 21) & 127) | 128, ((size >> 14) & 127) | 128, ((size >> 7) & 127) | 128,
         (size & 127) | 128)
    )


def backlen_size(size: int) -> int:
    if size <= 127:
        return 1
    if size < 16383:
        return 2
    if size < 2097151:
        return 3
    if size < 268435455:
        return 4
    return 5


def _int_entry(v: int) -> bytes:
    if 0 <= v <= 127:
        return _UINT7[v]
    if -4096 <= v <= 4095:
        u = v & 0x1FFF
        return bytes((0xC0 | (u >> 8), u & 0xFF, 2))
    if -32768 <= v <= 32767:
        return b"\xf1" + _I16.pack(v) + b"\x03"
    if -8388608 <= v <= 8388607:
        return b"\xf2" + (v & 0xFFFFFF).to_bytes(3, "little") + b"\x04"
    if -2147483648 <= v <= 2147483647:
        return b"\xf3" + _I32.pack(v) + b"\x05"
    return b"\xf4" + _I64.pack(v) + b"\x09"


def lp_entry(value: bytes | int) -> bytes:
    """One element, encoding + data + backlen, as it sits in a listpack."""
    if type(value) is int:
        return _int_entry(value)
    n = len(value)
    if n and n <= 20 and _INT_FIRST[value[0]]:
        v = canonical_int(value)
        if v is not None:
            return _int_entry(v)
    if n < 64:
        return _STR6[n] + value + _BACKLEN1[n + 1]
    if n < 4096:
        return bytes((0xE0 | (n >> 8), n & 0xFF)) + value + encode_backlen(n + 2)
    return b"\xf0" + _U32.pack(n) + value + encode_backlen(n + 5)


# The three lp_body functions below are lp_entry with its commonest case inlined (a string of < 64
# bytes that cannot be an integer): they run for every element of every list, small hash and small
# zset saved.


def lp_body(values: Iterable[bytes]) -> bytes:
    """The concatenated lp_entry of every value."""
    parts: list[bytes] = []
    append = parts.append
    int_first = _INT_FIRST
    around = _STR6_AROUND
    for value in values:
        n = len(value)
        if n < 64 and not (n and int_first[value[0]]):
            head, tail = around[n]
            parts += (head, value, tail)
        else:
            append(lp_entry(value))
    return b"".join(parts)


def lp_pairs_body(pairs: Iterable[tuple[bytes, bytes]]) -> bytes:
    """lp_body of the flattened pairs (a hash's items): field, value, field, value..."""
    parts: list[bytes] = []
    append = parts.append
    int_first = _INT_FIRST
    around = _STR6_AROUND
    for a, b in pairs:
        n = len(a)
        m = len(b)
        if n < 64 and m < 64 and not ((n and int_first[a[0]]) or (m and int_first[b[0]])):
            head_a, tail_a = around[n]
            head_b, tail_b = around[m]
            parts += (head_a, a, tail_a, head_b, b, tail_b)
        else:
            append(lp_entry(a))
            append(lp_entry(b))
    return b"".join(parts)


def lp_scored_body(ranked: Sequence[tuple[float, bytes]]) -> bytes:
    """A small zset's elements from its (score, member) pairs: member, score, member, score... A
    score is an integer when integral within +-2^62, else its %.17g text."""
    scores, members = zip(*ranked, strict=True) if ranked else ((), ())
    texts = _fraction_texts(scores)
    if texts is None:
        return _scored_body(ranked)
    parts: list[bytes] = []
    int_first = _INT_FIRST
    around = _STR6_AROUND
    for member, text in zip(members, texts, strict=True):
        head_t, tail_t = around[len(text)]
        n = len(member)
        if n < 64 and not (n and int_first[member[0]]):
            head, tail = around[n]
            parts += (head, member, tail, head_t, text, tail_t)
        else:
            parts += (lp_entry(member), head_t, text, tail_t)
    return b"".join(parts)


def _fraction_texts(scores: tuple[float, ...]) -> list[bytes] | None:
    """The %.17g text of every score when none is integral (the usual case), formatted in one go; None
    otherwise. Such a text is never a canonical integer (it has a '.', an exponent or is "inf") and is
    shorter than 64 bytes, so it is always a short listpack string."""
    try:
        if any(map(float.is_integer, scores)):
            return None
    except TypeError:  # an int score (float.is_integer refuses ints): the general path decides
        return None
    texts = ((b"%.17g\n" * len(scores)) % scores).split(b"\n")
    texts.pop()  # the empty piece after the last newline
    return texts


def _scored_body(ranked: Iterable[tuple[float, bytes]]) -> bytes:
    """lp_scored_body for any scores, a pair at a time."""
    parts: list[bytes] = []
    append = parts.append
    int_first = _INT_FIRST
    around = _STR6_AROUND
    limit = LP_INT_SCORE_LIMIT
    for score, member in ranked:
        n = len(member)
        if n < 64 and not (n and int_first[member[0]]):
            head, tail = around[n]
            parts += (head, member, tail)
        else:
            append(lp_entry(member))
        # The range test comes first: it also keeps the infinities away from int().
        if -limit <= score <= limit and score == int(score):
            append(_int_entry(int(score)))
        else:
            text = b"%.17g" % score
            head, tail = around[len(text)]
            parts += (head, text, tail)
    return b"".join(parts)


def lp_wrap(body: bytes, count: int) -> bytes:
    """A listpack around already encoded elements (the concatenated lp_entry results)."""
    return _HEADER.pack(len(body) + EMPTY_SIZE, min(count, COUNT_UNKNOWN)) + body + b"\xff"


def lp_encode(values: Iterable[bytes | int]) -> bytes:
    items = list(values)
    return lp_wrap(b"".join(map(lp_entry, items)), len(items))


def lp_decode(blob: bytes) -> list[bytes]:
    """Every element as bytes (integers as decimal text), after checking the whole structure."""
    size = len(blob)
    if size < EMPTY_SIZE:
        raise BlobError("listpack shorter than its header")
    total, count = _HEADER.unpack_from(blob, 0)
    if total != size or blob[-1] != LP_EOF:
        raise BlobError("listpack header does not match its size")
    if count >= _SHORT_STRINGS_FROM:
        values = _short_strings(blob)
        if values is not None and (count == COUNT_UNKNOWN or count == len(values)):
            return values
    return _walk(blob, count)


def _short_strings(blob: bytes) -> list[bytes] | None:
    """Every element when all are strings of at most 30 bytes free of _FRAMING bytes (short ASCII text,
    the commonest listpack), else None; at C speed. The framing bytes, taken out in order, must
    alternate encoding byte and backlen, each pair saying the same length; cut at them, the body must
    leave exactly that many bytes inside each pair and none between pairs. That is the one listpack
    the element-by-element walk would read as these elements."""
    body = blob[HEADER_SIZE:-1]
    framing = body.translate(None, _NOT_FRAMING)
    lengths = framing[1::2].translate(_LENGTH_OF_BACKLEN)
    if framing[0::2] != lengths.translate(_HEAD_OF_LENGTH):
        return None
    pieces = body.translate(_FRAMING_TO_SEPARATOR).split(_SEPARATOR)
    values = pieces[1::2]
    if any(pieces[0::2]):
        return None
    try:
        if bytes(map(len, values)) != lengths:
            return None
    except ValueError:  # a piece of 256 bytes or more: no short string
        return None
    return values


def _walk(blob: bytes, count: int) -> list[bytes]:
    """lp_decode element by element, for any listpack whose header checked out."""
    size = len(blob)
    out: list[bytes] = []
    append = out.append
    end = size - 1
    pos = HEADER_SIZE
    # blob[end] is the terminator, so blob[i] for any i <= end needs no bounds check; an element whose
    # size runs over it shows up as a wrong backlen or as pos passing end.
    while pos < end:
        b = blob[pos]
        if 0x7F < b < 0xC0:  # string of up to 63 bytes (the commonest): its size fits a one-byte backlen
            n = b - 0x7F
            e = pos + n
            # e == end would be the terminator (0xff), never a backlen; e > end is past the elements.
            if e > end or blob[e] != n:
                raise BlobError("listpack element or its backlen runs past the end or is wrong")
            append(blob[pos + 1 : e])
            pos = e + 1
            continue
        if b < 0x80:  # 7-bit uint: encoding and backlen both one byte
            if blob[pos + 1] != 1:
                raise BlobError("listpack element has a wrong backlen")
            append(_DECIMAL[b])
            pos += 2
            continue
        if b < 0xE0:
            u = ((b & 0x1F) << 8) | blob[pos + 1]
            append(b"%d" % (u - 8192 if u >= 4096 else u))
            n = 2
        elif b < 0xF0:
            n = 2 + (((b & 0x0F) << 8) | blob[pos + 1])
            append(blob[pos + 2 : pos + n])
        elif b == 0xF0:
            if pos + 5 > end:
                raise BlobError("listpack element past the end")
            n = 5 + _U32.unpack_from(blob, pos + 1)[0]
            append(blob[pos + 5 : pos + n])
        elif 0xF1 <= b <= 0xF4:
            n = 1 + (2, 3, 4, 8)[b - 0xF1]
            if pos + n > end:
                raise BlobError("listpack element past the end")
            append(b"%d" % int.from_bytes(blob[pos + 1 : pos + n], "little", signed=True))
        else:
            raise BlobError(f"invalid listpack encoding byte {b:#x}")
        pos += n
        bl = backlen_size(n)
        if pos + bl > end or blob[pos : pos + bl] != encode_backlen(n):
            raise BlobError("listpack element or its backlen runs past the end or is wrong")
        pos += bl
    if pos != end:
        raise BlobError("listpack elements overrun the terminator")
    if count != COUNT_UNKNOWN and count != len(out):
        raise BlobError("listpack element count does not match its header")
    return out
