"""MULTI, EXEC, DISCARD, WATCH and UNWATCH.

Queued commands were fully checked when queued (unknown command, arity: those set ``multi_error`` and
EXEC answers EXECABORT). EXEC runs them back to back with the clock frozen, so every command of the
transaction sees the same time, and hands their effects to the AOF as one MULTI/EXEC block.
A WATCHed key that changes (or expires) in between makes EXEC answer a null array.
"""

from __future__ import annotations

from emberkv.commands.errors import CommandError
from emberkv.commands.table import command
from emberkv.keyspace.db import wall_ms
from emberkv.protocol.replies import NO_REPLY, NULL_ARRAY, OK


@command("multi", 1, "noscript loading stale fast allow_busy", group="transactions")
def multi(c, argv):
    """Start a transaction."""
    if c.multi is not None:
        raise CommandError("ERR MULTI calls can not be nested")
    c.multi = []
    c.multi_error = False
    return OK


@command("discard", 1, "noscript loading stale fast allow_busy", group="transactions")
def discard(c, argv):
    """Discard all commands issued after MULTI."""
    if c.multi is None:
        raise CommandError("ERR DISCARD without MULTI")
    discard_transaction(c)
    unwatch_all(c)
    return OK


@command("exec", 1, "noscript loading stale skip_slowlog", group="transactions")
def exec_(c, argv):
    """Execute all commands issued after MULTI."""
    from emberkv.server.dispatch import call

    if c.multi is None:
        raise CommandError("ERR EXEC without MULTI")
    queued = c.multi
    if c.multi_error:
        discard_transaction(c)
        unwatch_all(c)
        raise CommandError("EXECABORT Transaction discarded because of previous errors.")
    c.ks.now_ms = wall_ms()
    if c.dirty_cas or _watched_key_expired(c):
        discard_transaction(c)
        unwatch_all(c)
        return NULL_ARRAY
    unwatch_all(c)
    discard_transaction(c)
    server = c.server
    c.out.append(b"*%d\r\n" % len(queued))
    c.in_exec = True
    try:
        for cmd, args in queued:
            refusal = server.refuse_reason(c, cmd)
            if refusal is not None:
                c.out.append(b"-%s\r\n" % refusal)
                continue
            call(c, cmd, args)
    finally:
        c.in_exec = False
    server.flush_effects(multi=True)
    return NO_REPLY


@command("watch", -2, "noscript loading stale fast allow_busy", keys=(1, -1, 1), group="transactions")
def watch(c, argv):
    """Watch the given keys to determine execution of the MULTI/EXEC block."""
    if c.multi is not None:
        raise CommandError("ERR WATCH inside MULTI is not allowed")
    now = c.ks.now_ms
    for key in argv[1:]:
        if any(db is c.db and k == key for db, k, _ in c.watched):
            continue
        when = c.db.expires.get(key)
        c.watched.append((c.db, key, when is not None and when <= now))
        c.db.watched.setdefault(key, set()).add(c)
    return OK


@command("unwatch", 1, "noscript loading stale fast allow_busy", group="transactions")
def unwatch(c, argv):
    """Forget about all watched keys."""
    unwatch_all(c)
    return OK


def discard_transaction(c) -> None:
    c.multi = None
    c.multi_error = False


def unwatch_all(c) -> None:
    for db, key, _ in c.watched:
        clients = db.watched.get(key)
        if clients is not None:
            clients.discard(c)
            if not clients:
                del db.watched[key]
    c.watched = []
    c.dirty_cas = False


def _watched_key_expired(c) -> bool:
    """A key that was live when WATCHed and has logically expired since aborts the transaction."""
    now = c.ks.now_ms
    for db, key, was_expired in c.watched:
        when = db.expires.get(key)
        if not was_expired and when is not None and when <= now and key in db.data:
            return True
    return False
