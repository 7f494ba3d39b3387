"""A small blocking Redis client for the backup tools: addresses, AUTH, commands and pipelines.

The backup tools talk to one server at a time and need two things a general client hides: the raw
bytes after SYNC (source.py reads them straight off the socket) and deep pipelines of RESTORE commands
(restore.py). So this is a thin layer over a socket: ``read_line``/``read_exact``/``read_some`` for raw
reads, and ``call``/``pipeline`` that parse replies with hiredis. One connection uses one of the two
styles, never both (hiredis keeps what it has read).

Addresses are URLs: ``redis://[[user]:password@]host[:port][/db]`` or ``unix:///path/to.sock``. Without a
password in the URL, ``REDISCLI_AUTH`` is used if set, as redis-cli does.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import hiredis

from emberkv.backup.errors import EXIT_AUTH, EXIT_SERVER, EXIT_UNREACHABLE, EXIT_USAGE, BackupError

DEFAULT_PORT = 6379
RECV_SIZE = 1 << 20


@dataclass(frozen=True)
class RedisAddress:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    unix_path: str = ""
    username: str = ""
    password: str = ""
    db: int = 0

    @property
    def display(self) -> str:
        """The address without credentials: safe to print and to store in a manifest."""
        if self.unix_path:
            return f"unix://{self.unix_path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"redis://{host}:{self.port}"


def parse_address(url: str) -> RedisAddress:
    """redis://, unix:// or a bare host[:port]; BackupError(EXIT_USAGE) when it cannot be read."""
    if "://" not in url:
        url = "redis://" + url
    parts = urlsplit(url)
    password = unquote(parts.password) if parts.password is not None else os.environ.get("REDISCLI_AUTH", "")
    username = unquote(parts.username or "")
    if parts.scheme == "unix":
        if not parts.path:
            raise BackupError(f"bad address {url!r}: unix:// needs a socket path", EXIT_USAGE)
        return RedisAddress(unix_path=parts.path, username=username, password=password)
    if parts.scheme != "redis":
        raise BackupError(f"bad address {url!r}: use redis://host:port or unix:///path "
                          "(TLS is not supported)", EXIT_USAGE)
    try:
        port = parts.port or DEFAULT_PORT
        db = int(parts.path.strip("/") or 0)
    except ValueError:
        raise BackupError(f"bad address {url!r}: the port and database must be numbers", EXIT_USAGE) from None
    return RedisAddress(parts.hostname or "127.0.0.1", port, "", username, password, db)


class ServerReplyError(BackupError):
    """The server answered a command with an error reply."""

    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_SERVER)


def encode_command(args: Sequence[bytes | str | int]) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            arg = arg.encode()
        elif isinstance(arg, int):
            arg = b"%d" % arg
        out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(out)


class Connection:
    """One connection to a server; ``timeout`` bounds every wait for bytes."""

    def __init__(self, address: RedisAddress, timeout: float = 60.0) -> None:
        self.address = address
        self.buf = bytearray()
        self.reader = hiredis.Reader()
        try:
            if address.unix_path:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.settimeout(timeout)
                self.sock.connect(address.unix_path)
            else:
                self.sock = socket.create_connection((address.host, address.port), timeout=timeout)
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
            raise BackupError(f"cannot connect to {address.display}: {reason}", EXIT_UNREACHABLE) from None

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- raw I/O ---------------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise self._lost(exc) from None

    def _recv(self) -> bytes:
        try:
            data = self.sock.recv(RECV_SIZE)
        except TimeoutError:
            raise BackupError(f"{self.address.display} stopped answering (timed out)", EXIT_UNREACHABLE) from None
        except OSError as exc:
            raise self._lost(exc) from None
        return data

    def _lost(self, exc: OSError | None = None) -> BackupError:
        reason = f": {exc.strerror or exc}" if exc is not None else ""
        return BackupError(f"connection to {self.address.display} lost{reason}", EXIT_UNREACHABLE)

    def read_some(self) -> bytes:
        """What is buffered, or the next bytes from the socket; b"" once the server closed."""
        if self.buf:
            data = bytes(self.buf)
            self.buf.clear()
            return data
        return self._recv()

    def read_line(self) -> bytes:
        """One line without its CRLF (or bare LF); BackupError if the server closes first."""
        while True:
            end = self.buf.find(b"\n")
            if end >= 0:
                line = bytes(self.buf[:end])
                del self.buf[: end + 1]
                return line[:-1] if line.endswith(b"\r") else line
            data = self._recv()
            if not data:
                raise self._lost()
            self.buf += data

    # -- commands ----------------------------------------------------------------------------------

    def reply(self) -> Any:
        """The next reply (an error reply is returned as a hiredis.ReplyError value)."""
        reader = self.reader
        while True:
            try:
                reply = reader.gets()
            except hiredis.ProtocolError as exc:
                raise BackupError(f"{self.address.display} broke the protocol: {exc}", EXIT_SERVER) from None
            if reply is not False:
                return reply
            data = self._recv()
            if not data:
                raise self._lost()
            reader.feed(data)

    def call(self, *args: bytes | str | int) -> Any:
        """Send one command and return its reply; an error reply raises ServerReplyError."""
        self.send(encode_command(args))
        reply = self.reply()
        if isinstance(reply, hiredis.ReplyError):
            raise self.reply_error(str(reply))
        return reply

    def reply_error(self, message: str) -> BackupError:
        """The exception for an error reply: NOAUTH (a password is needed) is an auth failure."""
        if message.startswith("NOAUTH"):
            return BackupError(f"{self.address.display} requires a password: give it in the URL "
                               "(redis://:PASSWORD@host:port) or in REDISCLI_AUTH", EXIT_AUTH)
        return ServerReplyError(message)

    def pipeline(self, commands: Iterable[bytes]) -> list[Any]:
        """Send already encoded commands in one write and return every reply (errors as values)."""
        batch = list(commands)
        self.send(b"".join(batch))
        return [self.reply() for _ in batch]

    def authenticate(self) -> None:
        """AUTH with the address's credentials (if any); one clear error if they are refused."""
        address = self.address
        if address.password:
            args = ["AUTH", address.username, address.password] if address.username else ["AUTH", address.password]
            try:
                self.call(*args)
            except ServerReplyError as exc:
                raise BackupError(f"authentication to {address.display} failed: {exc.message}", EXIT_AUTH) from None


def info_fields(text: bytes | str) -> dict[str, str]:
    """INFO's ``name:value`` lines as a dict."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    fields = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("#"):
            name, _, value = line.partition(":")
            fields[name] = value
    return fields
