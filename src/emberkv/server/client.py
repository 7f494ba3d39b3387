"""One client connection: an asyncio.Protocol that parses requests, runs them, and writes replies.

Per read, every complete command is executed and the replies are collected in ``out``; then they go out
in one ``transport.write``. When the AOF must reach the disk before replies may leave (group commit),
the server takes the flush over and writes all clients' replies after one write/fsync of the log.

A client blocked by BLPOP and friends keeps reading (to notice a disconnect) but queues what it reads in
``pending`` until it is served or times out, exactly like Redis, which stops processing its input.
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import TYPE_CHECKING, Any

from emberkv.protocol.resp import ProtocolError, QueryBufferOverflow, RequestParser, encode_resp2
from emberkv.server.dispatch import process_command

if TYPE_CHECKING:
    from emberkv.commands.table import Command
    from emberkv.server.app import Server


class Client(asyncio.Protocol):
    """Connection state: what Redis keeps in its ``client`` struct."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.ks = server.keyspace
        self.id = server.next_client_id()
        self.db = self.ks.dbs[0]
        self.parser = RequestParser(server.config["proto-max-bulk-len"],
                                    server.config["client-query-buffer-limit"])
        self.encode = encode_resp2
        self.resp = 2
        self.name: bytes | None = None
        self.lib_name = b""
        self.lib_ver = b""
        self.authenticated = not server.config["requirepass"]
        self.out: list[bytes] = []
        self.transport: asyncio.Transport | None = None
        self.addr = "?:0"
        self.laddr = "?:0"
        self.local = True
        self.unix = False
        self.created = time.time()
        self.last_interaction = self.created
        self.last_command: Command | None = None
        self.closed = False
        self.close_after_reply = False
        # Transactions: queued (command, argv) while in MULTI; WATCHed (db, key) pairs.
        self.multi: list[tuple[Any, list[bytes]]] | None = None
        self.multi_error = False
        self.in_exec = False
        self.watched: list[tuple[Any, bytes]] = []
        self.dirty_cas = False
        # Effects to log instead of argv (None: log argv as is).
        self.propagate_as: list[list[bytes]] | None = None
        # Pub/Sub: channel names and patterns this client is subscribed to.
        self.channels: set[bytes] = set()
        self.patterns: set[bytes] = set()
        # Blocking commands (server/blocking.py) and the input that waits behind them.
        self.blocked: Any = None
        self.pending: list[list[bytes]] = []
        self.monitor = False

    @property
    def subscriptions(self) -> int:
        """How many channels and patterns the client is subscribed to."""
        return len(self.channels) + len(self.patterns)

    # -- asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        server = self.server
        sock = transport.get_extra_info("socket")
        peer = transport.get_extra_info("peername")
        local = transport.get_extra_info("sockname")
        if sock is not None and sock.family == socket.AF_UNIX:
            self.unix = True
            self.addr = f"{local or ''}:0"
            self.laddr = self.addr
        else:
            self.addr = _format_addr(peer)
            self.laddr = _format_addr(local)
            self.local = _is_loopback(peer[0] if peer else "")
            keepalive = server.config["tcp-keepalive"]
            if sock is not None and keepalive > 0:
                _set_keepalive(sock, keepalive)
        refusal = server.admit(self)
        if refusal is not None:
            transport.write(refusal)
            transport.close()
            self.closed = True
            return
        server.clients[self.id] = self

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.unlink_client(self)

    def data_received(self, data: bytes) -> None:
        if self.close_after_reply:
            return  # QUIT or a protocol error: what follows is ignored, as in Redis
        self.last_interaction = time.time()
        try:
            commands = self.parser.feed(data)
        except ProtocolError as exc:
            self.protocol_error(str(exc))
            return
        except QueryBufferOverflow:
            self.server.log.warning(
                f"Closing client that reached max query buffer length: id={self.id} addr={self.addr}"
            )
            self.close()
            return
        if self.blocked is not None or self.pending:
            self.pending.extend(commands)
            return
        self.run(commands)

    def run(self, commands: list[list[bytes]]) -> None:
        """Execute commands in order, stopping (and queueing the rest) if one blocks."""
        for i, argv in enumerate(commands):
            process_command(self, argv)
            if self.blocked is not None:
                self.pending.extend(commands[i + 1:])
                break
            if self.close_after_reply:
                break
        self.server.reply_ready(self)

    # -- output ----------------------------------------------------------------------------------

    def flush(self) -> None:
        """Send what is in ``out``; close afterwards if a command asked for it (QUIT, KILL)."""
        if self.out and not self.closed:
            self.transport.write(b"".join(self.out))
        self.out.clear()
        if self.close_after_reply:
            self.close()

    def push(self, reply: Any) -> None:
        """Queue an out-of-band reply (MONITOR lines). It goes through ``out`` and reply_ready like
        every reply, so with the AOF on it leaves only after the log write that precedes it."""
        if self.closed:
            return
        self.encode(reply, self.out)
        self.server.reply_ready(self)

    def protocol_error(self, reason: str) -> None:
        self.server.log.verbose(f"Protocol error ({reason}) from client: id={self.id} addr={self.addr}")
        self.out.append(b"-ERR Protocol error: %s\r\n" % reason.encode())
        self.close_after_reply = True
        # Through reply_ready like every reply: replies still held for the AOF must not leave with it.
        self.server.reply_ready(self)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.transport.close()
            self.server.unlink_client(self)

    def resume(self) -> None:
        """Run the input that queued up while the client was blocked."""
        while self.pending and self.blocked is None and not self.closed:
            commands, self.pending = self.pending, []
            self.run(commands)


def _format_addr(addr: Any) -> str:
    if not addr:
        return "?:0"
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _is_loopback(host: str) -> bool:
    return host.startswith("127.") or host in ("::1", "localhost") or host.startswith("::ffff:127.")


def _set_keepalive(sock: socket.socket, seconds: int) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, seconds)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, max(1, seconds // 3))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
    except OSError:
        pass
