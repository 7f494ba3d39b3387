"""Replaying logged commands into the keyspace: what the AOF loader runs for each command it reads.

Commands go through the command table (so a file names only commands and argument counts the server
knows: anything else stops the load) and run with a client that has no connection. MULTI ... EXEC
blocks run together. The replies are thrown away; a command that failed when it was logged fails the
same way now, which is fine.

The few commands that make up most logs (SET, INCR, LPUSH, RPUSH in their plain forms) are applied
inline, doing exactly what their handlers do minus what cannot apply while loading (expiry, watchers,
snapshots, notifications, waking blocked clients): a load spends most of its time in this loop. Any
other case (a wrong type, a value that is not an integer, an overflow) goes to the handler.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from emberkv.commands.args import INT64_MAX, to_int_or_none
from emberkv.commands.errors import CommandError
from emberkv.commands.table import COMMANDS, Command
from emberkv.keyspace.values import ListValue, RawString
from emberkv.persistence.aof.format import encode_command
from emberkv.server.client import Client
from emberkv.server.dispatch import lookup

if TYPE_CHECKING:
    from emberkv.server.app import Server

# The commands applied inline, by how they are applied.
SET, INCR, LPUSH, RPUSH = range(4)
_INLINE = {b"set": SET, b"incr": INCR, b"lpush": LPUSH, b"rpush": RPUSH}
# INCR of a small counter: the stored string -> the string one more, for 0 .. 999 (a lookup instead
# of parsing, checking and formatting). The strings stored come from this table, so their hash is
# computed once; as with Redis's shared integers, one object serves every key holding that number.
_NEXT = {b"%d" % n: b"%d" % (n + 1) for n in range(1000)}
_ONE = _NEXT[b"0"]
_NO_INLINE: dict[bytes, int] = {}


class AofLoadError(Exception):
    """Loading cannot go on; str() is the one line to log."""


class ReplayClient(Client):
    """The client commands read from the AOF run as: no connection, never blocks (``in_exec``), and
    what it would reply is thrown away."""

    def __init__(self, server: Server) -> None:
        super().__init__(server)
        self.in_exec = True
        self.name = b"AOF"


class Replay:
    """Runs commands for one load: knows the open MULTI block and a per-name command cache."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.client = ReplayClient(server)
        self.cache: dict[bytes, tuple[Command, int]] = {}  # name as spelled in the file -> (command, arity)
        self.inline: dict[bytes, int] = {}  # the same for the commands applied inline -> how
        self.queue: list[tuple[Command, list[bytes]]] | None = None  # inside MULTI
        # Where the open MULTI is, as (batch, index, batch offset): its file offset is worked out only
        # if it is needed (a torn transaction), since that costs as much as the batch before it.
        self.multi_at: tuple[list, int, int] = ([], 0, 0)
        self.file = ""

    def run(self, items: list[list[bytes]], start: int) -> None:
        """Run a batch of commands that starts at file offset ``start``."""
        c = self.client
        cache = self.cache
        db = c.db
        data, expires = db.data, db.expires
        nexts = _NEXT
        blocked = bool(self.server.keyspace.blocking_keys)  # DEBUG LOADAOF with clients waiting on keys
        in_multi = self.queue is not None
        fast = _NO_INLINE if in_multi or blocked else self.inline
        for index, argv in enumerate(items):
            kind = fast.get(argv[0])
            if kind is not None:
                argc = len(argv)
                if kind == SET:
                    if argc == 3:
                        data[argv[1]] = argv[2]
                        if expires:
                            expires.pop(argv[1], None)
                        continue
                elif kind == INCR:
                    if argc == 2:
                        key = argv[1]
                        value = data.get(key)
                        if value is None:
                            data[key] = _ONE
                            continue
                        if type(value) is bytes:
                            after = nexts.get(value)
                            if after is not None:
                                data[key] = after  # the TTL stays
                                continue
                        if type(value) is bytes or type(value) is RawString:
                            n = to_int_or_none(value)
                            if n is not None and n < INT64_MAX:
                                data[key] = b"%d" % (n + 1)
                                continue
                elif argc >= 3:
                    key = argv[1]
                    value = data.get(key)
                    if value is None:
                        data[key] = value = ListValue()
                    if type(value) is ListValue:
                        if argc == 3:
                            if kind == LPUSH:
                                value.appendleft(argv[2])
                            else:
                                value.append(argv[2])
                        elif kind == LPUSH:
                            value.extendleft(argv[2:])
                        else:
                            value.extend(argv[2:])
                        continue
            entry = cache.get(argv[0])
            if entry is not None and not in_multi:
                cmd, arity = entry
                argc = len(argv)
                if argc == arity or (arity < 0 and argc >= -arity):
                    try:
                        cmd.handler(c, argv)
                    except CommandError:
                        pass  # it failed the same way when it ran; replies are not kept
                    except Exception as exc:
                        raise self._bug(exc, items, index, start) from exc
                    if c.db is not db or db.data is not data:  # SWAPDB, FLUSHALL, MOVE ...
                        db = c.db
                        data, expires = db.data, db.expires
                    continue
            self._special(argv, items, index, start)
            db = c.db
            data, expires = db.data, db.expires
            in_multi = self.queue is not None
            fast = _NO_INLINE if in_multi or blocked else self.inline
        c.out.clear()

    def _bug(self, exc: Exception, items: list, index: int, start: int) -> AofLoadError:
        # A handler bug must not go unnoticed: the dataset would silently differ from the log.
        return AofLoadError(f"Error replaying '{_name(items[index])}' reading the append only file "
                            f"{self.file} at offset {_offset(items, index, start)}: "
                            f"{type(exc).__name__}: {exc}")

    def _call(self, cmd: Command, argv: list[bytes], items: list, index: int, start: int) -> None:
        try:
            cmd.handler(self.client, argv)
        except CommandError:
            pass
        except Exception as exc:
            raise self._bug(exc, items, index, start) from exc
        self.client.out.clear()

    def _special(self, argv: list[bytes], items: list, index: int, start: int) -> None:
        """Everything the fast loop does not do: lookups, MULTI/EXEC, SELECT, arity errors."""
        name = argv[0].lower()
        if name == b"multi":
            if self.queue is not None:
                raise self._error("Unexpected MULTI inside MULTI", items, index, start)
            self.queue = []
            self.multi_at = (items, index, start)
            return
        if name == b"exec":
            queued, self.queue = self.queue, None
            for cmd, args in queued or ():
                self._call(cmd, args, items, index, start)
            return
        cmd = COMMANDS.get(name)
        if cmd is None:
            raise self._error(f"Unknown command '{_name(argv)}'", items, index, start)
        try:
            cmd = lookup(argv)
        except CommandError as exc:
            reason = exc.message.decode("utf-8", "replace").removeprefix("ERR ")
            raise self._error(reason[:1].upper() + reason[1:], items, index, start) from None
        if not cmd.subcommands and cmd.handler is not None and name not in (b"select",):
            self.cache[argv[0]] = (cmd, cmd.arity)
            if name in _INLINE:
                self.inline[argv[0]] = _INLINE[name]
        if self.queue is not None:
            self.queue.append((cmd, argv))
        elif name == b"select":
            try:
                cmd.handler(self.client, argv)
            except CommandError as exc:
                raise self._error(f"SELECT {_name(argv[1:])}: {exc.message.decode('utf-8', 'replace')}",
                                  items, index, start) from None
        else:
            self._call(cmd, argv, items, index, start)

    @property
    def multi_start(self) -> int:
        return _offset(*self.multi_at)

    def _error(self, reason: str, items: list, index: int, start: int) -> AofLoadError:
        return AofLoadError(f"{reason} reading the append only file {self.file} at offset "
                            f"{_offset(items, index, start)}")


def _offset(items: list[list[bytes]], index: int, start: int) -> int:
    """File offset of items[index] in a batch starting at ``start`` (a batch of more than one command
    is in canonical form, so re-encoding gives the sizes)."""
    return start + sum(len(encode_command(argv)) for argv in items[:index])


def _name(argv: list[bytes]) -> str:
    """A command name for a log line: printable, escaped where needed, so the message stays one line."""
    raw = (argv[0] if argv else b"")[:128]
    return "".join(chr(b) if 32 <= b < 127 and b != 92 else "\\x%02x" % b for b in raw)


