"""Expiry commands: EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT, TTL, PTTL, EXPIRETIME, PEXPIRETIME, PERSIST.

Times are kept as absolute milliseconds. Every form is logged as ``PEXPIREAT key <abs ms>`` (or a DEL
when the time has already passed), so replaying the log later gives the same deadline.
"""

from __future__ import annotations

from emberkv.commands.args import INT64_MAX, INT64_MIN, parse_int
from emberkv.commands.errors import INVALID_EXPIRE, CommandError
from emberkv.commands.table import command
from emberkv.keyspace.db import NOTIFY_GENERIC


def _expire_generic(c, argv, base_ms: int, unit_ms: int) -> int:
    name = argv[0].lower().decode()
    nx = xx = gt = lt = False
    for raw in argv[3:]:
        option = raw.lower()
        if option == b"nx":
            nx = True
        elif option == b"xx":
            xx = True
        elif option == b"gt":
            gt = True
        elif option == b"lt":
            lt = True
        else:
            raise CommandError(f"ERR Unsupported option {raw.decode('utf-8', 'replace')}")
    if nx and (xx or gt or lt):
        raise CommandError("ERR NX and XX, GT or LT options at the same time are not compatible")
    if gt and lt:
        raise CommandError("ERR GT and LT options at the same time are not compatible")
    when = parse_int(argv[2])
    if unit_ms == 1000:
        if when > INT64_MAX // 1000 or when < -(-INT64_MIN // 1000):
            raise CommandError(INVALID_EXPIRE.format(name))
        when *= 1000
    if when > INT64_MAX - base_ms:
        raise CommandError(INVALID_EXPIRE.format(name))
    when += base_ms
    ks, db, key = c.ks, c.db, argv[1]
    if ks.lookup_write(db, key) is None:
        return 0
    current = db.expires.get(key)
    if nx and current is not None:
        return 0
    if xx and current is None:
        return 0
    if gt and (current is None or when <= current):
        return 0
    if lt and current is not None and when >= current:
        return 0
    if when <= ks.now_ms:
        ks.delete_key(db, key)
        c.propagate_as = [[b"DEL", key]]
        ks.notify(NOTIFY_GENERIC, b"del", db, key)
        return 1
    ks.set_expire(db, key, when)
    c.propagate_as = [[b"PEXPIREAT", key, b"%d" % when] + argv[3:]]
    ks.notify(NOTIFY_GENERIC, b"expire", db, key)
    return 1


@command("expire", -3, "write fast", keys=(1, 1, 1), group="keyspace")
def expire(c, argv):
    """Set a key's time to live in seconds."""
    return _expire_generic(c, argv, c.ks.now_ms, 1000)


@command("pexpire", -3, "write fast", keys=(1, 1, 1), group="keyspace")
def pexpire(c, argv):
    """Set a key's time to live in milliseconds."""
    return _expire_generic(c, argv, c.ks.now_ms, 1)


@command("expireat", -3, "write fast", keys=(1, 1, 1), group="keyspace")
def expireat(c, argv):
    """Set the expiration for a key as a UNIX timestamp."""
    return _expire_generic(c, argv, 0, 1000)


@command("pexpireat", -3, "write fast", keys=(1, 1, 1), group="keyspace")
def pexpireat(c, argv):
    """Set the expiration for a key as a UNIX timestamp specified in milliseconds."""
    return _expire_generic(c, argv, 0, 1)


def _ttl_generic(c, key: bytes, absolute: bool, unit_ms: int) -> int:
    ks, db = c.ks, c.db
    if ks.lookup_read(db, key) is None:
        return -2
    when = db.expires.get(key)
    if when is None:
        return -1
    if absolute:
        return when if unit_ms == 1 else (when + 500) // 1000
    left = max(0, when - ks.now_ms)
    return left if unit_ms == 1 else (left + 500) // 1000


@command("ttl", 2, "readonly fast", keys=(1, 1, 1), group="keyspace")
def ttl(c, argv):
    """Get the time to live for a key in seconds."""
    return _ttl_generic(c, argv[1], False, 1000)


@command("pttl", 2, "readonly fast", keys=(1, 1, 1), group="keyspace")
def pttl(c, argv):
    """Get the time to live for a key in milliseconds."""
    return _ttl_generic(c, argv[1], False, 1)


@command("expiretime", 2, "readonly fast", keys=(1, 1, 1), group="keyspace")
def expiretime(c, argv):
    """Get the expiration Unix timestamp for a key."""
    return _ttl_generic(c, argv[1], True, 1000)


@command("pexpiretime", 2, "readonly fast", keys=(1, 1, 1), group="keyspace")
def pexpiretime(c, argv):
    """Get the expiration Unix timestamp for a key in milliseconds."""
    return _ttl_generic(c, argv[1], True, 1)


@command("persist", 2, "write fast", keys=(1, 1, 1), group="keyspace")
def persist(c, argv):
    """Remove the expiration from a key."""
    ks, db, key = c.ks, c.db, argv[1]
    if ks.lookup_write(db, key) is None or not ks.remove_expire(db, key):
        return 0
    ks.notify(NOTIFY_GENERIC, b"persist", db, key)
    return 1
