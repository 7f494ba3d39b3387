"""RESP without I/O: request bytes in, argv lists out; reply values in, bytes out.

Requests are parsed by hiredis (C) when they are RESP arrays, the form every client library and tool
sends. Lines that do not start with ``*`` are inline commands (telnet, ``redis-cli`` typed by hand) and
are split here the way Redis splits them (quotes, ``\\xHH`` escapes).

Limits are Redis's: at most 1024*1024 arguments, bulk strings up to ``proto-max-bulk-len``, inline
lines up to 64 KiB, and a client's unparsed input up to ``client-query-buffer-limit``. A declared
length is checked against these before any byte of the payload is awaited, and hiredis itself only
grows its buffer as bytes actually arrive, so a lying header costs nothing.
"""

from __future__ import annotations

import hiredis

from emberkv.protocol.replies import (
    NULL_ARRAY,
    Double,
    ErrorReply,
    Map,
    NoReply,
    Push,
    SetReply,
    SimpleString,
    Verbatim,
)

MAX_MULTIBULK = 1024 * 1024
INLINE_MAX = 64 * 1024


class ProtocolError(Exception):
    """Bad request framing: the client gets ``-ERR Protocol error: <message>`` and is disconnected."""


class QueryBufferOverflow(Exception):
    """A client's pending input passed client-query-buffer-limit: it is disconnected without reply."""


class RequestParser:
    """Turns a client's byte stream into argv lists (lists of bytes)."""

    __slots__ = ("reader", "inline", "carried", "max_bulk", "max_query")

    def __init__(self, max_bulk: int = 512 * 1024 * 1024, max_query: int = 1024 * 1024 * 1024) -> None:
        self.reader = hiredis.Reader()
        self.inline = b""  # pending bytes of an unfinished inline line
        self.carried = 0  # bytes of an unfinished RESP command, held by hiredis
        self.max_bulk = max_bulk
        self.max_query = max_query

    def feed(self, data: bytes) -> list[list[bytes]]:
        """All complete commands in data (plus what was pending); keeps the rest for later."""
        reader = self.reader
        if self.inline or (data[:1] != b"*" and not self.carried):
            commands, data = self._feed_inline(data)
            if not data:
                return commands
        else:
            commands = []
        carried = self.carried
        reader.feed(data)
        first = len(commands)
        try:
            item = reader.gets()
            while item is not False:
                if type(item) is list and item:
                    for arg in item:
                        if type(arg) is not bytes:
                            raise ProtocolError(_unexpected_element(arg))
                    commands.append(item)
                elif item is not None and type(item) is not list:
                    raise ProtocolError("expected '*', got '%s'" % _type_char(item))
                if not reader.has_data():
                    break
                item = reader.gets()
        except hiredis.ProtocolError as exc:
            # An inline line right after a RESP command in the same read: hiredis cannot switch
            # forms, so work out where the RESP part ended and go on from there by hand.
            pos = sum(map(_encoded_len, commands[first:])) - carried
            if 0 <= pos < len(data) and data[pos:pos + 1] != b"*":
                self.reader = hiredis.Reader()
                self.carried = 0
                return commands + self.feed(data[pos:])
            raise ProtocolError(_translate(str(exc))) from None
        # Did the read end inside a command? hiredis does not say, so compare the read's tail with
        # the last command's encoding (one comparison per read, not per command) and only when
        # they differ count the bytes exactly.
        if len(commands) > first and data.endswith(_encode_request(commands[-1])):
            self.carried = 0
            return commands
        consumed = sum(map(_encoded_len, commands[first:]))
        partial = carried + len(data) - consumed
        if partial > self.max_query:
            raise QueryBufferOverflow(partial)
        if carried < partial <= len(data):
            self._check_partial(data[len(data) - partial:])
        self.carried = partial
        return commands

    def _check_partial(self, tail: bytes) -> None:
        """Validate the declared lengths of an incomplete command before waiting for its bytes."""
        end = tail.find(b"\r\n")
        if end < 0:
            if len(tail) > INLINE_MAX:
                raise ProtocolError("too big mbulk count string")
            return
        count = _header_int(tail[1:end])
        if count is None or count > MAX_MULTIBULK:
            raise ProtocolError("invalid multibulk length")
        pos = end + 2
        for _ in range(count):
            end = tail.find(b"\r\n", pos)
            if end < 0:
                if len(tail) - pos > INLINE_MAX:
                    raise ProtocolError("too big bulk count string")
                return
            if tail[pos:pos + 1] != b"$":
                raise ProtocolError("expected '$', got '%s'" % tail[pos:pos + 1].decode("latin-1"))
            size = _header_int(tail[pos + 1:end])
            if size is None or size > self.max_bulk:
                raise ProtocolError("invalid bulk length")
            pos = end + 2 + size + 2
            if pos > len(tail):
                return

    def _feed_inline(self, data: bytes) -> tuple[list[list[bytes]], bytes]:
        """Parse inline lines; returns the commands and whatever follows them in RESP form."""
        buf = self.inline + data
        self.inline = b""
        commands = []
        while buf and buf[:1] != b"*":
            newline = buf.find(b"\n")
            if newline < 0:
                if len(buf) > INLINE_MAX:
                    raise ProtocolError("too big inline request")
                self.inline = buf
                return commands, b""
            line = buf[:newline]
            buf = buf[newline + 1:]
            if len(line) > INLINE_MAX:
                raise ProtocolError("too big inline request")
            args = split_args(line.rstrip(b"\r"))
            if args is None:
                raise ProtocolError("unbalanced quotes in request")
            if args:
                commands.append(args)
        return commands, buf


def _encode_request(argv: list[bytes]) -> bytes:
    return b"*%d\r\n" % len(argv) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in argv)


def _encoded_len(argv: list[bytes]) -> int:
    """Length of argv as a RESP array on the wire (only used to recover from mixed input)."""
    return len(b"*%d\r\n" % len(argv)) + sum(len(b"$%d\r\n" % len(a)) + len(a) + 2 for a in argv)


def _header_int(raw: bytes) -> int | None:
    try:
        return int(raw)
    except ValueError:
        return None


def _type_char(item: object) -> str:
    if isinstance(item, int):
        return ":"
    if isinstance(item, list):
        return "*"
    if isinstance(item, hiredis.ReplyError):
        return "-"
    return "$"


def _unexpected_element(arg: object) -> str:
    if arg is None:
        return "invalid bulk length"
    return "expected '$', got '%s'" % _type_char(arg)


def _translate(message: str) -> str:
    lowered = message.lower()
    if "as reply type byte" in lowered:
        got = message.split('"')[1] if '"' in message else "?"
        return "expected '$', got '%s'" % got
    if "multi-bulk" in lowered or "multibulk" in lowered:
        return "invalid multibulk length"
    if "bulk" in lowered:
        return "invalid bulk length"
    return message


_ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}
_HEX = b"0123456789abcdefABCDEF"


def split_args(line: bytes) -> list[bytes] | None:
    """Split an inline command line as redis-cli and Redis do; None for unbalanced quotes."""
    if b'"' not in line and b"'" not in line:
        return line.split()  # no quoting: whitespace separates, as below (and in C)
    args: list[bytes] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in b" \t\n\r\v\f":
            i += 1
        if i >= n:
            return args
        current = bytearray()
        quote = 0  # 0: none, 1: double, 2: single
        while True:
            if quote == 1:
                if i >= n:
                    return None
                c = line[i]
                if c == 92 and i + 3 < n and line[i + 1] == ord("x") and line[i + 2] in _HEX and line[i + 3] in _HEX:
                    current.append(int(line[i + 2:i + 4], 16))
                    i += 3
                elif c == 92 and i + 1 < n:
                    i += 1
                    current.append(_ESCAPES.get(line[i], line[i]))
                elif c == 34:
                    if i + 1 < n and line[i + 1] not in b" \t\n\r\v\f":
                        return None
                    quote = 0
                    i += 1
                    break
                else:
                    current.append(c)
            elif quote == 2:
                if i >= n:
                    return None
                c = line[i]
                if c == 92 and i + 1 < n and line[i + 1] == 39:
                    i += 1
                    current.append(39)
                elif c == 39:
                    if i + 1 < n and line[i + 1] not in b" \t\n\r\v\f":
                        return None
                    quote = 0
                    i += 1
                    break
                else:
                    current.append(c)
            else:
                if i >= n:
                    break
                c = line[i]
                if c in b" \t\n\r\v\f":
                    break
                if c == 34:
                    quote = 1
                elif c == 39:
                    quote = 2
                else:
                    current.append(c)
            i += 1
        args.append(bytes(current))


# -- replies ---------------------------------------------------------------------------------------

def format_double(value: float) -> bytes:
    """A double as Redis 7.0 prints it in replies: ``%.17g``, with inf/-inf spelled out."""
    if value == float("inf"):
        return b"inf"
    if value == float("-inf"):
        return b"-inf"
    return b"%.17g" % value


_BULK_HEADERS = [b"$%d\r\n" % n for n in range(1024)]


def _bulk(v: bytes, out: list) -> None:
    out.append(b"$%d\r\n%s\r\n" % (len(v), v))


def _int(v: int, out: list) -> None:
    out.append(b":%d\r\n" % v)


def _simple(v: bytes, out: list) -> None:
    out.append(b"+%s\r\n" % v)


def _error(v: bytes, out: list) -> None:
    out.append(b"-%s\r\n" % v)


def _make_encoder(resp3: bool):
    """Build the encode(value, out) function for one protocol version."""

    def array(v: list, out: list) -> None:
        out.append(b"*%d\r\n" % len(v))
        try:
            # Most arrays are short bulk strings (LRANGE, MGET, KEYS): one join, headers from a
            # table. Anything else (a status or error reply, an int, None, a nested array, a long
            # string) is left out by the filter or fails fast, and takes the general path below.
            parts = [_BULK_HEADERS[len(x)] + x + b"\r\n" for x in v if type(x) is bytes]
            if len(parts) == len(v):
                out.append(b"".join(parts))
                return
        except IndexError:
            pass
        for item in v:
            table[type(item)](item, out)

    def array3(prefix: bytes):
        def enc(v: list, out: list) -> None:
            out.append(b"%s%d\r\n" % (prefix, len(v)))
            for item in v:
                table[type(item)](item, out)
        return enc

    def map3(v: list, out: list) -> None:
        out.append(b"%%%d\r\n" % (len(v) // 2))
        for item in v:
            table[type(item)](item, out)

    def null(v: object, out: list) -> None:
        out.append(b"_\r\n" if resp3 else b"$-1\r\n")

    def null_array(v: object, out: list) -> None:
        out.append(b"_\r\n" if resp3 else b"*-1\r\n")

    def double(v: float, out: list) -> None:
        text = format_double(v)
        if resp3:
            out.append(b",%s\r\n" % text)
        else:
            _bulk(text, out)

    def verbatim(v: bytes, out: list) -> None:
        if resp3:
            out.append(b"=%d\r\ntxt:%s\r\n" % (len(v) + 4, v))
        else:
            _bulk(v, out)

    def boolean(v: bool, out: list) -> None:
        if resp3:
            out.append(b"#t\r\n" if v else b"#f\r\n")
        else:
            _int(int(v), out)

    def noreply(v: object, out: list) -> None:
        pass

    table: dict = {
        bytes: _bulk, bytearray: _bulk, int: _int, list: array, tuple: array, type(None): null,
        SimpleString: _simple, ErrorReply: _error, float: double, Double: double, Verbatim: verbatim,
        type(NULL_ARRAY): null_array, bool: boolean, NoReply: noreply,
        Map: map3 if resp3 else array, SetReply: array3(b"~") if resp3 else array,
        Push: array3(b">") if resp3 else array,
    }

    def encode(value: object, out: list) -> None:
        try:
            table[type(value)](value, out)
        except KeyError:
            # Subclasses of bytes (RawString) and any other bytes-like value are bulk strings.
            if isinstance(value, bytes):
                _bulk(value, out)
            else:
                raise TypeError(f"no RESP encoding for {type(value).__name__}") from None

    return encode, table


encode_resp2, RESP2_TABLE = _make_encoder(resp3=False)
encode_resp3, RESP3_TABLE = _make_encoder(resp3=True)


def register_bulk_type(cls: type) -> None:
    """Let a bytes subclass defined elsewhere (values.RawString) encode as a bulk string."""
    RESP2_TABLE[cls] = _bulk
    RESP3_TABLE[cls] = _bulk


def encode_error(message: bytes) -> bytes:
    return b"-%s\r\n" % message
