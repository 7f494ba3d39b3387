"""File-like wrappers the backup steps chain together: hashing, counting, tee-ing and zstd.

Each step reads or writes a stream once: the received RDB is scanned and compressed in the same pass,
a stored object is hashed, decompressed, hashed again and decoded in one pass, so a backup is never
read twice and never held in memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, BinaryIO

import zstandard

from emberkv.backup.errors import EXIT_CORRUPT, BackupError

READ_SIZE = 1 << 20


class HashingReader:
    """Reads through f, keeping a SHA-256 and a byte count; ``progress(count)`` after each read."""

    def __init__(self, f: Any, progress: Callable[[int], None] | None = None,
                 tee: Callable[[bytes], Any] | None = None) -> None:
        self.f = f
        self.sha256 = hashlib.sha256()
        self.count = 0
        self.progress = progress
        self.tee = tee

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n if n and n > 0 else READ_SIZE)
        if data:
            self.sha256.update(data)
            self.count += len(data)
            if self.tee is not None:
                self.tee(data)
            if self.progress is not None:
                self.progress(self.count)
        return data

    def drain(self) -> None:
        """Read what is left, so the hash and count cover the whole stream."""
        while self.read(READ_SIZE):
            pass

    def hexdigest(self) -> str:
        return self.sha256.hexdigest()


class HashingWriter:
    """Writes through to f, keeping a SHA-256 and a byte count."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.sha256 = hashlib.sha256()
        self.count = 0

    def write(self, data: bytes) -> int:
        self.f.write(data)
        self.sha256.update(data)
        self.count += len(data)
        return len(data)

    def flush(self) -> None:
        self.f.flush()

    def hexdigest(self) -> str:
        return self.sha256.hexdigest()


def zstd_writer(out: Any, level: int, size: int) -> Any:
    """A zstd compressor writing a frame with a checksum and the content size to ``out``."""
    cctx = zstandard.ZstdCompressor(level=level, write_checksum=True, write_content_size=True, threads=-1)
    return cctx.stream_writer(out, size=size, closefd=False)


class ZstdReader:
    """Decompresses a stream; damaged compressed data becomes a BackupError(EXIT_CORRUPT)."""

    def __init__(self, f: Any, what: str) -> None:
        self.reader = zstandard.ZstdDecompressor().stream_reader(f, read_size=READ_SIZE, closefd=False)
        self.what = what

    def read(self, n: int = -1) -> bytes:
        try:
            return self.reader.read(n if n and n > 0 else READ_SIZE)
        except zstandard.ZstdError as exc:
            raise BackupError(f"{self.what}: the compressed data is damaged ({exc})", EXIT_CORRUPT) from None
