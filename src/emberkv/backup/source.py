"""Taking a snapshot from a running server over the replication protocol, as ``redis-cli --rdb`` does.

The exchange, identical against emberkv and Redis 7.0::

    AUTH [user] password                   when the address has credentials
    REPLCONF capa eof                      we understand the diskless (EOF-marker) framing
    REPLCONF rdb-only 1                    we want the RDB only, not the replication stream after it
    PSYNC ? -1                             -> +FULLRESYNC <replid> <offset>   (SYNC on servers without PSYNC)
    (any number of "\\n" keepalives while the server prepares the snapshot)
    $<size>\\r\\n <size bytes>              disk-based transfer, or
    $EOF:<40 chars>\\r\\n <bytes> <40 chars>   diskless transfer: the bytes end with the same 40 chars

The payload is streamed to a file object as it arrives, hashed with SHA-256 on the way; nothing is
decoded here (verify.py does that from the file). A connection that ends before the payload is
complete is an error: the caller discards what it has.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from emberkv.backup.connection import Connection, RedisAddress, encode_command, info_fields
from emberkv.backup.errors import EXIT_AUTH, EXIT_SERVER, EXIT_UNREACHABLE, BackupError, storage_error

EOF_MARK_LEN = 40

Progress = Callable[[int, int | None], None]


@dataclass
class SourceInfo:
    """Who the snapshot came from, for the manifest."""

    address: str
    server: str = "redis"  # "emberkv" or "redis"
    version: str = ""
    run_id: str = ""
    replid: str = ""
    offset: int = -1


@dataclass
class Transfer:
    size: int
    sha256: str
    framing: str  # "eof-marker" or "size"


def server_info(address: RedisAddress, timeout: float) -> SourceInfo:
    """INFO server of the source: its version and run id (and whether it is emberkv)."""
    with Connection(address, timeout) as conn:
        conn.authenticate()
        fields = info_fields(conn.call("INFO", "server"))
    info = SourceInfo(address.display, version=fields.get("redis_version", ""), run_id=fields.get("run_id", ""))
    if "emberkv_version" in fields:
        info.server = "emberkv"
        info.version = f"{fields['emberkv_version']} (redis {info.version})"
    return info


def _line_call(conn: Connection, *args: str) -> str:
    """A command whose reply is one line (+OK, +FULLRESYNC, -ERR ...), skipping keepalive newlines."""
    conn.send(encode_command(args))
    return _next_line(conn)


def _next_line(conn: Connection) -> str:
    while True:
        line = conn.read_line()
        if line:
            return line.decode("utf-8", "replace")


def _handshake(conn: Connection, info: SourceInfo) -> None:
    address = conn.address
    if address.password:
        args = ("AUTH", address.username, address.password) if address.username else ("AUTH", address.password)
        reply = _line_call(conn, *args)
        if reply.startswith("-"):
            raise BackupError(f"authentication to {address.display} failed: {reply[1:]}", EXIT_AUTH)
    for option in (("capa", "eof"), ("rdb-only", "1")):
        reply = _line_call(conn, "REPLCONF", *option)
        if reply.startswith("-NOAUTH"):
            raise conn.reply_error(reply[1:])
        # Other errors (a server older than 7.0 has no rdb-only) are harmless: we close the connection
        # ourselves once the payload is in, and we read both framings.
    reply = _line_call(conn, "PSYNC", "?", "-1")
    if reply.startswith("-ERR unknown command"):
        conn.send(encode_command(["SYNC"]))
        return
    if reply.startswith("-"):
        raise conn.reply_error(reply[1:])
    words = reply.split()
    if words[:1] != ["+FULLRESYNC"] or len(words) != 3:
        raise BackupError(f"unexpected answer to PSYNC from {address.display}: {reply[:80]!r}", EXIT_SERVER)
    info.replid, info.offset = words[1], int(words[2])


def fetch_snapshot(address: RedisAddress, out: BinaryIO, info: SourceInfo, timeout: float = 60.0,
                   progress: Progress | None = None) -> Transfer:
    """Ask the server for a full sync and write the RDB it sends to ``out``."""
    with Connection(address, timeout) as conn:
        _handshake(conn, info)
        header = _next_line(conn)
        if header.startswith("-"):
            raise conn.reply_error(header[1:])
        if header.startswith("$EOF:") and len(header) == 5 + EOF_MARK_LEN:
            framing, mark, size = "eof-marker", header[5:].encode(), None
        elif header.startswith("$") and header[1:].isdigit():
            framing, mark, size = "size", b"", int(header[1:])
        else:
            raise BackupError(f"unexpected payload header from {address.display}: {header[:80]!r}", EXIT_SERVER)
        digest = hashlib.sha256()
        received = _copy_payload(conn, out, digest, mark, size, progress)
    return Transfer(received, digest.hexdigest(), framing)


def _copy_payload(conn: Connection, out: BinaryIO, digest, mark: bytes, size: int | None,
                  progress: Progress | None) -> int:
    received = 0
    tail = b""  # EOF framing: the last bytes seen, which may turn out to be the marker

    def write(data: bytes) -> None:
        nonlocal received
        if not data:
            return
        try:
            out.write(data)
        except OSError as exc:
            raise storage_error(exc, "cannot store the snapshot") from None
        digest.update(data)
        received += len(data)
        if progress is not None:
            progress(received, size)

    while size is None or received < size:
        data = conn.read_some()
        if not data:
            raise BackupError(f"{conn.address.display} closed the connection after {received + len(tail)} "
                              "bytes: the snapshot is incomplete", EXIT_UNREACHABLE)
        if size is not None:
            write(data[: size - received])
            continue
        data = tail + data if tail else data
        if data.endswith(mark):
            write(data[:-EOF_MARK_LEN])
            return received
        write(data[:-EOF_MARK_LEN])
        tail = data[-EOF_MARK_LEN:]
    return received
