"""The RDB codec's batch paths agree with the one-element definitions they stand in for: what a whole
collection encodes to (listpack bodies, RDB strings, intset members, quicklist nodes) and decodes from
(scores, runs of strings, collection records read in place) is what the element-at-a-time code gives,
byte for byte, error for error."""

from __future__ import annotations

import io
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emberkv.keyspace.db import Keyspace
from emberkv.keyspace.digest import dataset_digest
from emberkv.keyspace.values import HashValue, ListValue, SetValue, ZSetValue
from emberkv.persistence.rdb import EncodingLimits, LoadStats, RdbReader
from emberkv.persistence.rdb import constants as C
from emberkv.persistence.rdb.errors import BlobError, RdbError
from emberkv.persistence.rdb.lengths import decode_length, encode_length
from emberkv.persistence.rdb.limits import DEFAULT_LIMITS
from emberkv.persistence.rdb.listpack import (
    COUNT_UNKNOWN,
    EMPTY_SIZE,
    _short_strings,
    _walk,
    lp_body,
    lp_decode,
    lp_encode,
    lp_entry,
    lp_pairs_body,
    lp_scored_body,
    lp_wrap,
)
from emberkv.persistence.rdb.objects import rdb_save_list
from emberkv.persistence.rdb.source import RdbSource
from emberkv.persistence.rdb.strings import (
    canonical_int,
    canonical_ints,
    decode_string,
    encode_string,
    encode_strings,
    parse_double,
    parse_doubles,
)
from emberkv.persistence.rdb.writer import rdb_save_keyspace

# Strings that sit on the edges of the integer and length rules.
EDGE_STRINGS = [b"", b"0", b"-0", b"01", b"+1", b" 1", b"1 ", b"1 2", b"\t3", b"1_0", b"-", b"--1", b"1-2", b"12.5", b"1e3",
                b"127", b"128", b"-4096", b"4095", b"32767", b"-32769", b"8388608", b"2147483648",
                b"9223372036854775807", b"-9223372036854775808", b"9223372036854775808",
                b"99999999999999999999", b"a" * 20, b"a" * 21, b"a" * 63, b"a" * 64, b"x" * 5000]
strings = st.one_of(
    st.binary(max_size=80),
    st.sampled_from(EDGE_STRINGS),
    st.integers(-(2**64), 2**64).map(lambda n: b"%d" % n),
)


def scored_reference(score: float) -> bytes:
    """A zset score's listpack element, spelled out: an integer when integral within +-2^62."""
    if -(2.0**62) <= score <= 2.0**62 and score == int(score):
        return lp_entry(int(score))
    return lp_entry(b"%.17g" % score)


# -- saving -----------------------------------------------------------------------------------------


@given(st.lists(strings, max_size=40))
def test_lp_body_is_every_lp_entry(values):
    assert lp_body(values) == b"".join(map(lp_entry, values))


@given(st.lists(st.tuples(strings, strings), max_size=20))
def test_lp_pairs_body_is_every_lp_entry_of_the_flattened_pairs(pairs):
    assert lp_pairs_body(pairs) == b"".join(lp_entry(a) + lp_entry(b) for a, b in pairs)


scores = st.one_of(
    st.floats(allow_nan=False),
    st.integers(-(2**70), 2**70),
    st.sampled_from([0.0, -0.0, 1.0, -7.0, 0.5, 2.0**62, -(2.0**62), 2.0**62 + 2048, 1e17, 1e300,
                     math.inf, -math.inf, 1 / 3]),
)


@given(st.lists(st.tuples(scores, strings), max_size=20))
def test_lp_scored_body_stores_each_score_as_redis_does(ranked):
    expected = b"".join(lp_entry(member) + scored_reference(score) for score, member in ranked)
    assert lp_scored_body(ranked) == expected


fractional_scores = st.one_of(
    st.integers(-(2**40), 2**40).map(lambda i: i + 0.5),
    st.floats(min_value=0.001, max_value=0.999),
    st.sampled_from([math.inf, -math.inf, 1e-300, -2.5e-5, 1 / 3, 1.0000000000000002]),
)


@given(st.lists(st.tuples(fractional_scores, strings), max_size=20))
def test_lp_scored_body_of_fractional_scores_only(ranked):
    expected = b"".join(lp_entry(member) + scored_reference(score) for score, member in ranked)
    assert lp_scored_body(ranked) == expected


@given(st.lists(strings, max_size=30), st.booleans())
def test_encode_strings_is_encode_string_of_each(values, compress):
    assert b"".join(encode_strings(values, compress)) == b"".join(encode_string(v, compress) for v in values)


@given(st.lists(strings, max_size=30))
def test_canonical_ints_is_canonical_int_of_each_or_none(values):
    each = [canonical_int(v) for v in values]
    assert canonical_ints(values) == (None if None in each else each)


@pytest.mark.parametrize("text", EDGE_STRINGS)
def test_canonical_ints_refuses_a_set_with_one_non_canonical_member(text):
    members = [b"1", b"2", text]
    assert (canonical_ints(members) is None) == (canonical_int(text) is None)


def quicklist_reference(value: list[bytes], limits: EncodingLimits) -> bytes:
    """Quicklist nodes cut element by element, as RPUSH cuts them (packed nodes only)."""
    fill = max(-5, min(limits.list_max_listpack_size, 32767))
    byte_limit, count_limit = (C.QUICKLIST_BYTE_LIMITS[fill], 1 << 62) if fill < 0 else \
        (C.QUICKLIST_SAFETY_LIMIT, fill)
    nodes: list[list[bytes]] = []
    size = 0
    for element in value:
        entry = lp_entry(element)
        if not nodes or not (size + len(element) + C.QUICKLIST_SIZE_ESTIMATE_OVERHEAD <= byte_limit
                             and len(nodes[-1]) < count_limit):
            nodes.append([])
            size = EMPTY_SIZE
        nodes[-1].append(entry)
        size += len(entry)
    return encode_length(len(nodes)) + b"".join(
        encode_length(C.QUICKLIST_NODE_PACKED) + encode_string(lp_wrap(b"".join(n), len(n))) for n in nodes)


@given(st.lists(st.one_of(st.binary(min_size=50, max_size=400), st.sampled_from(EDGE_STRINGS[:-1])),
                min_size=1, max_size=60),
       st.sampled_from([-5, -2, -1, 1, 7, 128]))
def test_list_nodes_are_cut_like_rpush_around_the_node_size(elements, fill):
    limits = EncodingLimits(list_max_listpack_size=fill)
    assert rdb_save_list(ListValue(elements), limits, True) == quicklist_reference(elements, limits)


def test_list_just_under_and_just_over_one_node():
    for n in range(290, 320):
        elements = [b"element-%06d-xxxxxxxxxx" % i for i in range(n)]
        assert rdb_save_list(ListValue(elements), DEFAULT_LIMITS, True) == \
            quicklist_reference(elements, DEFAULT_LIMITS)


# -- loading ----------------------------------------------------------------------------------------


@given(st.lists(st.one_of(st.floats(allow_nan=False), st.integers(-(2**60), 2**60)), max_size=20))
def test_parse_doubles_reads_what_the_writer_writes(values):
    texts = [b"%.17g" % v for v in values]
    assert parse_doubles(texts) == [parse_double(t) for t in texts]


@pytest.mark.parametrize("bad", [b"", b" 1", b"1 ", b"1_0", b"\t2", b"abc", b"1.5.5", b"\x0b1"])
def test_parse_doubles_is_as_strict_as_parse_double(bad):
    texts = [b"1.5", b"2", bad, b"nonsense"]
    try:
        expected = [parse_double(t) for t in texts]
    except BlobError as e:
        with pytest.raises(BlobError, match=str(e).replace("\\", "\\\\").replace("'", ".")):
            parse_doubles(texts)
    else:
        assert parse_doubles(texts) == expected


class Trickle(io.RawIOBase):
    """A file that hands out at most `step` bytes per read: the reader's window refills mid-item."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.pos, self.step = data, 0, step

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        chunk = self.data[self.pos : self.pos + min(self.step, n if n >= 0 else self.step)]
        self.pos += len(chunk)
        return chunk


@given(st.lists(strings, max_size=20), st.integers(1, 40))
def test_read_strings_is_read_string_of_each_whatever_the_window(values, step):
    data = b"".join(encode_string(v) for v in values) + b"\xff"
    src = RdbSource(Trickle(data, step), checksum=False)
    assert src.read_strings(len(values)) == values
    assert src.read_byte() == 0xFF


def test_read_strings_past_the_end_is_an_eof_error():
    src = RdbSource(io.BytesIO(encode_string(b"a") + b"\x05ab"), checksum=False)
    with pytest.raises(RdbError, match="Unexpected EOF"):
        src.read_strings(2)


@pytest.mark.parametrize("n", [0, 63, 64, 16383, 16384, 2**32, 2**40])
def test_decode_length_fast_forms_agree_with_the_encoder(n):
    encoded = encode_length(n)
    assert decode_length(encoded + b"\x00", 0) == (n, len(encoded))
    assert decode_length(b"\x07" + encoded, 1) == (n, 1 + len(encoded))


def mixed_keyspace() -> Keyspace:
    ks = Keyspace()
    db = ks.dbs[0]
    for i in range(60):
        kind = i % 6
        key = b"k:%d" % i
        if kind == 0:
            db.data[key] = ListValue(b"item-%d" % j for j in range(i + 1))
        elif kind == 1:
            db.data[key] = HashValue({b"f%d" % j: b"%d" % (j * 1000) for j in range(i % 9 + 1)})
        elif kind == 2:
            db.data[key] = SetValue(b"%d" % (j * 7) for j in range(i + 1))
        elif kind == 3:
            db.data[key] = SetValue(b"m-%d" % j for j in range(i + 1))
        elif kind == 4:
            z = ZSetValue()
            for j in range(i % 7 + 1):
                z.add(b"z%d" % j, j / 3 if i % 12 else float(j))
            db.data[key] = z
        else:
            db.data[key] = b"v" * i
        if i % 4 == 0:
            db.expires[key] = 4102444800000 + i
    return ks


@pytest.mark.parametrize("slice_bytes", [None, 1, 50, 4096])
def test_collection_records_with_ttls_load_in_place_in_any_slice(slice_bytes):
    ks = mixed_keyspace()
    f = io.BytesIO()
    rdb_save_keyspace(f, ks)
    loaded = Keyspace()
    stats = LoadStats()
    reader = RdbReader(io.BytesIO(f.getvalue()))
    while not reader.load_into(loaded, 0, stats, max_bytes=slice_bytes):
        pass
    assert stats.keys_loaded == 60
    assert loaded.dbs[0].expires == ks.dbs[0].expires
    assert dataset_digest(loaded) == dataset_digest(ks)


def test_a_collection_record_read_in_place_is_the_readers_current_key():
    ks = Keyspace()
    ks.dbs[0].data[b"h"] = HashValue({b"a": b"1"})
    f = io.BytesIO()
    rdb_save_keyspace(f, ks)
    seen = []

    class Data(dict):
        def __setitem__(self, key, value):
            seen.append((key is reader.current_key, reader.current_type))
            super().__setitem__(key, value)

    loaded = Keyspace()
    loaded.dbs[0].data = Data()
    reader = RdbReader(io.BytesIO(f.getvalue()))
    reader.load_into(loaded, 0, LoadStats())
    assert seen == [(True, C.TYPE_HASH_LISTPACK)]


def test_decode_string_still_reads_every_form():
    for value in EDGE_STRINGS:
        encoded = encode_string(value)
        assert decode_string(encoded + b"tail", 0) == (value, len(encoded))


def test_listpack_of_short_strings_cut_anywhere_is_refused():
    blob = lp_wrap(lp_body([b"ab", b"cde", b""]), 3)
    for cut in range(EMPTY_SIZE, len(blob) - 1):
        broken = blob[:cut] + blob[cut + 1 :]
        broken = len(broken).to_bytes(4, "little") + broken[4:]
        with pytest.raises(BlobError):
            lp_decode(broken)


short_text = st.lists(st.integers(0x20, 0x7E), max_size=30).map(bytes)  # printable ASCII: no framing byte
framing_bytes = st.sampled_from([0x00, 0x01, 0x02, 0x1E, 0x1F, 0x20, 0x41, 0x7F, 0x80, 0x81, 0x9E, 0x9F, 0xBF,
                                 0xC0, 0xF0, 0xFF])


@given(st.lists(st.one_of(short_text, st.just(b"")), min_size=8, max_size=40))
def test_listpack_of_short_text_is_cut_in_one_go(values):
    blob = lp_encode(values)
    if all(canonical_int(v) is None for v in values):
        assert _short_strings(blob) == values
    assert lp_decode(blob) == values


@given(st.lists(st.one_of(short_text, strings), min_size=1, max_size=30),
       st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(["set", "insert", "delete"]), framing_bytes),
                min_size=1, max_size=3))
def test_cutting_at_framing_bytes_never_reads_what_the_walk_would_not(values, mutations):
    body = bytearray(lp_encode(values)[6:-1])
    for where, how, byte in mutations:
        at = where % (len(body) + 1)
        if how == "insert":
            body.insert(at, byte)
        elif at < len(body):
            if how == "set":
                body[at] = byte
            else:
                del body[at]
    blob = lp_wrap(bytes(body), COUNT_UNKNOWN)
    fast = _short_strings(blob)
    if fast is not None:
        assert _walk(blob, COUNT_UNKNOWN) == fast
