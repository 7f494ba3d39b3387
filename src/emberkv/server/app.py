"""The server: listening sockets, the client table, the cron, and the hooks persistence plugs into.

One thread runs everything on a uvloop event loop. Persistence (RDB, AOF) attaches through three
hooks instead of being called from here: ``effect_feeds`` receive what changed data (as Redis
propagates it), ``cron_jobs`` run ``hz`` times a second, and ``shutdown_jobs`` run before exit
(final save, AOF flush). ``reply_barrier`` lets the AOF hold replies until the log is on disk.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections.abc import Callable
from typing import Any

from emberkv import REDIS_COMPAT_VERSION, __version__
from emberkv.commands.table import Command
from emberkv.keyspace.db import Keyspace
from emberkv.keyspace.expire import active_expire_cycle
from emberkv.persistence.state import PersistenceState
from emberkv.server.blocking import Blocking
from emberkv.server.client import Client
from emberkv.server.config import ConfigError
from emberkv.server.log import Logger
from emberkv.server.pubsub import PubSub

DENIED = (
    b"-DENIED Redis is running in protected mode because protected mode is enabled and no password "
    b"is set for the default user. In this mode connections are only accepted from the loopback "
    b"interface. If you want to connect from external computers to Redis you may adopt one of the "
    b"following solutions: 1) Just disable protected mode sending the command 'CONFIG SET "
    b"protected-mode no' from the loopback interface by connecting to Redis from the same host the "
    b"server is running, however MAKE SURE Redis is not publicly accessible from internet if you do "
    b"so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the "
    b"protected mode by editing the Redis configuration file, and setting the protected mode option "
    b"to 'no', and then restarting the server. 3) If you started the server manually just for testing, "
    b"restart it with the '--protected-mode no' option. 4) Set up an authentication password for the "
    b"default user. NOTE: You only need to do one of the above things in order for the server to start "
    b"accepting connections from the outside.\r\n"
)


class Server:
    def __init__(self, config: Any, log: Logger | None = None) -> None:
        self.config = config
        self.log = log or Logger(config["loglevel"], config["logfile"])
        self.keyspace = Keyspace(config["databases"])
        self.keyspace.on_expired = self._propagate_expired
        self.loop = asyncio.get_running_loop()
        self.clients: dict[int, Client] = {}
        self._next_id = 0
        self.run_id = os.urandom(20).hex()
        self.start_time = time.time()
        self.port = config["port"]
        self.listeners: list[asyncio.AbstractServer] = []
        self.blocking = Blocking(self)
        self.pubsub = PubSub(self)
        self.monitors: list[Client] = []
        # Propagation: effects of the running command, then handed to every feed (AOF, replicas).
        self.pending_effects: list[tuple[int, list[bytes]]] = []
        self.effect_feeds: list[Callable[[list[tuple[int, list[bytes]]], bool], None]] = []
        self.cron_jobs: list[Callable[[], None]] = []
        # FLUSHALL's extra work (Redis saves an RDB after it when save points are set).
        self.flushall_hooks: list[Callable[[], None]] = []
        self.shutdown_jobs: list[Callable[[bool | None], bool]] = []
        # Persistence may refuse writes (MISCONF); each guard returns the error text or None.
        self.write_guards: list[Callable[[], bytes | None]] = []
        self.rdb: Any = None  # persistence.saving.RdbSaver, attached at start-up
        self.persistence = PersistenceState()
        # Group commit: when set, replies wait until the barrier says the log is safely written.
        self.reply_barrier: Callable[[], None] | None = None
        self.waiting_replies: dict[int, Client] = {}
        self._barrier_scheduled = False
        self.stats = Stats()
        self.shutdown_event = asyncio.Event()
        self.exit_code = 0
        self.cronloops = 0
        self.active_expire = True  # DEBUG SET-ACTIVE-EXPIRE 0 turns the active cycle off
        self._watch_config()

    def _watch_config(self) -> None:
        """CONFIG SET of these options takes effect at once, as in Redis."""
        config = self.config
        config.on_change("loglevel", self.log.set_level)
        config.on_change("logfile", self._reopen_log)
        config.on_change("dir", self._change_dir)
        config.on_change("port", lambda port: self._rebind(config["bind"], port))
        config.on_change("bind", lambda binds: self._rebind(binds, config["port"]))

    def _reopen_log(self, path: str) -> None:
        try:
            self.log.reopen(path)
        except OSError as exc:
            self.log.reopen(self.log.path if self.log.path != path else "")
            raise ConfigError(f"Failed to open the log file: {exc.strerror}") from exc

    def _change_dir(self, path: str) -> None:
        try:
            os.chdir(path)
        except OSError as exc:
            raise ConfigError("No such file or directory" if exc.errno == 2 else exc.strerror) from exc

    def _rebind(self, binds: list[str], port: int) -> None:
        """Listen on new addresses: bound synchronously (so a failure refuses the CONFIG SET), then
        served; the old listeners close once the new ones are in place."""
        sockets = []
        try:
            for host, optional in _bind_hosts(binds):
                try:
                    sock = socket.create_server((host, port), family=_family(host), backlog=511,
                                                reuse_port=False)
                except OSError:
                    if optional:
                        continue
                    raise
                sockets.append(sock)
        except OSError as exc:
            for sock in sockets:
                sock.close()
            raise ConfigError(f"Unable to listen on this port: {exc.strerror}") from exc
        old, self.listeners = self.listeners, []
        for listener in old:
            listener.close()
        self.port = port
        for sock in sockets:
            self.loop.create_task(self._serve_socket(sock))

    async def _serve_socket(self, sock: socket.socket) -> None:
        self.listeners.append(await self.loop.create_server(lambda: Client(self), sock=sock))

    def next_client_id(self) -> int:
        self._next_id += 1
        return self._next_id

    # -- clients ---------------------------------------------------------------------------------

    def admit(self, c: Client) -> bytes | None:
        """None to accept the new connection, else the reply to send before closing it."""
        self.stats.total_connections += 1
        if len(self.clients) >= self.config["maxclients"]:
            self.stats.rejected_connections += 1
            return b"-ERR max number of clients reached\r\n"
        if (self.config["protected-mode"] and not self.config["requirepass"] and not c.local
                and not c.unix):
            self.stats.rejected_connections += 1
            return DENIED
        return None

    def unlink_client(self, c: Client) -> None:
        if self.clients.pop(c.id, None) is None:
            return
        self.blocking.unblock(c)
        from emberkv.commands.transactions import unwatch_all

        unwatch_all(c)
        self.pubsub.unsubscribe_all(c)
        if c.monitor and c in self.monitors:
            self.monitors.remove(c)
        self.waiting_replies.pop(c.id, None)

    def refuse_reason(self, c: Client, cmd: Command) -> bytes | None:
        """Why cmd may not run now (LOADING, MISCONF, ...), as the error text; None if it may."""
        if self.persistence.loading and "loading" not in cmd.flags:
            return b"LOADING Redis is loading the dataset in memory"
        if self.write_guards and (cmd.is_write or cmd.name == "ping"):
            # Redis refuses PING too while writes are refused: clients use it as a health check.
            for guard in self.write_guards:
                reason = guard()
                if reason is not None:
                    return reason
        return None

    # -- replies ---------------------------------------------------------------------------------

    def reply_ready(self, c: Client) -> None:
        """c has replies in ``out``: send them now, or after the log is written (group commit)."""
        if self.reply_barrier is None:
            c.flush()
            return
        self.waiting_replies[c.id] = c
        if not self._barrier_scheduled:
            self._barrier_scheduled = True
            self.loop.call_soon(self._release_replies)

    def _release_replies(self) -> None:
        self._barrier_scheduled = False
        if self.reply_barrier is not None:
            self.reply_barrier()
        waiting, self.waiting_replies = self.waiting_replies, {}
        for c in waiting.values():
            c.flush()

    # -- propagation -----------------------------------------------------------------------------

    def propagate(self, dbid: int, argv: list[bytes]) -> None:
        if self.effect_feeds:  # nobody listens (no AOF, no replica): nothing to keep
            self.pending_effects.append((dbid, argv))

    def flush_effects(self, multi: bool) -> None:
        """Hand the effects of the command (or transaction) just run to every feed."""
        effects, self.pending_effects = self.pending_effects, []
        for feed in self.effect_feeds:
            feed(effects, multi and len(effects) > 1)

    def _propagate_expired(self, db: Any, key: bytes) -> None:
        self.propagate(db.id, [b"DEL", key])

    def feed_monitors(self, c: Client, dbid: int, argv: list[bytes]) -> None:
        if c.monitor or (c.last_command is not None and "skip_monitor" in c.last_command.flags):
            return
        now = time.time()
        args = " ".join('"%s"' % _monitor_escape(a) for a in argv)
        where = "unix:" + c.addr if c.unix else c.addr
        line = f"{now:.6f} [{dbid} {where}] {args}".encode()
        from emberkv.protocol.replies import SimpleString

        for m in list(self.monitors):
            m.push(SimpleString(line))

    # -- cron ------------------------------------------------------------------------------------

    def cron(self) -> None:
        """Runs hz times a second: expiry, client timeouts, persistence jobs."""
        self.cronloops += 1
        ks = self.keyspace
        ks.now_ms = int(time.time() * 1000)
        hz = max(1, self.config["hz"])
        if self.active_expire:
            active_expire_cycle(ks, budget_s=0.25 / hz)
        if self.pending_effects:
            self.flush_effects(multi=False)
        self._close_idle_clients()
        for job in self.cron_jobs:
            try:
                job()
            except Exception as exc:  # a failing job must not stop the cron
                self.log.warning(f"Background job failed: {exc!r}")
        self.loop.call_later(1 / hz, self.cron)

    def _close_idle_clients(self) -> None:
        timeout = self.config["timeout"]
        if not timeout or self.cronloops % max(1, self.config["hz"]):
            return
        deadline = time.time() - timeout
        for c in list(self.clients.values()):
            if (c.last_interaction < deadline and c.blocked is None and not c.subscriptions
                    and not c.monitor):
                self.log.verbose(f"Closing idle client id={c.id}")
                c.close()

    # -- life cycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the listening sockets; raises OSError when a port cannot be bound.

        From the first accepted connection until the dataset is loaded (the caller clears the flag at
        "Ready to accept connections"), the server counts as loading: clients get -LOADING and INFO
        says loading:1, so that nobody reads an empty dataset or writes before the AOF is open.
        """
        self.persistence.loading = True
        self.persistence.loading_start_time = int(time.time())
        for host, optional in _bind_hosts(self.config["bind"]):
            try:
                listener = await self.loop.create_server(
                    lambda: Client(self), host, self.port, reuse_address=True, backlog=511,
                )
            except OSError as exc:
                if optional:
                    continue
                raise OSError(exc.errno, f"Could not create server TCP listening socket {host}:"
                                         f"{self.port}: {exc.strerror}") from exc
            self.listeners.append(listener)
            if self.port == 0:
                self.port = listener.sockets[0].getsockname()[1]

    def banner(self) -> None:
        self.log.notice(f"emberkv {__version__} (speaks Redis {REDIS_COMPAT_VERSION}), "
                        f"bits=64, pid={os.getpid()}, just started")
        for line in (
            "",
            f"    emberkv {__version__}   Redis {REDIS_COMPAT_VERSION} protocol, 64 bit",
            "    Running in standalone mode",
            f"    Port: {self.port}",
            f"    PID: {os.getpid()}",
            "",
        ):
            self.log.notice(line)

    def install_signal_handlers(self) -> None:
        for sig, name in ((signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "SIGINT")):
            self.loop.add_signal_handler(sig, self.signal_shutdown, name)

    def signal_shutdown(self, name: str) -> None:
        self.log.warning(f"Received {name} scheduling shutdown...")
        self.loop.call_soon(self.shutdown, None, False)

    def shutdown(self, save: bool | None, force: bool) -> bool:
        """Stop the server: run the shutdown jobs (save etc.), close clients. False if refused."""
        self.log.warning("User requested shutdown...")
        for job in self.shutdown_jobs:
            if not job(save) and not force:
                self.log.warning("Errors trying to shut down the server. Check the logs for more information.")
                return False
        for listener in self.listeners:
            listener.close()
        for c in list(self.clients.values()):
            c.close()
        pidfile = self.config["pidfile"]
        if pidfile:
            try:
                os.unlink(pidfile)
            except OSError:
                pass
        self.log.warning("Redis is now ready to exit, bye bye...")
        self.shutdown_event.set()
        return True


class Stats:
    """Counters reported by INFO stats; reset by CONFIG RESETSTAT."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.total_connections = 0
        self.rejected_connections = 0
        self.total_commands = 0
        self.net_input_bytes = 0
        self.net_output_bytes = 0


def _bind_hosts(binds: list[str]) -> list[tuple[str, bool]]:
    """bind entries as (host, optional): ``*`` is every IPv4 address, ``::*`` every IPv6 one, and a
    leading ``-`` marks an address that may be unavailable (Redis's default "* -::*")."""
    hosts = []
    for addr in binds or ["*"]:
        host = addr.lstrip("-")
        hosts.append(({"*": "0.0.0.0", "::*": "::"}.get(host, host), addr.startswith("-")))
    return hosts


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _monitor_escape(arg: bytes) -> str:
    out = []
    for b in arg:
        ch = chr(b)
        if ch in '\\"':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif 32 <= b < 127:
            out.append(ch)
        else:
            out.append("\\x%02x" % b)
    return "".join(out)
