"""OBJECT ENCODING / REFCOUNT / IDLETIME / FREQ / HELP: what Redis would say about a key's storage."""

from __future__ import annotations

from emberkv.commands.errors import CommandError
from emberkv.commands.table import command
from emberkv.keyspace.values import (
    HashValue,
    ListValue,
    SetValue,
    ZSetValue,
    as_int_or_none,
    string_encoding,
)
from emberkv.protocol.replies import SimpleString

# Redis shares the integer objects 0..9999; OBJECT REFCOUNT reports them as "never freed".
SHARED_INTEGERS = 10000
SHARED_REFCOUNT = 2147483647

_CONTAINER_ENCODINGS = {
    ListValue: (b"quicklist", b"quicklist"),
    HashValue: (b"listpack", b"hashtable"),
    SetValue: (b"intset", b"hashtable"),
    ZSetValue: (b"listpack", b"skiplist"),
}


def object_encoding(value) -> bytes:
    encodings = _CONTAINER_ENCODINGS.get(type(value))
    if encodings is None:
        return string_encoding(value)
    return encodings[1] if getattr(value, "big", False) else encodings[0]


def _lookup(c, key: bytes):
    # OBJECT does not count as an access: no hit/miss statistics, but expired keys are gone.
    if not c.ks.exists(c.db, key):
        return None
    return c.db.data[key]


@command("encoding", 3, "readonly", keys=(2, 2, 1), parent="object")
def object_encoding_cmd(c, argv):
    value = _lookup(c, argv[2])
    return None if value is None else object_encoding(value)


@command("refcount", 3, "readonly", keys=(2, 2, 1), parent="object")
def object_refcount(c, argv):
    value = _lookup(c, argv[2])
    if value is None:
        return None
    if isinstance(value, bytes) and type(value) is bytes:
        number = as_int_or_none(value)
        if number is not None and 0 <= number < SHARED_INTEGERS:
            return SHARED_REFCOUNT
    return 1


@command("idletime", 3, "readonly", keys=(2, 2, 1), parent="object")
def object_idletime(c, argv):
    value = _lookup(c, argv[2])
    if value is None:
        return None
    if "lfu" in c.server.config["maxmemory-policy"]:
        raise CommandError(
            "ERR An LRU maxmemory policy is selected, idle time not tracked. Please note that when "
            "switching between policies at runtime LRU and LFU data will take some time to adjust."
        )
    # Access times are not tracked per key (it would cost memory on every key): report 0.
    return 0


@command("freq", 3, "readonly", keys=(2, 2, 1), parent="object")
def object_freq(c, argv):
    value = _lookup(c, argv[2])
    if value is None:
        return None
    if "lfu" not in c.server.config["maxmemory-policy"]:
        raise CommandError(
            "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note "
            "that when switching between policies at runtime LRU and LFU data will take some time "
            "to adjust."
        )
    return 0


OBJECT_HELP = [
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>", "    The internal representation of the value at <key>.",
    "FREQ <key>", "    The access frequency of <key> (only with an LFU maxmemory-policy).",
    "IDLETIME <key>", "    Seconds since <key> was last accessed.",
    "REFCOUNT <key>", "    How many references the value at <key> has.",
    "HELP", "    This text.",
]


@command("help", 2, "loading stale", parent="object")
def object_help(c, argv):
    return [SimpleString(line.encode()) for line in OBJECT_HELP]
