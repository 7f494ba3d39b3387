"""RESP codec without I/O: requests fed whole, byte by byte and with trailing data; reply encoding."""

from __future__ import annotations

import pytest

from emberkv.protocol.replies import NULL_ARRAY, OK, Double, ErrorReply, Map, Push, SetReply, Verbatim
from emberkv.protocol.resp import (
    MAX_MULTIBULK,
    ProtocolError,
    QueryBufferOverflow,
    RequestParser,
    encode_resp2,
    encode_resp3,
    split_args,
)

PIPELINE = (
    b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nhello\r\n"
    b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"
    b"*1\r\n$4\r\nPING\r\n"
)
EXPECTED = [[b"SET", b"key", b"hello"], [b"GET", b"key"], [b"PING"]]


def feed_all(parser: RequestParser, chunks) -> list:
    out = []
    for chunk in chunks:
        out += parser.feed(chunk)
    return out


def test_pipeline_fed_whole():
    assert RequestParser().feed(PIPELINE) == EXPECTED


def test_pipeline_fed_byte_by_byte():
    parser = RequestParser()
    assert feed_all(parser, [PIPELINE[i:i + 1] for i in range(len(PIPELINE))]) == EXPECTED


@pytest.mark.parametrize("cut", range(1, len(PIPELINE)))
def test_pipeline_split_at_every_offset(cut):
    parser = RequestParser()
    assert feed_all(parser, [PIPELINE[:cut], PIPELINE[cut:]]) == EXPECTED


def test_trailing_partial_command_is_kept_for_later():
    parser = RequestParser()
    assert parser.feed(PIPELINE + b"*2\r\n$4\r\nECHO\r\n$2\r\nh") == EXPECTED
    assert parser.feed(b"i\r\n") == [[b"ECHO", b"hi"]]


def test_binary_safe_arguments():
    payload = bytes(range(256)) + b"\r\n"
    request = b"*2\r\n$4\r\nECHO\r\n$%d\r\n%s\r\n" % (len(payload), payload)
    assert RequestParser().feed(request) == [[b"ECHO", payload]]


def test_inline_commands_with_quotes_and_escapes():
    parser = RequestParser()
    assert parser.feed(b"SET k \"a b\\x41\\n\" 'c\\'d'\r\nPING\n") == [
        [b"SET", b"k", b"a bA\n", b"c'd"], [b"PING"]]


def test_inline_fed_byte_by_byte():
    data = b"SET k v\r\nGET k\r\n"
    parser = RequestParser()
    assert feed_all(parser, [data[i:i + 1] for i in range(len(data))]) == [[b"SET", b"k", b"v"], [b"GET", b"k"]]


def test_empty_inline_lines_are_ignored():
    assert RequestParser().feed(b"\r\n\r\nPING\r\n") == [[b"PING"]]


def test_inline_after_resp_in_the_same_read():
    assert RequestParser().feed(b"*1\r\n$4\r\nPING\r\nPING\r\n") == [[b"PING"], [b"PING"]]


def test_resp_after_inline_in_the_same_read():
    assert RequestParser().feed(b"PING\r\n*1\r\n$4\r\nPING\r\n") == [[b"PING"], [b"PING"]]


def test_empty_and_null_multibulk_are_ignored():
    assert RequestParser().feed(b"*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n") == [[b"PING"]]


@pytest.mark.parametrize(
    "request_bytes, message",
    [
        (b"*1\r\n:5\r\n", "expected '$', got ':'"),
        (b"*1\r\n$-1\r\n", "invalid bulk length"),
        (b"*1\r\nxx\r\n", "expected '$', got 'x'"),
        (b"*%d\r\n" % (MAX_MULTIBULK + 1), "invalid multibulk length"),
        (b"*abc\r\n", "invalid multibulk length"),
        (b"SET k \"unterminated\r\n", "unbalanced quotes in request"),
        (b"SET k \"a\"b\r\n", "unbalanced quotes in request"),
    ],
)
def test_protocol_errors(request_bytes, message):
    with pytest.raises(ProtocolError) as info:
        RequestParser().feed(request_bytes)
    assert str(info.value) == message


def test_bulk_longer_than_proto_max_bulk_len_is_refused_before_its_bytes_arrive():
    parser = RequestParser(max_bulk=1024)
    with pytest.raises(ProtocolError, match="invalid bulk length"):
        parser.feed(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1025\r\n")


def test_declared_huge_bulk_does_not_allocate_it():
    # A 511 MiB declared bulk (allowed by default) costs nothing until its bytes arrive.
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    parser = RequestParser()
    assert parser.feed(b"*2\r\n$4\r\nECHO\r\n$%d\r\nabc" % (511 * 1024 * 1024)) == []
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50 * 1024  # KiB


def test_query_buffer_limit_disconnects():
    parser = RequestParser(max_query=1000)
    with pytest.raises(QueryBufferOverflow):
        parser.feed(b"*2\r\n$4\r\nECHO\r\n$5000\r\n" + b"x" * 1500)


def test_too_big_inline_request():
    with pytest.raises(ProtocolError, match="too big inline request"):
        RequestParser().feed(b"x" * (64 * 1024 + 1))


def test_split_args_matches_redis_cli_rules():
    assert split_args(b"  a   b ") == [b"a", b"b"]
    assert split_args(b'"\\t\\r\\\\"') == [b"\t\r\\"]
    assert split_args(b"'unterminated") is None
    assert split_args(b"") == []


def encode(value, resp3=False) -> bytes:
    out: list[bytes] = []
    (encode_resp3 if resp3 else encode_resp2)(value, out)
    return b"".join(out)


def test_encode_basic_types_resp2():
    assert encode(b"hi") == b"$2\r\nhi\r\n"
    assert encode(42) == b":42\r\n"
    assert encode(None) == b"$-1\r\n"
    assert encode(OK) == b"+OK\r\n"
    assert encode([b"a", 1, None]) == b"*3\r\n$1\r\na\r\n:1\r\n$-1\r\n"
    assert encode(NULL_ARRAY) == b"*-1\r\n"
    assert encode(ErrorReply(b"ERR x")) == b"-ERR x\r\n"


def test_encode_resp3_types_and_their_resp2_fallbacks():
    assert encode(Map([b"a", 1]), resp3=True) == b"%1\r\n$1\r\na\r\n:1\r\n"
    assert encode(Map([b"a", 1])) == b"*2\r\n$1\r\na\r\n:1\r\n"
    assert encode(SetReply([b"x"]), resp3=True) == b"~1\r\n$1\r\nx\r\n"
    assert encode(Double(1.1), resp3=True) == b",1.1000000000000001\r\n"
    assert encode(Double(1.1)) == b"$18\r\n1.1000000000000001\r\n"
    assert encode(Double(float("inf")), resp3=True) == b",inf\r\n"
    assert encode(None, resp3=True) == b"_\r\n"
    assert encode(NULL_ARRAY, resp3=True) == b"_\r\n"
    assert encode(Verbatim(b"abc"), resp3=True) == b"=7\r\ntxt:abc\r\n"
    assert encode(Push([b"message", b"c", b"m"]), resp3=True).startswith(b">3\r\n")


def test_status_and_error_elements_inside_arrays_keep_their_type():
    assert encode([OK, ErrorReply(b"ERR x"), b"b"]) == b"*3\r\n+OK\r\n-ERR x\r\n$1\r\nb\r\n"
    assert encode([b"x" * 2000]) == b"*1\r\n$2000\r\n" + b"x" * 2000 + b"\r\n"
