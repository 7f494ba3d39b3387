"""Persistence commands: SAVE, BGSAVE, LASTSAVE, DEBUG RELOAD, DUMP and RESTORE."""

from __future__ import annotations

from emberkv.commands.args import parse_int
from emberkv.commands.errors import SYNTAX, CommandError
from emberkv.commands.server import register_debug
from emberkv.commands.table import command
from emberkv.keyspace.db import NOTIFY_GENERIC
from emberkv.persistence.rdb.dump import dump_payload, restore_payload
from emberkv.persistence.rdb.errors import DumpError
from emberkv.persistence.saving import encoding_limits
from emberkv.protocol.replies import OK, SimpleString


@command("save", 1, "admin noscript no_multi", group="server")
def save(c, argv):
    """Write the dataset to the RDB file now, synchronously."""
    rdb = c.server.rdb
    if rdb.bgsave is not None:
        raise CommandError("ERR Background save already in progress")
    c.server.persistence.rdb_saves += 1  # the command counts, not the saves FLUSHALL etc. make
    if not rdb.save():
        raise CommandError("ERR")
    return OK


@command("bgsave", -1, "admin noscript", group="server")
def bgsave(c, argv):
    """Write the dataset to the RDB file in the background."""
    schedule = False
    if len(argv) == 2 and argv[1].lower() == b"schedule":
        schedule = True
    elif len(argv) > 1:
        raise CommandError(SYNTAX)
    rdb = c.server.rdb
    if rdb.bgsave is not None:
        raise CommandError("ERR Background save already in progress")
    if c.server.keyspace.snapshot is not None or c.in_exec:
        # Another snapshot (an AOF rewrite) is running, or we are inside a transaction.
        if schedule or c.in_exec:
            rdb.bgsave_scheduled = True
            return SimpleString(b"Background saving scheduled")
        raise CommandError(
            "ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE "
            "SCHEDULE in order to schedule a BGSAVE whenever possible."
        )
    rdb.start_bgsave()
    return SimpleString(b"Background saving started")


@command("lastsave", 1, "loading stale fast", group="server")
def lastsave(c, argv):
    """Unix time of the last successful save."""
    return c.server.persistence.rdb_last_save_time


def _debug_reload(c, argv):
    """DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: save, then load the file back in place of the dataset.

    Another snapshot running meanwhile (an AOF rewrite) is safe: the loaded dataset comes in fresh
    dicts, or through set_key with NOFLUSH."""
    from emberkv.persistence.loading import LoadError, load_rdb_now

    options = {a.lower() for a in argv[2:]}
    if options - {b"merge", b"noflush", b"nosave"}:
        raise CommandError("ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.")
    server, rdb = c.server, c.server.rdb
    rdb.abort_bgsave()
    if b"nosave" not in options and not rdb.save():
        raise CommandError("ERR Error trying to save the RDB dump")
    try:
        load_rdb_now(server, rdb.path, flush=b"noflush" not in options, merge=b"merge" in options)
    except LoadError as exc:
        server.log.warning(str(exc))
        raise CommandError("ERR Error trying to load the RDB dump") from None
    server.log.warning("DB reloaded by DEBUG RELOAD")
    return OK


register_debug(b"reload", lambda n: n >= 2, _debug_reload)


@command("dump", 2, "readonly", keys=(1, 1, 1), group="keyspace")
def dump(c, argv):
    """Serialize the value at key in Redis's DUMP format."""
    value = c.ks.lookup_read(c.db, argv[1])
    if value is None:
        return None
    config = c.server.config
    return dump_payload(value, encoding_limits(config), config["rdbcompression"])


@command("restore", -4, "write denyoom", keys=(1, 1, 1), group="keyspace")
def restore(c, argv):
    """Create a key from a DUMP payload."""
    key, payload = argv[1], argv[3]
    ttl = parse_int(argv[2])
    replace = absttl = False
    seen_idle = seen_freq = False
    i = 4
    while i < len(argv):
        option = argv[i].lower()
        if option == b"replace":
            replace = True
        elif option == b"absttl":
            absttl = True
        elif option == b"idletime" and i + 1 < len(argv) and not seen_freq:
            seen_idle = True
            i += 1
            if parse_int(argv[i]) < 0:
                raise CommandError("ERR Invalid IDLETIME value, must be >= 0")
        elif option == b"freq" and i + 1 < len(argv) and not seen_idle:
            seen_freq = True
            i += 1
            freq = parse_int(argv[i])
            if not 0 <= freq <= 255:
                raise CommandError("ERR Invalid FREQ value, must be >= 0 and <= 255")
        else:
            raise CommandError(SYNTAX)
        i += 1
    if ttl < 0:
        raise CommandError("ERR Invalid TTL value, must be >= 0")
    ks, db = c.ks, c.db
    if not replace and ks.exists(db, key):
        raise CommandError("BUSYKEY Target key name already exists.")
    try:
        value = restore_payload(payload, encoding_limits(c.server.config))
    except DumpError as exc:
        raise CommandError(str(exc)) from None
    when = None
    if ttl:
        when = ttl if absttl else ks.now_ms + ttl
    existed = ks.delete_key(db, key)
    if when is not None and when <= ks.now_ms:
        # Already expired: nothing is created (a replaced key is simply gone).
        if existed:
            c.propagate_as = [[b"DEL", key]]
            ks.notify(NOTIFY_GENERIC, b"del", db, key)
        return OK
    ks.add_key(db, key, value)
    if when is not None:
        ks.set_expire(db, key, when)
        c.propagate_as = [[b"RESTORE", key, b"%d" % when, payload, b"ABSTTL"]
                          + ([b"REPLACE"] if replace else [])]
    ks.notify(NOTIFY_GENERIC, b"restore", db, key)
    ks.signal_ready(db, key)
    return OK
