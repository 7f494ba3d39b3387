"""The AOF byte format: commands encoded as Redis writes them, and read back whole, byte by byte and
with trailing data; annotations skipped; what is not a command refused with its offset."""

from __future__ import annotations

import random

import pytest

from emberkv.persistence.aof.format import AofFormatError, AofReader, encode_command, encode_select, parse_one

COMMANDS = [
    [b"SELECT", b"0"],
    [b"set", b"k", b"v"],
    [b"SET", b"b", b"2", b"PXAT", b"1795211431195"],
    [b"RPUSH", b"l", b"", b"x" * 70000, b"\r\n*3\r\n$3\r\n"],
    [b"MULTI"],
    [b"INCR", b"#not-an-annotation"],
    [b"EXEC"],
]
STREAM = b"".join(encode_command(c) for c in COMMANDS)


def read_all(chunks: list[bytes], offset: int = 0) -> tuple[list[tuple[int, list[bytes]]], AofReader]:
    reader = AofReader(offset)
    out = []
    for chunk in chunks:
        reader.feed(chunk)
        for start, items in reader.batches():
            for argv in items:
                out.append((start, argv))
                start += len(encode_command(argv))
    return out, reader


def test_encode_command_is_resp_multibulk():
    assert encode_command([b"SET", b"k", b""]) == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n"
    assert encode_select(3) == b"*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n"
    assert encode_select(1234) == b"*2\r\n$6\r\nSELECT\r\n$4\r\n1234\r\n"


def test_reader_gives_commands_with_their_offsets_when_fed_whole():
    got, reader = read_all([STREAM])
    assert [argv for _, argv in got] == COMMANDS
    offsets = [0]
    for c in COMMANDS[:-1]:
        offsets.append(offsets[-1] + len(encode_command(c)))
    assert [start for start, _ in got] == offsets
    assert reader.offset == len(STREAM) and reader.pending == b""


def test_reader_fed_byte_by_byte_gives_the_same_commands():
    small = b"".join(encode_command(c) for c in COMMANDS if len(b"".join(c)) < 100)
    got, reader = read_all([small[i:i + 1] for i in range(len(small))])
    assert [argv for _, argv in got] == [c for c in COMMANDS if len(b"".join(c)) < 100]
    assert reader.offset == len(small)


@pytest.mark.parametrize("cut", [1, 5, 17, 40, 1000, 50000])
def test_reader_keeps_an_unfinished_command_pending(cut):
    tail = encode_command([b"SET", b"key", b"x" * 60000])[:cut]
    got, reader = read_all([STREAM + tail])
    assert len(got) == len(COMMANDS)
    assert reader.offset == len(STREAM)
    assert reader.pending == tail


def test_annotations_between_commands_are_skipped():
    data = b"#TS:1795211336\r\n" + encode_command([b"SET", b"a", b"1"]) + b"#TS:2\r\n#f\r\n#t\r\n" + \
        encode_command([b"SET", b"b", b"2"])
    got, reader = read_all([data])
    assert [argv for _, argv in got] == [[b"SET", b"a", b"1"], [b"SET", b"b", b"2"]]
    assert got[1][0] == data.index(b"*3", 20)
    assert reader.offset == len(data)


def test_a_partial_annotation_at_the_end_stays_pending():
    _, reader = read_all([encode_command([b"PING"]) + b"#TS:17"])
    assert reader.pending == b"#TS:17"


def test_redis_lenient_headers_are_read_like_redis_reads_them():
    # Redis's loader parses counts with atoi and does not look at the two bytes after an argument.
    data = b"*3 \r\n$3\r\nSET\r\n$01\r\nk\r\n$1\r\nvXY" + encode_command([b"GET", b"k"])
    got, _ = read_all([data])
    assert [argv for _, argv in got] == [[b"SET", b"k", b"v"], [b"GET", b"k"]]


@pytest.mark.parametrize("data, offset, reason", [
    (b"xyz\r\n", 0, "expected '*'"),
    (encode_command([b"PING"]) + b"\0\0\0", 14, "expected '*'"),
    (b"*0\r\n", 0, "bad argument count"),
    (b"*-1\r\n", 0, "bad argument count"),
    (b"*1\r\n$-1\r\n", 4, "bad argument length"),
    (b"*2\r\n$3\r\nGET\r\n(12\r\n", 13, "expected '$'"),
    (b"*1\r\n+PING\r\n", 4, "expected '$'"),
    (b"+OK\r\n", 0, "expected '*'"),
    (b"*1\r\n%1\r\n$1\r\na\r\n$1\r\nb\r\n", 4, "expected '$'"),
])
def test_what_is_not_a_command_is_refused_with_its_offset(data, offset, reason):
    with pytest.raises(AofFormatError) as err:
        read_all([data])
    assert err.value.offset == offset
    assert reason in err.value.reason


def test_resp3_forms_hiredis_would_accept_are_not_taken_as_commands():
    for data in (b">2\r\n$3\r\nSET\r\n$1\r\na\r\n", b"~1\r\n$4\r\nPING\r\n", b"*1\r\n=5\r\ntxt:a\r\n"):
        with pytest.raises(AofFormatError):
            read_all([data])


def test_parse_one_says_when_more_bytes_are_needed():
    one = encode_command([b"SET", b"key", b"value"])
    for cut in range(1, len(one)):
        assert parse_one(one[:cut], 0) is None
    assert parse_one(one, 0) == ([b"SET", b"key", b"value"], len(one))


def test_random_streams_round_trip_in_random_chunks():
    rng = random.Random(7)
    commands = [[rng.randbytes(rng.randrange(1, 12)) for _ in range(rng.randrange(1, 6))] for _ in range(300)]
    data = b"".join(encode_command(c) for c in commands)
    cuts = sorted(rng.sample(range(1, len(data)), 40))
    chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    got, reader = read_all(chunks, offset=100)
    assert [argv for _, argv in got] == commands
    assert reader.offset == 100 + len(data)
