"""Buffered input for the RDB reader: a window over the file, the running CRC-64 and byte offsets.

The file is read in large chunks into ``buf``; ``pos`` is the next unread byte and ``base`` the file
offset of ``buf[0]``. When the window runs dry the consumed prefix is folded into the CRC and dropped.
An item is decoded only once its bytes are in the window (``need``), and a length read off disk never
sizes an allocation: the window grows by reading chunks of at most CHUNK bytes until it holds the
item or the file ends. The reader's fast path reads ``buf``/``pos`` directly.
"""

from __future__ import annotations

from typing import BinaryIO

from emberkv.persistence.rdb.crc64 import crc64
from emberkv.persistence.rdb.errors import BlobError, RdbError
from emberkv.persistence.rdb.lengths import Truncated, decode_length, decode_length_or_special
from emberkv.persistence.rdb.strings import (
    INT,
    RAW,
    decode_binary_double,
    decode_string_header,
    decode_text_double,
    lzf_expand,
)

CHUNK = 1 << 20
# A length takes at most 9 bytes, a string header (c3 + two lengths) at most 19.
MAX_HEADER = 19
EOF_MESSAGE = "Unexpected EOF reading RDB file"


class RdbSource:
    def __init__(self, f: BinaryIO, checksum: bool = True, total_size: int | None = None) -> None:
        self.f = f
        self.buf = b""
        self.pos = 0
        self.base = 0
        self.checksum = checksum
        self.crc = 0
        self.total_size = total_size
        self.at_eof = False

    @property
    def offset(self) -> int:
        """File offset of the next unread byte."""
        return self.base + self.pos

    def error(self, reason: str, offset: int | None = None) -> RdbError:
        return RdbError(reason, self.offset if offset is None else offset)

    def fill(self, n: int) -> bool:
        """Make n bytes available at pos if the file has them; False when it ends first."""
        have = len(self.buf) - self.pos
        if have >= n:
            return True
        if self.at_eof:
            return False
        if self.total_size is not None and self.offset + n > self.total_size:
            # The file is known to be too short: don't read (and hold) the rest of it for nothing.
            return False
        if self.checksum and self.pos:
            self.crc = crc64(memoryview(self.buf)[: self.pos], self.crc)
        self.base += self.pos
        chunks = [self.buf[self.pos :]]
        self.pos = 0
        missing = n - have
        while missing > 0 or len(chunks) == 1:
            chunk = self.f.read(CHUNK)
            if not chunk:
                self.at_eof = True
                break
            chunks.append(chunk)
            missing -= len(chunk)
        self.buf = b"".join(chunks)
        return missing <= 0

    def need(self, n: int) -> None:
        if not self.fill(n):
            raise self.error(EOF_MESSAGE)

    def fill_upto(self, n: int) -> None:
        """Best effort: up to n bytes, fewer at the end of the file (headers shorter than their maximum,
        read-ahead). Unlike fill, a request past the known end still reads what the file has left."""
        if self.total_size is not None:
            n = min(n, self.total_size - self.offset)
        self.fill(n)

    # -- primitives ---------------------------------------------------------------------------

    def read_byte(self) -> int:
        if self.pos >= len(self.buf):
            self.need(1)
        b = self.buf[self.pos]
        self.pos += 1
        return b

    def read_raw(self, n: int) -> bytes:
        self.need(n)
        p = self.pos
        self.pos = p + n
        return self.buf[p : p + n]

    def read_length(self) -> int:
        buf = self.buf
        pos = self.pos
        if pos < len(buf) and buf[pos] < 0x40:  # one-byte length, by far the most common
            self.pos = pos + 1
            return buf[pos]
        return self._read_length()

    def _read_length(self) -> int:
        if len(self.buf) - self.pos < 9:
            self.fill_upto(9)
        try:
            n, self.pos = decode_length(self.buf, self.pos)
        except Truncated:
            raise self.error(EOF_MESSAGE) from None
        except BlobError as e:
            raise self.error(str(e)) from None
        return n

    def read_length_or_special(self) -> tuple[int, bool]:
        if len(self.buf) - self.pos < 9:
            self.fill_upto(9)
        try:
            n, special, self.pos = decode_length_or_special(self.buf, self.pos)
        except Truncated:
            raise self.error(EOF_MESSAGE) from None
        except BlobError as e:
            raise self.error(str(e)) from None
        return n, special

    def read_string(self) -> bytes:
        buf = self.buf
        pos = self.pos
        # Most strings are raw with a one-byte length and already buffered: no header decoding.
        if pos < len(buf) and buf[pos] < 0x40:
            end = pos + 1 + buf[pos]
            if end <= len(buf):
                self.pos = end
                return buf[pos + 1 : end]
        return self._read_string()

    def read_strings(self, n: int) -> list[bytes]:
        """n strings in a row (a set's members, a hash's fields and values): read_string's fast case
        inlined, as this runs for every member of such a collection."""
        out: list[bytes] = []
        append = out.append
        buf = self.buf
        pos = self.pos
        size = len(buf)
        for _ in range(n):
            if pos < size and buf[pos] < 0x40:
                end = pos + 1 + buf[pos]
                if end <= size:
                    append(buf[pos + 1 : end])
                    pos = end
                    continue
            self.pos = pos
            append(self._read_string())  # may refill the window: buf and pos change
            buf = self.buf
            pos = self.pos
            size = len(buf)
        self.pos = pos
        return out

    def _read_string(self) -> bytes:
        if len(self.buf) - self.pos < MAX_HEADER:
            self.fill_upto(MAX_HEADER)
        start = self.pos
        try:
            kind, a, b, p = decode_string_header(self.buf, start)
        except Truncated:
            raise self.error(EOF_MESSAGE) from None
        except BlobError as e:
            raise self.error(str(e)) from None
        if kind == INT:
            self.pos = p
            return b"%d" % a
        self.pos = p
        if len(self.buf) - p < a:
            self.need(a)
            p = self.pos
        data = self.buf[p : p + a]
        self.pos = p + a
        if kind == RAW:
            return data
        try:
            return lzf_expand(data, b)
        except BlobError as e:
            raise self.error(str(e), self.base + self.pos - a) from None

    def read_binary_double(self) -> float:
        self.need(8)
        x, self.pos = decode_binary_double(self.buf, self.pos)
        return x

    def read_text_double(self) -> float:
        self.need(1)
        if self.buf[self.pos] < 253:  # 253..255 are NaN and the infinities, with no text after them
            self.need(1 + self.buf[self.pos])
        start = self.offset
        try:
            x, self.pos = decode_text_double(self.buf, self.pos)
        except BlobError as e:
            raise self.error(str(e), start) from None
        return x

    # -- checksum -----------------------------------------------------------------------------

    def crc_so_far(self) -> int:
        """CRC-64 of every byte of the file before pos."""
        return crc64(memoryview(self.buf)[: self.pos], self.crc)
