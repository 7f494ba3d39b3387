"""The command table: the one place that says what each command is.

Each entry gives name, arity, flags, key positions and handler. The dispatcher reads it for the
unknown-command and arity errors and for write gating (MISCONF, LOADING, read-only states); COMMAND,
COMMAND INFO/DOCS/GETKEYS print it; the AOF and replication decide what to propagate from its flags.

Arity follows Redis: a positive number is the exact argument count (name included), a negative one a
minimum. Key positions are ``first``, ``last`` (negative counts from the end) and ``step``; commands
whose keys move with their arguments (ZUNIONSTORE's numkeys, SORT's STORE) give a ``getkeys`` function.

Handlers are registered with the ``@command`` decorator in the modules of this package, one module
per family, and are called as ``handler(client, argv)``; they return a reply value
(protocol/replies.py) or raise ``CommandError``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emberkv.commands.errors import CommandError, unknown_subcommand, wrong_arity

# Flags, spelled as COMMAND reports them.
WRITE = "write"
READONLY = "readonly"
DENYOOM = "denyoom"
ADMIN = "admin"
PUBSUB = "pubsub"
NOSCRIPT = "noscript"
BLOCKING = "blocking"
LOADING = "loading"  # allowed while the dataset loads
STALE = "stale"
SKIP_MONITOR = "skip_monitor"
SKIP_SLOWLOG = "skip_slowlog"
FAST = "fast"
NO_AUTH = "no_auth"
MAY_REPLICATE = "may_replicate"
NO_MULTI = "no_multi"
MOVABLEKEYS = "movablekeys"
ALLOW_BUSY = "allow_busy"
NO_MANDATORY_KEYS = "no_mandatory_keys"

Handler = Callable[[Any, list[bytes]], Any]
GetKeys = Callable[[list[bytes]], list[int]]


class Command:
    """One command (or one subcommand of a container command such as CONFIG)."""

    __slots__ = (
        "name", "fullname", "arity", "flags", "first_key", "last_key", "step", "handler", "group",
        "getkeys", "subcommands", "summary", "is_write", "calls", "seconds", "rejected_calls",
        "failed_calls", "fast_path",
    )

    def __init__(
        self, name: str, arity: int, flags: frozenset[str], keys: tuple[int, int, int],
        handler: Handler | None, group: str, getkeys: GetKeys | None, summary: str,
        parent: str | None = None,
    ) -> None:
        self.name = name
        self.fullname = f"{parent}|{name}" if parent else name
        self.arity = arity
        self.flags = flags
        self.first_key, self.last_key, self.step = keys
        self.handler = handler
        self.group = group
        self.getkeys = getkeys
        self.subcommands: dict[bytes, Command] = {}  # a container command clears fast_path
        self.summary = summary
        self.is_write = WRITE in flags
        # Statistics for INFO commandstats; time is summed as float seconds (cheapest per call).
        self.calls = 0
        self.seconds = 0.0
        self.rejected_calls = 0
        self.failed_calls = 0
        # The exact argument count of a command without subcommands, for the dispatcher's fast path
        # (0 when the command takes a variable count or has subcommands).
        self.fast_path = arity if arity > 0 else 0

    def arity_ok(self, argc: int) -> bool:
        return argc == self.arity if self.arity > 0 else argc >= -self.arity

    def key_positions(self, argv: list[bytes]) -> list[int]:
        """Indexes of argv that are keys (COMMAND GETKEYS, WATCH-like checks, ACL later)."""
        if self.getkeys is not None:
            return self.getkeys(argv)
        if self.first_key == 0:
            return []
        last = self.last_key if self.last_key >= 0 else len(argv) + self.last_key
        return list(range(self.first_key, min(last, len(argv) - 1) + 1, self.step))

    def resolve(self, argv: list[bytes]) -> Command:
        """For a container command, the subcommand argv names; raises the error Redis gives."""
        if not self.subcommands or (len(argv) == 1 and self.handler is not None):
            return self  # a plain command, or one like COMMAND that also runs bare
        if len(argv) < 2:
            raise CommandError(wrong_arity(self.name))
        sub = self.subcommands.get(argv[1].lower())
        if sub is None:
            raise CommandError(unknown_subcommand(argv[1], self.name))
        if not sub.arity_ok(len(argv)):
            raise CommandError(wrong_arity(sub.fullname))
        return sub


# name (lower-case bytes) -> Command
COMMANDS: dict[bytes, Command] = {}


def command(
    name: str, arity: int, flags: str = "", keys: tuple[int, int, int] = (0, 0, 0),
    group: str = "generic", getkeys: GetKeys | None = None, summary: str = "",
    parent: str | None = None,
) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of ``name`` (or of ``parent name``)."""

    def register(handler: Handler) -> Handler:
        entry = Command(
            name, arity, frozenset(flags.split()), keys, handler, group, getkeys,
            summary or (handler.__doc__ or "").strip().split("\n")[0], parent,
        )
        if parent is None:
            COMMANDS[name.encode()] = entry
        else:
            container(parent).subcommands[name.encode()] = entry
        return handler

    return register


def numkeys_getkeys(numkeys_at: int, dest: bool = False) -> GetKeys:
    """Key positions of commands whose keys follow a count (``ZUNIONSTORE dst 2 a b``, ``LMPOP 2 a b``):
    the ``argv[numkeys_at]`` positions after it, preceded by the destination argv[1] when ``dest``."""

    def getkeys(argv: list[bytes]) -> list[int]:
        try:
            numkeys = int(argv[numkeys_at])
        except (IndexError, ValueError):
            return []
        keys = list(range(numkeys_at + 1, min(numkeys_at + 1 + max(numkeys, 0), len(argv))))
        return [1, *keys] if dest else keys

    return getkeys


def container(name: str, group: str = "server", summary: str = "") -> Command:
    """The container command ``name`` (CONFIG, CLIENT, OBJECT, ...), created on first use."""
    entry = COMMANDS.get(name.encode())
    if entry is None:
        entry = Command(name, -2, frozenset(), (0, 0, 0), None, group, None, summary)
        COMMANDS[name.encode()] = entry
    entry.fast_path = 0
    return entry
