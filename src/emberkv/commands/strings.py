"""String commands: GET and the SET family, GETSET/GETDEL/GETEX, MGET/MSET/MSETNX, APPEND, STRLEN,
GETRANGE/SUBSTR and SETRANGE. Counters (INCR...) live in strings_counters.py, LCS in strings_lcs.py.

A string is stored as ``bytes`` when it was written whole (SET and friends: OBJECT ENCODING derives
int/embstr/raw from the content, as Redis's tryObjectEncoding would) and as ``RawString`` once it has
been changed in place (APPEND, SETRANGE), which Redis always reports as raw.

GET and plain ``SET k v`` are what benchmarks measure, so both take a short path before any option
parsing. Relative expire times are propagated as ``SET k v PXAT <abs ms>`` so that replaying the AOF
later gives the same deadline.
"""

from __future__ import annotations

from emberkv.commands.args import INT64_MAX, parse_int
from emberkv.commands.errors import (
    INVALID_EXPIRE,
    STRING_TOO_LONG,
    SYNTAX,
    WRONGTYPE,
    CommandError,
    wrong_arity,
)
from emberkv.commands.table import command
from emberkv.keyspace.db import NOTIFY_GENERIC, NOTIFY_STRING
from emberkv.keyspace.values import RawString
from emberkv.protocol.replies import OK
from emberkv.protocol.resp import register_bulk_type

# RawString values are replied as they are, without the encoder's slow subclass fallback.
register_bulk_type(RawString)

OFFSET_OUT_OF_RANGE = "ERR offset is out of range"

# Expire options of SET and GETEX: name -> (milliseconds per unit, relative to now?)
EXPIRE_UNITS = {b"ex": (1000, True), b"px": (1, True), b"exat": (1000, False), b"pxat": (1, False)}


def string_value(value: object) -> bytes | None:
    """value when it is a string (or None when missing); WRONGTYPE for any other type."""
    if value is None or type(value) is bytes or type(value) is RawString:
        return value  # type: ignore[return-value]
    raise CommandError(WRONGTYPE)


def expire_at_ms(c, raw: bytes, option: bytes, name: str) -> int:
    """The absolute expire time (ms) that an EX/PX/EXAT/PXAT argument asks for, checked as Redis does."""
    unit_ms, relative = EXPIRE_UNITS[option]
    when = parse_int(raw)
    if when <= 0 or (unit_ms == 1000 and when > INT64_MAX // 1000):
        raise CommandError(INVALID_EXPIRE.format(name))
    when *= unit_ms
    if relative:
        when += c.ks.now_ms
        if when > INT64_MAX:
            raise CommandError(INVALID_EXPIRE.format(name))
    return when


def max_string_length(c) -> int:
    return c.server.config["proto-max-bulk-len"]


# -- GET / SET -----------------------------------------------------------------------------------


@command("get", 2, "readonly fast", keys=(1, 1, 1), group="string")
def get(c, argv):
    """Return the string stored at a key."""
    value = c.ks.lookup_read(c.db, argv[1])
    if value is None or type(value) is bytes or type(value) is RawString:
        return value
    raise CommandError(WRONGTYPE)


@command("set", -3, "write denyoom", keys=(1, 1, 1), group="string")
def set_(c, argv):
    """Store a string at a key, with optional expiry and conditions."""
    if len(argv) != 3:
        return _set_with_options(c, argv)
    ks, db, key = c.ks, c.db, argv[1]
    if db.expires and key in db.expires:
        # An expired old value is reported as expired (event, DEL in the AOF) before it is replaced.
        ks.expire_if_needed(db, key)
    ks.set_key(db, key, argv[2])
    if ks.notify_flags:
        ks.notify(NOTIFY_STRING, b"set", db, key)
    return OK


def _parse_set_options(argv: list[bytes]) -> tuple[bool, bool, bool, bool, tuple[bytes, bytes] | None]:
    """SET's NX/XX/GET/KEEPTTL/EX/PX/EXAT/PXAT; conflicting or incomplete options are a syntax error.

    Repeating an option is accepted (the last expire value wins), mixing expire units is not."""
    nx = xx = get_old = keepttl = False
    expire: tuple[bytes, bytes] | None = None
    i, argc = 3, len(argv)
    while i < argc:
        option = argv[i].lower()
        if option == b"nx" and not xx:
            nx = True
        elif option == b"xx" and not nx:
            xx = True
        elif option == b"get":
            get_old = True
        elif option == b"keepttl" and expire is None:
            keepttl = True
        elif (option in EXPIRE_UNITS and not keepttl and i + 1 < argc
              and (expire is None or expire[0] == option)):
            i += 1
            expire = (option, argv[i])
        else:
            raise CommandError(SYNTAX)
        i += 1
    return nx, xx, get_old, keepttl, expire


def _set_with_options(c, argv: list[bytes]):
    nx, xx, get_old, keepttl, expire = _parse_set_options(argv)
    when = expire_at_ms(c, expire[1], expire[0], "set") if expire is not None else None
    ks, db, key, value = c.ks, c.db, argv[1], argv[2]
    old = string_value(ks.lookup_read(db, key)) if get_old else None
    found = ks.exists(db, key)
    if (nx and found) or (xx and not found):
        return old
    ks.set_key(db, key, value, keepttl=keepttl)
    ks.notify(NOTIFY_STRING, b"set", db, key)
    if when is not None:
        ks.set_expire(db, key, when)
        ks.notify(NOTIFY_GENERIC, b"expire", db, key)
        c.propagate_as = [[b"SET", key, value, b"PXAT", b"%d" % when]]
    elif get_old:
        c.propagate_as = [argv[:3] + [arg for arg in argv[3:] if arg.lower() != b"get"]]
    return old if get_old else OK


def _set_expiring(c, key: bytes, value: bytes, when: int) -> None:
    ks, db = c.ks, c.db
    if db.expires and key in db.expires:
        ks.expire_if_needed(db, key)
    ks.set_key(db, key, value)
    ks.set_expire(db, key, when)
    ks.notify(NOTIFY_STRING, b"set", db, key)
    ks.notify(NOTIFY_GENERIC, b"expire", db, key)
    c.propagate_as = [[b"SET", key, value, b"PXAT", b"%d" % when]]


@command("setex", 4, "write denyoom", keys=(1, 1, 1), group="string")
def setex(c, argv):
    """Store a string with a time to live in seconds."""
    _set_expiring(c, argv[1], argv[3], expire_at_ms(c, argv[2], b"ex", "setex"))
    return OK


@command("psetex", 4, "write denyoom", keys=(1, 1, 1), group="string")
def psetex(c, argv):
    """Store a string with a time to live in milliseconds."""
    _set_expiring(c, argv[1], argv[3], expire_at_ms(c, argv[2], b"px", "psetex"))
    return OK


@command("setnx", 3, "write denyoom fast", keys=(1, 1, 1), group="string")
def setnx(c, argv):
    """Store a string only if the key does not exist yet; 1 if it was stored."""
    ks, db, key = c.ks, c.db, argv[1]
    if ks.exists(db, key):
        return 0
    ks.add_key(db, key, argv[2])
    ks.notify(NOTIFY_STRING, b"set", db, key)
    return 1


@command("getset", 3, "write denyoom fast", keys=(1, 1, 1), group="string")
def getset(c, argv):
    """Store a string and return the one it replaced."""
    ks, db, key = c.ks, c.db, argv[1]
    old = string_value(ks.lookup_read(db, key))
    ks.set_key(db, key, argv[2])
    ks.notify(NOTIFY_STRING, b"set", db, key)
    c.propagate_as = [[b"SET", key, argv[2]]]
    return old


@command("getdel", 2, "write fast", keys=(1, 1, 1), group="string")
def getdel(c, argv):
    """Return a string and delete its key."""
    ks, db, key = c.ks, c.db, argv[1]
    value = string_value(ks.lookup_read(db, key))
    if value is not None:
        ks.delete_key(db, key)
        ks.notify(NOTIFY_GENERIC, b"del", db, key)
        lazy = c.server.config["lazyfree-lazy-user-del"]
        c.propagate_as = [[b"UNLINK" if lazy else b"DEL", key]]
    return value


def _parse_getex_options(argv: list[bytes]) -> tuple[bool, tuple[bytes, bytes] | None]:
    persist = False
    expire: tuple[bytes, bytes] | None = None
    i, argc = 2, len(argv)
    while i < argc:
        option = argv[i].lower()
        if option == b"persist" and expire is None:
            persist = True
        elif (option in EXPIRE_UNITS and not persist and i + 1 < argc
              and (expire is None or expire[0] == option)):
            i += 1
            expire = (option, argv[i])
        else:
            raise CommandError(SYNTAX)
        i += 1
    return persist, expire


@command("getex", -2, "write fast", keys=(1, 1, 1), group="string")
def getex(c, argv):
    """Return a string and change or remove its time to live."""
    persist, expire = _parse_getex_options(argv)
    ks, db, key = c.ks, c.db, argv[1]
    value = string_value(ks.lookup_read(db, key))
    if value is None:
        return None
    if expire is not None:
        when = expire_at_ms(c, expire[1], expire[0], "getex")
        if when <= ks.now_ms:
            # An absolute time already past deletes the key, as an expire would.
            ks.delete_key(db, key)
            ks.notify(NOTIFY_GENERIC, b"del", db, key)
            lazy = c.server.config["lazyfree-lazy-expire"]
            c.propagate_as = [[b"UNLINK" if lazy else b"DEL", key]]
        else:
            ks.set_expire(db, key, when)
            ks.notify(NOTIFY_GENERIC, b"expire", db, key)
            c.propagate_as = [[b"PEXPIREAT", key, b"%d" % when]]
    elif persist and ks.remove_expire(db, key):
        ks.notify(NOTIFY_GENERIC, b"persist", db, key)
        c.propagate_as = [[b"PERSIST", key]]
    return value


# -- several keys --------------------------------------------------------------------------------


@command("mget", -2, "readonly fast", keys=(1, -1, 1), group="string")
def mget(c, argv):
    """Return the strings of several keys (null for missing keys and other types)."""
    ks, db = c.ks, c.db
    out = []
    for key in argv[1:]:
        value = ks.lookup_read(db, key)
        out.append(value if value is None or type(value) is bytes or type(value) is RawString
                   else None)
    return out


@command("mset", -3, "write denyoom", keys=(1, -1, 2), group="string")
def mset(c, argv):
    """Store several strings at once."""
    if len(argv) % 2 == 0:
        raise CommandError(wrong_arity("mset"))
    ks, db = c.ks, c.db
    expires = db.expires
    for i in range(1, len(argv), 2):
        key = argv[i]
        if expires and key in expires:
            ks.expire_if_needed(db, key)
        ks.set_key(db, key, argv[i + 1])
        if ks.notify_flags:
            ks.notify(NOTIFY_STRING, b"set", db, key)
    return OK


@command("msetnx", -3, "write denyoom", keys=(1, -1, 2), group="string")
def msetnx(c, argv):
    """Store several strings only if none of the keys exists; 1 if they were stored."""
    if len(argv) % 2 == 0:
        raise CommandError(wrong_arity("msetnx"))
    ks, db = c.ks, c.db
    if any(ks.exists(db, argv[i]) for i in range(1, len(argv), 2)):
        return 0
    for i in range(1, len(argv), 2):
        ks.set_key(db, argv[i], argv[i + 1])
        ks.notify(NOTIFY_STRING, b"set", db, argv[i])
    return 1


# -- in-place edits and ranges -------------------------------------------------------------------


@command("append", 3, "write denyoom fast", keys=(1, 1, 1), group="string")
def append(c, argv):
    """Append to the string at a key (creating it); returns the new length."""
    ks, db, key, tail = c.ks, c.db, argv[1], argv[2]
    old = string_value(ks.lookup_write(db, key))
    if old is None:
        ks.add_key(db, key, tail)
        new_len = len(tail)
    else:
        new_len = len(old) + len(tail)
        if new_len > max_string_length(c):
            raise CommandError(STRING_TOO_LONG)
        ks.set_key(db, key, RawString(old + tail), keepttl=True)
    ks.notify(NOTIFY_STRING, b"append", db, key)
    return new_len


@command("strlen", 2, "readonly fast", keys=(1, 1, 1), group="string")
def strlen(c, argv):
    """Return the length of the string at a key (0 when missing)."""
    value = string_value(c.ks.lookup_read(c.db, argv[1]))
    return 0 if value is None else len(value)


@command("getrange", 4, "readonly", keys=(1, 1, 1), group="string")
def getrange(c, argv):
    """Return the substring between two offsets (inclusive, negative counts from the end)."""
    start, end = parse_int(argv[2]), parse_int(argv[3])
    value = string_value(c.ks.lookup_read(c.db, argv[1]))
    if not value or (start < 0 and end < 0 and start > end):
        return b""
    size = len(value)
    if start < 0:
        start = max(size + start, 0)
    if end < 0:
        end = max(size + end, 0)
    end = min(end, size - 1)
    return b"" if start > end else value[start:end + 1]


@command("substr", 4, "readonly", keys=(1, 1, 1), group="string")
def substr(c, argv):
    """Return a substring (the old name of GETRANGE)."""
    return getrange(c, argv)


@command("setrange", 4, "write denyoom", keys=(1, 1, 1), group="string")
def setrange(c, argv):
    """Overwrite part of a string from an offset, padding with zero bytes; returns the new length."""
    offset = parse_int(argv[2])
    if offset < 0:
        raise CommandError(OFFSET_OUT_OF_RANGE)
    ks, db, key, patch = c.ks, c.db, argv[1], argv[3]
    old = string_value(ks.lookup_write(db, key))
    if not patch:
        # Nothing to write: the key is neither created nor touched.
        return 0 if old is None else len(old)
    if offset + len(patch) > max_string_length(c):
        raise CommandError(STRING_TOO_LONG)
    if old is None:
        ks.add_key(db, key, RawString(bytes(offset) + patch))
        new_len = offset + len(patch)
    else:
        head = old[:offset] if len(old) >= offset else old + bytes(offset - len(old))
        new = RawString(head + patch + old[offset + len(patch):])
        ks.set_key(db, key, new, keepttl=True)
        new_len = len(new)
    ks.notify(NOTIFY_STRING, b"setrange", db, key)
    return new_len
