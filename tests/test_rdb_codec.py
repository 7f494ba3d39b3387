"""The RDB codec's mirrored pieces, byte by byte: lengths, strings, doubles, CRC-64 and the compact
blobs (listpack, intset, and the read-only ziplist and zipmap). Each encoder is pinned to its decoder by
round trips, and both to the exact bytes Redis 7.0 writes (spec §1 and §6)."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emberkv.persistence.rdb.crc64 import crc64
from emberkv.persistence.rdb.errors import BlobError
from emberkv.persistence.rdb.intset import intset_decode, intset_encode
from emberkv.persistence.rdb.lengths import Truncated, decode_length, encode_length
from emberkv.persistence.rdb.listpack import encode_backlen, lp_decode, lp_encode
from emberkv.persistence.rdb.strings import (
    canonical_int,
    decode_binary_double,
    decode_string,
    decode_text_double,
    encode_binary_double,
    encode_string,
    encode_text_double,
)
from emberkv.persistence.rdb.ziplist import ziplist_decode
from emberkv.persistence.rdb.zipmap import zipmap_decode

# -- lengths ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "encoded"),
    [
        (0, "00"),
        (63, "3f"),
        (64, "4040"),
        (200, "40c8"),
        (16383, "7fff"),
        (16384, "8000004000"),
        (0xFFFFFFFF, "80ffffffff"),
        (0x100000000, "810000000100000000"),
    ],
)
def test_length_uses_the_shortest_big_endian_form(n, encoded):
    assert encode_length(n).hex() == encoded
    assert decode_length(bytes.fromhex(encoded), 0) == (n, len(encoded) // 2)


@given(st.integers(min_value=0, max_value=2**64 - 1), st.binary(max_size=4))
def test_length_round_trips_with_trailing_data(n, trailing):
    data = encode_length(n) + trailing
    assert decode_length(data, 0) == (n, len(data) - len(trailing))


def test_length_cut_short_is_truncated_at_every_split():
    data = encode_length(0x100000000)
    for cut in range(len(data)):
        with pytest.raises(Truncated):
            decode_length(data[:cut], 0)


def test_length_with_an_unknown_form_is_refused():
    with pytest.raises(BlobError, match="Unknown length encoding"):
        decode_length(b"\x82" + bytes(8), 0)


def test_special_string_encoding_where_a_length_is_expected_is_refused():
    with pytest.raises(BlobError):
        decode_length(b"\xc0\x05", 0)


# -- strings ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoded"),
    [
        (b"-5", "c0fb"),
        (b"64", "c040"),
        (b"12345", "c13930"),
        (b"1795211293", "c21dc0006b"),
        (b"-2147483648", "c200000080"),
        (b"123456789012", "0c313233343536373839303132"),  # does not fit int32: text
        (b"", "00"),
        (b"hello", "0568656c6c6f"),
    ],
)
def test_string_encoding_matches_redis(text, encoded):
    assert encode_string(text).hex() == encoded
    assert decode_string(bytes.fromhex(encoded), 0) == (text, len(encoded) // 2)


@pytest.mark.parametrize("text", [b"+5", b"05", b"-0", b" 5", b"5 ", b"1_0", b"0x10", b"--1", b"-"])
def test_non_canonical_integers_stay_raw(text):
    assert canonical_int(text) is None
    assert encode_string(text) == bytes([len(text)]) + text


def test_lzf_string_matches_redis_bytes():
    # Spec §6.2: 100 x 'a' -> c3 09 40 64 01 61 61 e0 57 00 01 61 61
    assert encode_string(b"a" * 100).hex() == "c309406401616" + "1e05700016161"
    assert decode_string(encode_string(b"a" * 100), 0) == (b"a" * 100, 13)


def test_lzf_is_used_only_when_it_saves_four_bytes_and_compression_is_on():
    assert encode_string(b"a" * 20) == b"\x14" + b"a" * 20  # 20 bytes: never compressed
    incompressible = bytes(range(100))
    assert encode_string(incompressible) == b"\x40\x64" + incompressible
    assert encode_string(b"a" * 100, compress=False) == b"\x40\x64" + b"a" * 100


def test_lzf_with_a_wrong_declared_length_is_refused():
    good = encode_string(b"a" * 100)
    bad = good[:3] + b"\x63" + good[4:]  # original length 99 instead of 100
    with pytest.raises(BlobError, match="Invalid LZF"):
        decode_string(bad, 0)


def test_lzf_declaring_an_impossible_expansion_is_refused_before_allocating():
    bad = b"\xc3\x02\x81" + (2**40).to_bytes(8, "big") + b"\x00a"
    with pytest.raises(BlobError, match="Invalid LZF"):
        decode_string(bad, 0)


@given(st.binary(max_size=300), st.booleans())
def test_strings_round_trip(text, compress):
    encoded = encode_string(text, compress)
    assert decode_string(encoded + b"tail", 0) == (text, len(encoded))


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_integer_text_round_trips(n):
    text = b"%d" % n
    assert canonical_int(text) == n
    assert decode_string(encode_string(text), 0)[0] == text


def test_unknown_special_string_encoding_is_refused():
    with pytest.raises(BlobError, match="Unknown RDB string encoding"):
        decode_string(b"\xc4", 0)


# -- doubles ----------------------------------------------------------------------------------------


def test_binary_double_is_little_endian_ieee754():
    assert encode_binary_double(298.5).hex() == "0000000000a87240"  # spec §6.2
    assert decode_binary_double(bytes.fromhex("0000000000a87240"), 0) == (298.5, 8)


@pytest.mark.parametrize("x", [0.0, 1.0, -3.0, 2.5, 1e300, -1.5e-300, math.inf, -math.inf, 1 / 3])
def test_text_double_round_trips(x):
    encoded = encode_text_double(x)
    assert decode_text_double(encoded, 0) == (x, len(encoded))


def test_text_double_special_lengths():
    assert math.isnan(decode_text_double(b"\xfd", 0)[0])
    assert decode_text_double(b"\xfe", 0)[0] == math.inf
    assert decode_text_double(b"\xff", 0)[0] == -math.inf


@pytest.mark.parametrize("text", [b"1_0", b" 1", b"abc", b""])
def test_text_double_garbage_is_refused(text):
    with pytest.raises(BlobError):
        decode_text_double(bytes([len(text)]) + text, 0)


# -- CRC-64 -----------------------------------------------------------------------------------------

LOREM = (
    b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore "
    b"et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut "
    b"aliquip ex ea commodo consequat. Duis aute irure dolor in reprehenderit in voluptate velit esse "
    b"cillum dolore eu fugiat nulla pariatur. Excepteur sint occaecat cupidatat non proident, sunt in "
    b"culpa qui officia deserunt mollit anim id est laborum."
)


def test_crc64_vectors_from_the_spec():
    assert crc64(b"123456789") == 0xE9C6D914C4B8D9CA
    assert crc64(LOREM + b"\0") == 0xC7794709E69683B3
    assert crc64(b"56789", crc64(b"1234")) == 0xE9C6D914C4B8D9CA


@given(st.binary(max_size=200), st.integers(min_value=0, max_value=200))
def test_crc64_is_incremental(data, cut):
    assert crc64(data[cut:], crc64(data[:cut])) == crc64(data)


# -- listpack ---------------------------------------------------------------------------------------


def test_listpack_matches_redis_bytes():
    # spec §6.2 l:small and h:small
    assert lp_encode([b"1", b"2", b"3", b"a", b"b", b"c"]).hex() == "160000000600010102010301816102816202816302ff"
    assert lp_encode([b"f1", b"v1", b"f2", b"2"]).hex() == "150000000400826631038276310382663203020" + "1ff"


@pytest.mark.parametrize(
    ("value", "entry"),
    [
        (b"0", "0001"),
        (b"127", "7f01"),
        (b"128", "c08002"),
        (b"-3", "dffd02"),
        (b"-4096", "d00002"),
        (b"4096", "f1001003"),
        (b"-32768", "f1008003"),
        (b"32768", "f200800004"),
        (b"8388608", "f30000800005"),
        (b"2147483648", "f4000000800000000009"),
        (b"-9223372036854775808", "f4000000000000008009"),
        (b"2.5", "83322e3504"),
        (b"-0", "822d3003"),
    ],
)
def test_listpack_element_encodings(value, entry):
    blob = lp_encode([value])
    assert blob[6:-1].hex() == entry
    assert lp_decode(blob) == [value]


@pytest.mark.parametrize(("size", "encoded"), [(1, "01"), (127, "7f"), (200, "01c8"), (16382, "7ffe"),
                                                 (16383, "00ffff"), (2097151, "00ffffff")])
def test_listpack_backlen(size, encoded):
    assert encode_backlen(size).hex() == encoded


@given(st.lists(st.one_of(st.binary(max_size=5000), st.integers(-(2**63), 2**63 - 1).map(lambda n: b"%d" % n)),
                max_size=40))
def test_listpack_round_trips(values):
    assert lp_decode(lp_encode(values)) == values


def test_listpack_with_more_than_65534_elements_counts_as_unknown():
    values = [b"x"] * 70000
    blob = lp_encode(values)
    assert struct.unpack_from("<H", blob, 4)[0] == 65535
    assert lp_decode(blob) == values


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b[:-1],  # no terminator
        lambda b: b[:4] + b"\x07\x00" + b[6:],  # wrong count
        lambda b: (len(b) + 1).to_bytes(4, "little") + b[4:],  # wrong total
        lambda b: b[:6] + b"\x85" + b[7:],  # string longer than the blob
        lambda b: b[:8] + b"\x09" + b[9:],  # wrong backlen
        lambda b: b[:6] + b"\xf5" + b[7:],  # invalid encoding byte
    ],
)
def test_listpack_corruption_is_refused(mutate):
    blob = lp_encode([b"a", b"bb", b"7"])
    with pytest.raises(BlobError):
        lp_decode(mutate(blob))


def test_listpack_truncated_at_every_offset_is_refused():
    blob = lp_encode([b"a" * 70, b"12345", b"x"])
    for cut in range(len(blob)):
        with pytest.raises(BlobError):
            lp_decode(blob[:cut])


# -- intset -----------------------------------------------------------------------------------------


def test_intset_matches_redis_bytes():
    assert intset_encode([3, 1, 70000, 2]).hex() == "0400000004000000010000000200000003000000" + "70110100"


@pytest.mark.parametrize(("values", "width"), [([1, -32768, 32767], 2), ([32768], 4), ([-(2**31)], 4),
                                                ([2**31], 8), ([-(2**63), 2**63 - 1], 8)])
def test_intset_width_is_the_smallest_that_fits(values, width):
    blob = intset_encode(values)
    assert struct.unpack_from("<I", blob)[0] == width
    assert intset_decode(blob) == sorted(values)


@given(st.sets(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=50))
def test_intset_round_trips(values):
    assert intset_decode(intset_encode(values)) == sorted(values)


@pytest.mark.parametrize(
    "blob",
    [
        "0200000000000000",  # empty
        "03000000010000000100",  # bad width
        "020000000200000002000100",  # not ascending
        "02000000020000000100020003",  # longer than its count
        "0200000002000000010",  # odd size
    ],
)
def test_intset_corruption_is_refused(blob):
    with pytest.raises(BlobError):
        intset_decode(bytes.fromhex(blob.ljust(len(blob) + len(blob) % 2, "0")))


# -- ziplist (read only) ----------------------------------------------------------------------------


def ziplist(values: list[bytes | int]) -> bytes:
    """A ziplist built the way Redis <= 6.2 built them (test helper: we never write ziplists)."""
    entries = []
    prev = 0
    for v in values:
        prevlen = bytes([prev]) if prev < 254 else b"\xfe" + struct.pack("<I", prev)
        if isinstance(v, int):
            if 0 <= v <= 12:
                body = bytes([0xF1 + v])
            elif -128 <= v <= 127:
                body = b"\xfe" + struct.pack("<b", v)
            elif -32768 <= v <= 32767:
                body = b"\xc0" + struct.pack("<h", v)
            elif -(2**23) <= v < 2**23:
                body = b"\xf0" + (v & 0xFFFFFF).to_bytes(3, "little")
            elif -(2**31) <= v < 2**31:
                body = b"\xd0" + struct.pack("<i", v)
            else:
                body = b"\xe0" + struct.pack("<q", v)
        elif len(v) < 64:
            body = bytes([len(v)]) + v
        elif len(v) < 16384:
            body = struct.pack(">H", 0x4000 | len(v)) + v
        else:
            body = b"\x80" + struct.pack(">I", len(v)) + v
        entries.append(prevlen + body)
        prev = len(prevlen + body)
    data = b"".join(entries)
    tail = 10 + len(data) - len(entries[-1]) if entries else 10
    return struct.pack("<IIH", 11 + len(data), tail, len(values)) + data + b"\xff"


def test_ziplist_decodes_every_encoding():
    values = [b"", b"abc", b"x" * 300, b"y" * 20000, 0, 12, -1, 127, 300, -40000, 2**23 - 1, 2**31 - 1,
              -(2**63)]
    assert ziplist_decode(ziplist(values)) == [v if isinstance(v, bytes) else b"%d" % v for v in values]


def test_empty_ziplist_decodes_to_nothing():
    assert ziplist_decode(ziplist([])) == []


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b[:-1],
        lambda b: b[:4] + struct.pack("<I", 11) + b[8:],  # wrong tail offset
        lambda b: b[:8] + struct.pack("<H", 5) + b[10:],  # wrong count
        lambda b: b[:10] + b"\x05" + b[11:],  # first prevlen is not 0
        lambda b: b[:11] + b"\xc5" + b[12:],  # invalid encoding
    ],
)
def test_ziplist_corruption_is_refused(mutate):
    with pytest.raises(BlobError):
        ziplist_decode(mutate(ziplist([b"a", 7, b"bcd"])))


def test_ziplist_truncated_at_every_offset_is_refused():
    blob = ziplist([b"a" * 300, 5, b"xyz", -70000])
    for cut in range(len(blob)):
        with pytest.raises(BlobError):
            ziplist_decode(blob[:cut])


# -- zipmap (read only) -----------------------------------------------------------------------------


def zipmap(pairs: list[tuple[bytes, bytes]], free: int = 0) -> bytes:
    def length(n: int) -> bytes:
        return bytes([n]) if n < 254 else b"\xfe" + struct.pack("<I", n)

    body = b"".join(length(len(k)) + k + length(len(v)) + bytes([free]) + v + b"\0" * free for k, v in pairs)
    return bytes([min(len(pairs), 254)]) + body + b"\xff"


def test_zipmap_decodes_pairs_and_skips_free_space():
    pairs = [(b"a", b"1"), (b"long", b"v" * 300), (b"", b"")]
    assert zipmap_decode(zipmap(pairs)) == pairs
    assert zipmap_decode(zipmap(pairs, free=3)) == pairs


def test_zipmap_corruption_is_refused():
    blob = zipmap([(b"a", b"1"), (b"b", b"2")])
    for cut in range(len(blob)):
        with pytest.raises(BlobError):
            zipmap_decode(blob[:cut])
    with pytest.raises(BlobError):
        zipmap_decode(b"\x05" + blob[1:])  # count does not match
