"""The AOF's byte format without I/O: commands as RESP arrays of bulk strings, ``#`` annotation lines.

Writing: ``encode_command(argv)`` gives ``*<argc>\\r\\n`` then ``$<len>\\r\\n<bytes>\\r\\n`` per argument
(spec §3.4); ``#TS:<unix seconds>\\r\\n`` annotations are written by the log when enabled.

Reading: ``AofReader`` is fed the file's bytes and yields the commands in batches, each with the file
offset where it starts, so the loader always knows the offset of the end of the last complete command
(where a torn tail is cut off). Well-formed input is parsed by hiredis (C), in batches whose size is known
from what was parsed (see ``_hiredis_batch``). Whatever else is found is judged by ``parse_one``, which
reads one command
with the rules of Redis's own loader: a line starting with ``*`` gives the argument count (parsed like
C's atoi), each argument is a ``$`` line with its length then that many bytes and two more, which are not
checked. So the files Redis loads, we load; and what it calls a bad format, we do too. Annotations
(``#`` lines between commands) are skipped; a line longer than Redis's 1024-byte buffer is a format error.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain

import hiredis

ANNOTATION_MAX = 1024
FEED_SLICE = 16 * 1024
LINE_MAX = 1024
CR = b"\r"
MULTI = b"*1\r\n$5\r\nMULTI\r\n"
EXEC = b"*1\r\n$4\r\nEXEC\r\n"
_ARG_HEADERS = [b"$%d\r\n" % n for n in range(1024)]
_ARG_SIZE = [len(b"$%d\r\n\r\n" % n) for n in range(1 << 16)]  # per-argument overhead by length
_CMD_SIZE = [len(b"*%d\r\n" % n) for n in range(1 << 12)]
_CMD_SIZE_SMALL = bytes(_CMD_SIZE[:256])
# An argument of n < 256 bytes takes n + 6 bytes, plus one for each digit of n after the first.
_EXTRA_DIGITS = bytes(len(b"%d" % n) - 1 for n in range(256))
_STARTS = frozenset(b"*#")
_SELECTS = [b"*2\r\n$6\r\nSELECT\r\n$%d\r\n%d\r\n" % (len(b"%d" % i), i) for i in range(256)]


def encode_command(argv: list[bytes]) -> bytes:
    """One command in the AOF's RESP form."""
    headers = _ARG_HEADERS
    parts = [b"*%d\r\n" % len(argv)]
    for arg in argv:
        n = len(arg)
        parts.append(headers[n] if n < 1024 else b"$%d\r\n" % n)
        parts.append(arg)
        parts.append(b"\r\n")
    return b"".join(parts)


def encode_select(dbid: int) -> bytes:
    return _SELECTS[dbid] if dbid < 256 else encode_command([b"SELECT", b"%d" % dbid])


def timestamp_annotation(unix_seconds: int) -> bytes:
    return b"#TS:%d\r\n" % unix_seconds


class AofFormatError(Exception):
    """Bytes that are not an AOF command where one must start; ``offset`` is relative to the file."""

    def __init__(self, reason: str, offset: int) -> None:
        super().__init__(f"{reason} at offset {offset}")
        self.reason = reason
        self.offset = offset


def _measure(items: list) -> tuple[int, int]:
    """(how many leading items are commands: non-empty arrays of bulk strings, the bytes those take
    in canonical form), added up at C speed in the common case where all of them are."""
    if set(map(type, items)) == {list}:
        flat = list(chain.from_iterable(items))
        try:
            # Commands of fewer than 256 arguments, each shorter than 256 bytes: their sizes fit in
            # bytes objects, whose translate() and count() run in C without making an int per item.
            counts = bytes(map(len, items))
            lens = bytes(map(len, flat))
            payload = len(b"".join(flat))  # TypeError unless every argument is a string
        except (ValueError, TypeError):
            pass
        else:
            if 0 not in counts:
                digits = lens.translate(_EXTRA_DIGITS)
                return len(items), (sum(counts.translate(_CMD_SIZE_SMALL)) + payload + 6 * len(flat)
                                    + digits.count(1) + 2 * digits.count(2))
        counts = list(map(len, items))
        if 0 not in counts and set(map(type, flat)) == {bytes}:
            lens = list(map(len, flat))
            try:
                return len(items), (sum(map(_CMD_SIZE.__getitem__, counts)) + sum(lens)
                                    + sum(map(_ARG_SIZE.__getitem__, lens)))
            except IndexError:  # an argument of 64 KiB or more, or thousands of arguments
                return len(items), sum(map(len, map(encode_command, items)))
    for i, item in enumerate(items):
        if type(item) is not list or not item or any(type(a) is not bytes for a in item):
            return i, sum(map(len, map(encode_command, items[:i])))
    return len(items), sum(map(len, map(encode_command, items)))


def _atoi(text: bytes) -> int:
    """C's atoi/strtol in base 10: leading blanks, a sign, digits up to the first non-digit."""
    s = text.lstrip(b" \t\n\v\f\r")
    sign = -1 if s[:1] == b"-" else 1
    if s[:1] in (b"-", b"+"):
        s = s[1:]
    end = 0
    while end < len(s) and 48 <= s[end] <= 57:
        end += 1
    return sign * int(s[:end]) if end else 0


def parse_one(buf: bytes, pos: int, base: int = 0) -> tuple[list[bytes], int] | None:
    """One command at buf[pos:] read with Redis's loader rules: (argv, end position), or None when buf
    ends first. Raises AofFormatError (offsets are ``base`` + position in buf)."""
    n = len(buf)
    if buf[pos] != 42:  # '*'
        raise AofFormatError(f"expected '*', got {_show(buf[pos:pos + 1])}", base + pos)
    nl = buf.find(b"\n", pos, pos + LINE_MAX)
    if nl < 0:
        if n - pos >= LINE_MAX:
            raise AofFormatError("argument count line too long", base + pos)
        return None
    argc = _atoi(buf[pos + 1:nl])
    if argc < 1:
        raise AofFormatError(f"bad argument count {_show(buf[pos:nl].rstrip(CR))}", base + pos)
    p = nl + 1
    argv = []
    for _ in range(argc):
        if p >= n:
            return None
        if buf[p] != 36:  # '$'
            raise AofFormatError(f"expected '$', got {_show(buf[p:p + 1])}", base + p)
        nl = buf.find(b"\n", p, p + LINE_MAX)
        if nl < 0:
            if n - p >= LINE_MAX:
                raise AofFormatError("argument length line too long", base + p)
            return None
        length = _atoi(buf[p + 1:nl])
        if length < 0:
            raise AofFormatError(f"bad argument length {_show(buf[p:nl].rstrip(CR))}", base + p)
        start = nl + 1
        p = start + length + 2
        if p > n:
            return None
        argv.append(buf[start:start + length])
    return argv, p


def _show(raw: bytes) -> str:
    return repr(raw.decode("latin-1")) if raw else "end of file"


class AofReader:
    """Feed it the bytes of one AOF file (after any RDB preamble); it yields the commands.

    ``offset`` is the file offset of the end of the last complete command or annotation handed out;
    ``pending`` the bytes after it that do not make a complete command yet."""

    def __init__(self, offset: int = 0) -> None:
        self.offset = offset
        self.pending = b""

    def feed(self, data: bytes) -> None:
        self.pending = self.pending + data if self.pending else data

    def batches(self) -> Iterator[tuple[int, list[list[bytes]]]]:
        """(file offset, commands) for every complete command fed so far, in order."""
        buf = self.pending
        n = len(buf)
        pos = 0
        try:
            while pos < n:
                first = buf[pos]
                if first == 35:  # '#': an annotation line
                    nl = buf.find(b"\n", pos, pos + ANNOTATION_MAX)
                    if nl < 0:
                        if n - pos >= ANNOTATION_MAX:
                            raise AofFormatError("annotation line too long", self.offset + pos)
                        break
                    pos = nl + 1
                    continue
                if first != 42:  # not '*': hiredis might take another RESP type for a command
                    parse_one(buf, pos, self.offset)
                items, size, stopped = _hiredis_batch(buf, pos)
                if items:
                    yield self.offset + pos, items
                    pos += size
                if pos < n and buf[pos] == 35:
                    continue
                if not stopped:
                    break  # what is left is an unfinished command
                one = parse_one(buf, pos, self.offset)
                if one is None:
                    break
                yield self.offset + pos, [one[0]]
                pos = one[1]
        finally:
            self.pending = buf[pos:]
            self.offset += pos


def _hiredis_batch(buf: bytes, pos: int) -> tuple[list[list[bytes]], int, bool]:
    """The commands hiredis finds from pos on that are in canonical form, the bytes they take, and
    whether something else follows (which parse_one must judge) rather than an unfinished command.

    hiredis takes only canonical headers and, like Redis, skips the two bytes after a bulk string
    without looking at them, so a batch of arrays of bulk strings takes exactly the bytes ``_measure`` adds up.
    It also takes a few RESP3 forms (``+``, ``(``, ``=`` elements) that are one byte or more shorter
    or longer: then the computed end does not fall where a command or an annotation starts, and the
    batch is checked by encoding it again, command by command, and keeping only what matches."""
    reader = hiredis.Reader()
    items: list = []
    stopped = False
    n = len(buf)
    try:
        gets = reader.gets
        append = items.append
        # Fed a slice at a time: hiredis moves its unread bytes down every 1 KB it consumes, so one
        # big feed costs time in proportion to its size for every KB.
        for at in range(pos, n, FEED_SLICE):
            reader.feed(buf, at, min(FEED_SLICE, n - at))
            while (item := gets()) is not False:
                append(item)
    except hiredis.ProtocolError:
        stopped = True
    valid, size = _measure(items)
    if valid < len(items):
        del items[valid:]
        stopped = True
    end = pos + size
    if not stopped and (end == len(buf) or (end < len(buf) and buf[end] in _STARTS)):
        return items, size, False
    size = 0
    for i, item in enumerate(items):
        one = encode_command(item)
        if not buf.startswith(one, pos + size):
            return items[:i], size, True
        size += len(one)
    return items, size, stopped
