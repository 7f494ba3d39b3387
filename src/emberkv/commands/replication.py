"""Replication commands, master side: SYNC, PSYNC, REPLCONF and ROLE.

SYNC and PSYNC hand the connection over to the replication machinery (server/replication.py), which
sends the dataset as an RDB made by the snapshot engine and, unless the replica asked for the RDB only,
the replication stream after it. REPLCONF records what a connection says about itself before it asks
for a sync; ROLE reports this server as a master with its online replicas.
"""

from __future__ import annotations

import weakref
from typing import Any

from emberkv.commands.args import parse_int
from emberkv.commands.errors import SYNTAX, CommandError
from emberkv.commands.table import command
from emberkv.protocol.replies import NO_REPLY, OK
from emberkv.server.replication import master_of


class _Discard(list):
    """The output list of a client turned replica: Redis never answers a replica, so nothing collects."""

    __slots__ = ()

    def append(self, item: object) -> None:
        pass

    def extend(self, items: object) -> None:
        pass


class ReplicaOptions:
    """What a connection said with REPLCONF before asking for a sync."""

    __slots__ = ("listening_port", "ip_address", "capa_eof", "rdb_only", "filtered")

    def __init__(self) -> None:
        self.listening_port = 0
        self.ip_address = ""
        self.capa_eof = False
        self.rdb_only = False
        # REPLCONF rdb-filter-only: no keys in the RDB (only function libraries, which emberkv has none of).
        self.filtered = False


# REPLCONF options of connections that have not asked for a sync yet (forgotten with the connection).
_options: weakref.WeakKeyDictionary[Any, ReplicaOptions] = weakref.WeakKeyDictionary()


# -- commands --------------------------------------------------------------------------------------


def _start_sync(c, argv: list[bytes]) -> Any:
    if c.in_exec or c.multi is not None:
        raise CommandError("ERR Command not allowed inside a transaction")
    if c.out:
        # Replies still queued would end up inside the RDB stream.
        raise CommandError("ERR SYNC and PSYNC are invalid with pending output")
    options = _options.get(c) or ReplicaOptions()
    if options.filtered and not options.capa_eof:
        raise CommandError("ERR Filtered replica requires EOF capability")
    psync = len(argv) > 1
    if psync:
        parse_int(argv[2])  # the offset: there is no backlog to continue from, but it must be a number
    _options.pop(c, None)
    master_of(c.server).attach(c, psync, options)
    # Commands that followed SYNC in the same read still run, but their replies must not end up inside
    # the payload.
    c.out = _Discard()
    return NO_REPLY


@command("sync", 1, "admin noscript no_async_loading no_multi", group="server")
def sync(c, argv):
    """Ask for a full copy of the dataset as an RDB, as an old-style replica does."""
    return _start_sync(c, argv)


@command("psync", -3, "admin noscript no_async_loading no_multi", group="server")
def psync(c, argv):
    """Ask for the replication stream from a given offset; answered with a full resync."""
    return _start_sync(c, argv)


@command("replconf", -1, "admin noscript loading stale allow_busy", group="server")
def replconf(c, argv):
    """Tell the master about a replica's listening port, capabilities and progress."""
    if len(argv) % 2 == 0:
        raise CommandError(SYNTAX)
    options = _options.get(c)
    if options is None:
        options = _options[c] = ReplicaOptions()
    for i in range(1, len(argv), 2):
        name, value = argv[i].lower(), argv[i + 1]
        if name == b"listening-port":
            options.listening_port = parse_int(value)
        elif name == b"ip-address":
            options.ip_address = value.decode("utf-8", "replace")
        elif name == b"capa":
            options.capa_eof = options.capa_eof or value.lower() == b"eof"
        elif name in (b"ack", b"getack"):
            return NO_REPLY  # only meaningful on a replica link, and never answered
        elif name == b"rdb-only":
            flag = parse_int(value)
            if flag not in (0, 1):
                raise CommandError("ERR value is out of range, value must between 0 and 1")
            options.rdb_only = flag == 1
        elif name == b"rdb-filter-only":
            # Any filter (even a refused one, as in Redis) leaves the keys out of the RDB.
            options.filtered = True
            for word in value.split():
                if word.lower() != b"functions":
                    raise CommandError(f"ERR Unsupported rdb-filter-only option: {word.decode('utf-8', 'replace')}")
        else:
            raise CommandError(f"ERR Unrecognized REPLCONF option: {argv[i].decode('utf-8', 'replace')}")
    return OK


@command("role", 1, "noscript loading stale fast", group="server")
def role(c, argv):
    """This server's part in replication: always a master, with its online replicas."""
    master = getattr(c.server, "replication", None)
    if master is None:
        return [b"master", 0, []]
    replicas = []
    for link in master.online:
        replicas.append([link.host.encode(), b"%d" % link.options.listening_port, b"%d" % link.ack_offset])
    return [b"master", master.offset, replicas]
