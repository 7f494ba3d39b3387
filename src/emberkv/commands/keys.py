"""Keyspace commands: DEL, EXISTS, TYPE, KEYS, SCAN, RENAME, MOVE, COPY, TOUCH, DBSIZE, RANDOMKEY,
FLUSHDB and FLUSHALL. Expiry commands live in commands/expire.py, OBJECT in commands/object.py."""

from __future__ import annotations

import random

from emberkv.commands.args import parse_int
from emberkv.commands.errors import DB_INDEX_OUT_OF_RANGE, NO_SUCH_KEY, SYNTAX, CommandError
from emberkv.commands.table import command
from emberkv.keyspace.db import NOTIFY_GENERIC
from emberkv.keyspace.glob import glob_match
from emberkv.keyspace.scan import ScanCursors, parse_cursor
from emberkv.keyspace.values import TYPE_NAMES, copy_value
from emberkv.protocol.replies import OK, SimpleString

# One set of SCAN cursors per server process (owners are the databases' dicts).
CURSORS = ScanCursors()


@command("del", -2, "write", keys=(1, -1, 1), group="keyspace")
def del_(c, argv):
    """Delete a key."""
    return _delete_keys(c, argv)


@command("unlink", -2, "write fast", keys=(1, -1, 1), group="keyspace")
def unlink(c, argv):
    """Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking."""
    return _delete_keys(c, argv)


def _delete_keys(c, argv) -> int:
    ks, db = c.ks, c.db
    removed = 0
    for key in argv[1:]:
        if ks.delete_key(db, key):
            ks.notify(NOTIFY_GENERIC, b"del", db, key)
            removed += 1
    return removed


@command("exists", -2, "readonly fast", keys=(1, -1, 1), group="keyspace")
def exists(c, argv):
    """Determine if a key exists."""
    ks, db = c.ks, c.db
    return sum(1 for key in argv[1:] if ks.exists(db, key))


@command("touch", -2, "readonly fast", keys=(1, -1, 1), group="keyspace")
def touch(c, argv):
    """Alters the last access time of a key(s). Returns the number of existing keys specified."""
    return exists(c, argv)


@command("type", 2, "readonly fast", keys=(1, 1, 1), group="keyspace")
def type_(c, argv):
    """Determine the type stored at key."""
    value = c.ks.lookup_read(c.db, argv[1])
    return SimpleString(b"none" if value is None else TYPE_NAMES[type(value)])


@command("dbsize", 1, "readonly fast", group="keyspace")
def dbsize(c, argv):
    """Return the number of keys in the selected database."""
    return len(c.db.data)


@command("keys", 2, "readonly", group="keyspace")
def keys(c, argv):
    """Find all keys matching the given pattern."""
    pattern = argv[1]
    db, now = c.db, c.ks.now_ms
    expires = db.expires
    found = list(db.data) if pattern == b"*" else [k for k in db.data if glob_match(pattern, k)]
    if expires:
        found = [k for k in found if expires.get(k, now + 1) > now]
    return found


@command("scan", -2, "readonly", group="keyspace")
def scan(c, argv):
    """Incrementally iterate the keys space."""
    cursor = parse_cursor(argv[1])
    pattern, count, kind = parse_scan_options(argv, 2, allow_type=True)
    db = c.db
    next_cursor, found = CURSORS.step(db.data, cursor, lambda: db.data, count)
    now = c.ks.now_ms
    result = []
    for key in found:
        value = db.data.get(key)
        if value is None:
            continue
        when = db.expires.get(key)
        if when is not None and when <= now:
            c.ks.expire_if_needed(db, key)
            continue
        if pattern is not None and not glob_match(pattern, key):
            continue
        if kind is not None and TYPE_NAMES[type(value)] != kind:
            continue
        result.append(key)
    return [b"%d" % next_cursor, result]


def parse_scan_options(argv: list[bytes], start: int, allow_type: bool = False):
    """MATCH, COUNT (and TYPE for SCAN) after the cursor: (pattern or None, count, type or None)."""
    pattern, count, kind = None, 10, None
    i = start
    while i < len(argv):
        option = argv[i].lower()
        if i + 1 >= len(argv):
            raise CommandError(SYNTAX)
        if option == b"count":
            count = parse_int(argv[i + 1])
            if count < 1:
                raise CommandError(SYNTAX)
        elif option == b"match":
            pattern = None if argv[i + 1] == b"*" else argv[i + 1]
        elif option == b"type" and allow_type:
            kind = argv[i + 1].lower()
        else:
            raise CommandError(SYNTAX)
        i += 2
    return pattern, count, kind


@command("randomkey", 1, "readonly", group="keyspace")
def randomkey(c, argv):
    """Return a random key from the keyspace."""
    db, ks = c.db, c.ks
    for _ in range(100):
        if not db.data:
            return None
        key = random.choice(list(db.data)) if len(db.data) < 4096 else _random_key(db.data)
        if ks.exists(db, key):
            return key
    return key


def _random_key(data: dict) -> bytes:
    # Skipping to a random position runs in C; cheaper than copying a large key list.
    it = iter(data)
    for _ in range(random.randrange(len(data))):
        next(it)
    return next(it)


@command("rename", 3, "write", keys=(1, 2, 1), group="keyspace")
def rename(c, argv):
    """Rename a key."""
    _rename(c, argv[1], argv[2], nx=False)
    return OK


@command("renamenx", 3, "write fast", keys=(1, 2, 1), group="keyspace")
def renamenx(c, argv):
    """Rename a key, only if the new key does not exist."""
    return 1 if _rename(c, argv[1], argv[2], nx=True) else 0


def _rename(c, src: bytes, dst: bytes, nx: bool) -> bool:
    ks, db = c.ks, c.db
    value = ks.lookup_write(db, src)
    if value is None:
        raise CommandError(NO_SUCH_KEY)
    if src == dst:
        return not nx
    if nx and ks.exists(db, dst):
        return False
    when = db.expires.get(src)
    dirty = ks.dirty
    ks.delete_key(db, dst)
    ks.delete_key(db, src)
    ks.set_key(db, dst, value)
    if when is not None:
        ks.set_expire(db, dst, when)
    ks.dirty = dirty + 1  # one logical change, as Redis counts it (and the AOF must see a change)
    ks.notify(NOTIFY_GENERIC, b"rename_from", db, src)
    ks.notify(NOTIFY_GENERIC, b"rename_to", db, dst)
    ks.signal_ready(db, dst)
    return True


@command("move", 3, "write fast", keys=(1, 1, 1), group="keyspace")
def move(c, argv):
    """Move a key to another database."""
    ks, src_db = c.ks, c.db
    try:
        index = parse_int(argv[2])
    except CommandError:
        raise CommandError("ERR value is not an integer or out of range") from None
    if not 0 <= index < len(ks.dbs):
        raise CommandError(DB_INDEX_OUT_OF_RANGE)
    if index == src_db.id:
        raise CommandError("ERR source and destination objects are the same")
    dst_db = ks.dbs[index]
    key = argv[1]
    value = ks.lookup_write(src_db, key)
    if value is None or ks.exists(dst_db, key):
        return 0
    when = src_db.expires.get(key)
    ks.delete_key(src_db, key)
    ks.add_key(dst_db, key, value)
    if when is not None:
        ks.set_expire(dst_db, key, when)
    ks.notify(NOTIFY_GENERIC, b"move_from", src_db, key)
    ks.notify(NOTIFY_GENERIC, b"move_to", dst_db, key)
    ks.signal_ready(dst_db, key)
    return 1


@command("copy", -3, "write denyoom", keys=(1, 2, 1), group="keyspace")
def copy_(c, argv):
    """Copy a key."""
    ks, src_db = c.ks, c.db
    dst_db, replace = src_db, False
    i = 3
    while i < len(argv):
        option = argv[i].lower()
        if option == b"replace":
            replace = True
            i += 1
        elif option == b"db" and i + 1 < len(argv):
            try:
                index = parse_int(argv[i + 1])
            except CommandError:
                raise CommandError("ERR value is not an integer or out of range") from None
            if not 0 <= index < len(ks.dbs):
                raise CommandError(DB_INDEX_OUT_OF_RANGE)
            dst_db = ks.dbs[index]
            i += 2
        else:
            raise CommandError(SYNTAX)
    src, dst = argv[1], argv[2]
    if src == dst and src_db is dst_db:
        raise CommandError("ERR source and destination objects are the same")
    value = ks.lookup_read(src_db, src)
    if value is None:
        return 0
    if ks.exists(dst_db, dst):
        if not replace:
            return 0
        ks.delete_key(dst_db, dst)
    ks.add_key(dst_db, dst, copy_value(value))
    when = src_db.expires.get(src)
    if when is not None:
        ks.set_expire(dst_db, dst, when)
    ks.notify(NOTIFY_GENERIC, b"copy_to", dst_db, dst)
    ks.signal_ready(dst_db, dst)
    return 1


@command("flushdb", -1, "write", group="keyspace")
def flushdb(c, argv):
    """Remove all keys from the current database."""
    _flush_option(argv)
    c.ks.flush_db(c.db)
    c.ks.dirty += 1  # always propagated, even when the database was empty
    return OK


@command("flushall", -1, "write", group="keyspace")
def flushall(c, argv):
    """Remove all keys from all databases."""
    _flush_option(argv)
    ks = c.ks
    for db in ks.dbs:
        ks.flush_db(db)
    ks.dirty += 1
    for hook in c.server.flushall_hooks:
        hook()
    return OK


def _flush_option(argv: list[bytes]) -> None:
    if len(argv) > 2 or (len(argv) == 2 and argv[1].lower() not in (b"async", b"sync")):
        raise CommandError(SYNTAX)
