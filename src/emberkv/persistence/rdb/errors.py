"""Errors of the RDB codec. Every problem found in a file is an ``RdbError`` carrying the byte offset
where it was found, so a log line or check-rdb can point at it."""

from __future__ import annotations


class RdbError(Exception):
    """A file that cannot be loaded: corrupt, truncated, a checksum mismatch, or data we cannot hold."""

    def __init__(self, reason: str, offset: int) -> None:
        super().__init__(f"{reason} at offset {offset}")
        self.reason = reason
        self.offset = offset


class UnsupportedTypeError(RdbError):
    """A well-formed value of a type emberkv does not hold yet (streams); names the key and the type."""

    def __init__(self, key: bytes, type_name: str, rdb_type: int, offset: int) -> None:
        super().__init__(
            f"key {key!r} is a {type_name} (RDB type {rdb_type}), which emberkv cannot load yet", offset
        )
        self.key = key
        self.type_name = type_name
        self.rdb_type = rdb_type


class ModuleError(RdbError):
    """Module data (a module value or module AUX data): no module is loaded, so it cannot be read."""

    def __init__(self, reason: str, module: str, offset: int) -> None:
        super().__init__(reason, offset)
        self.module = module


class BlobError(ValueError):
    """A compact blob (listpack, ziplist, intset, zipmap) is malformed. Blob decoders are pure functions
    over bytes; the reader turns this into an RdbError at the blob's offset in the file."""


class DumpError(Exception):
    """A RESTORE payload is refused; the message is the client's error reply, as Redis words it."""
