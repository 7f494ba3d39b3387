"""An in-process server for fast command tests: the real dispatcher, no sockets.

``srv = InProcessServer(); c = srv.client(); c("SET", "k", "v")`` returns the reply as hiredis
parses it (bytes, int, list, None; errors come back as ``hiredis.ReplyError`` values, not raised).
"""

from __future__ import annotations

import asyncio

import hiredis

import emberkv.commands  # noqa: F401  (registers the command table)
from emberkv.server.app import Server
from emberkv.server.client import Client
from emberkv.server.config import load_config
from emberkv.server.log import Logger


class FakeTransport(asyncio.Transport):
    def __init__(self, peer: tuple[str, int] = ("127.0.0.1", 40000)) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False
        self.peer = peer

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name, default=None):
        return {"peername": self.peer, "sockname": ("127.0.0.1", 6379)}.get(name, default)


def encode_request(args) -> bytes:
    parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


class InProcessClient:
    def __init__(self, server: Server, peer: tuple[str, int]) -> None:
        self.transport = FakeTransport(peer)
        self.conn = Client(server)
        self.conn.connection_made(self.transport)
        self.reader = hiredis.Reader()

    def send(self, raw: bytes) -> None:
        self.conn.data_received(raw)

    def replies(self) -> list:
        self.reader.feed(bytes(self.transport.written))
        self.transport.written.clear()
        out = []
        while (item := self.reader.gets()) is not False:
            out.append(item)
        return out

    def __call__(self, *args):
        self.send(encode_request(args))
        replies = self.replies()
        return replies[0] if len(replies) == 1 else replies


class InProcessServer:
    def __init__(self, *options: str) -> None:
        self.loop = asyncio.new_event_loop()
        config = load_config(["--save", "", "--enable-debug-command", "yes", *options])

        async def make() -> Server:
            return Server(config, Logger("warning", ""))

        self.server = self.loop.run_until_complete(make())

    def client(self, peer: tuple[str, int] = ("127.0.0.1", 40000)) -> InProcessClient:
        return InProcessClient(self.server, peer)

    def advance(self, seconds: float) -> None:
        """Let timers (blocking timeouts) fire."""
        self.loop.run_until_complete(asyncio.sleep(seconds))

    def close(self) -> None:
        self.loop.close()


def err(reply) -> str:
    """The text of an error reply; fails the test when the reply is not an error."""
    assert isinstance(reply, hiredis.ReplyError), f"expected an error, got {reply!r}"
    return str(reply)


def record_events(srv: InProcessServer, classes: int) -> list[tuple[bytes, bytes]]:
    """Turn on keyspace notifications of the given classes; returns the list (event, key) lands in."""
    seen: list[tuple[bytes, bytes]] = []
    ks = srv.server.keyspace
    ks.notify_flags = classes
    ks.notifier = lambda cls, event, db, key: seen.append((event, key))
    return seen
