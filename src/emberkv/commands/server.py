"""Server commands: INFO, CONFIG, TIME, SHUTDOWN, MONITOR and DEBUG."""

from __future__ import annotations

import time

from emberkv.commands.args import parse_float, parse_int
from emberkv.commands.errors import NOT_POSITIVE, SYNTAX, CommandError
from emberkv.commands.table import command
from emberkv.protocol.replies import NO_REPLY, OK, Map, SimpleString, Verbatim
from emberkv.server.config import ConfigError
from emberkv.server.info import render_info


@command("info", -1, "loading stale", group="server")
def info(c, argv):
    """Information and statistics about the server."""
    return Verbatim(render_info(c.server, argv[1:]))


@command("time", 1, "loading stale fast", group="server")
def time_(c, argv):
    """The server's clock: seconds and microseconds."""
    now = time.time()
    return [b"%d" % int(now), b"%d" % int((now % 1) * 1_000_000)]


@command("monitor", 1, "admin noscript loading stale", group="server")
def monitor(c, argv):
    """Stream back every command the server runs."""
    if not c.monitor:
        c.monitor = True
        c.server.monitors.append(c)
    return OK


@command("shutdown", -1, "admin noscript loading stale no_multi allow_busy", group="server")
def shutdown(c, argv):
    """Save (depending on options and save points) and stop the server."""
    save: bool | None = None
    force = False
    for raw in argv[1:]:
        option = raw.lower()
        if option == b"nosave" and save is None:
            save = False
        elif option == b"save" and save is None:
            save = True
        elif option in (b"now", b"force"):
            force = force or option == b"force"
        elif option == b"abort" and len(argv) == 2:
            raise CommandError("ERR No shutdown in progress.")
        else:
            raise CommandError(SYNTAX)
    if c.server.shutdown(save, force):
        c.close_after_reply = True
        return NO_REPLY
    raise CommandError("ERR Errors trying to SHUTDOWN. Check logs.")


# -- CONFIG ----------------------------------------------------------------------------------------

@command("get", -3, "admin noscript loading stale", parent="config")
def config_get(c, argv):
    pairs = c.server.config.get_matching(argv[2:])
    return Map([item for pair in pairs for item in pair])


@command("set", -4, "admin noscript loading stale", parent="config")
def config_set(c, argv):
    if len(argv) % 2:
        raise CommandError("ERR wrong number of arguments for 'config|set' command")
    pairs = [(argv[i], argv[i + 1]) for i in range(2, len(argv), 2)]
    try:
        c.server.config.set_many(pairs, local_client=c.local or c.unix)
    except ConfigError as exc:
        raise CommandError(exc.message) from None
    return OK


@command("resetstat", 2, "admin noscript loading stale", parent="config")
def config_resetstat(c, argv):
    from emberkv.commands.table import COMMANDS

    for cmd in COMMANDS.values():
        for entry in [cmd, *cmd.subcommands.values()]:
            entry.calls = entry.rejected_calls = entry.failed_calls = 0
            entry.seconds = 0.0
    c.server.stats.reset()
    c.ks.stat_expired_keys = c.ks.stat_keyspace_hits = c.ks.stat_keyspace_misses = 0
    return OK


@command("rewrite", 2, "admin noscript loading stale", parent="config")
def config_rewrite(c, argv):
    try:
        c.server.config.rewrite()
    except ConfigError as exc:
        raise CommandError(exc.message) from None
    c.server.log.notice("CONFIG REWRITE executed with success.")
    return OK


CONFIG_HELP = [
    "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET <pattern> [<pattern> ...]", "    The configuration parameters matching the glob patterns, with values.",
    "SET <directive> <value> [<directive> <value> ...]", "    Change parameters at run time, all or none.",
    "RESETSTAT", "    Reset the statistics INFO reports.",
    "REWRITE", "    Write the running configuration back to the config file.",
    "HELP", "    This text.",
]


@command("help", 2, "loading stale", parent="config")
def config_help(c, argv):
    return [SimpleString(line.encode()) for line in CONFIG_HELP]


# -- DEBUG -----------------------------------------------------------------------------------------

DEBUG_HELP = [
    "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DIGEST", "    A fingerprint of the whole dataset, equal to Redis's for the same data.",
    "DIGEST-VALUE <key> [<key> ...]", "    A fingerprint of each key's value.",
    "OBJECT <key>", "    Low-level information about the value at <key>.",
    "POPULATE <count> [<prefix>] [<size>]", "    Create <count> string keys <prefix>:<n> (default key:<n>).",
    "RELOAD [MERGE] [NOFLUSH] [NOSAVE]", "    Save the dataset to the RDB file and load it back.",
    "SET-ACTIVE-EXPIRE <0|1>", "    Turn the active expire cycle off or on.",
    "SLEEP <seconds>", "    Stop the server for <seconds> (a float).",
    "HELP", "    This text.",
]


def _debug_allowed(c) -> bool:
    setting = c.server.config["enable-debug-command"]
    return setting == "yes" or (setting == "local" and (c.local or c.unix))


@command("debug", -2, "admin noscript loading stale", group="server")
def debug(c, argv):
    """Debugging and testing aids (DIGEST, POPULATE, SLEEP, RELOAD, ...)."""
    if not _debug_allowed(c):
        raise CommandError(
            'ERR DEBUG command not allowed. If the enable-debug-command option is set to "local", '
            "you can run it from a local connection, otherwise you need to set this option in the "
            "configuration file, and then restart the server."
        )
    sub = argv[1].lower()
    handler = DEBUG_SUBCOMMANDS.get(sub)
    if handler is None or not handler[0](len(argv)):
        raise CommandError(
            f"ERR unknown subcommand or wrong number of arguments for "
            f"'{argv[1].decode('utf-8', 'replace')}'. Try DEBUG HELP."
        )
    return handler[1](c, argv)


def _debug_help(c, argv):
    return [SimpleString(line.encode()) for line in DEBUG_HELP]


def _debug_sleep(c, argv):
    seconds = parse_float(argv[2])
    time.sleep(max(0.0, seconds))
    return OK


def _debug_set_active_expire(c, argv):
    c.server.active_expire = parse_int(argv[2]) != 0
    return OK


def _debug_populate(c, argv):
    try:
        count = parse_int(argv[2])
    except CommandError:
        raise CommandError(NOT_POSITIVE) from None
    if count < 0:
        raise CommandError(NOT_POSITIVE)
    prefix = argv[3] if len(argv) > 3 else b"key"
    size = 0
    if len(argv) > 4:
        size = parse_int(argv[4])
        if size < 0:
            raise CommandError(NOT_POSITIVE)
    ks, db = c.ks, c.db
    data = db.data
    # Straight into the dict for speed, except while a snapshot runs: then through the keyspace,
    # whose hook keeps new keys out of the snapshot.
    add = (lambda key, value: ks.add_key(db, key, value)) if ks.snapshot is not None else data.__setitem__
    for i in range(count):
        key = b"%s:%d" % (prefix, i)
        if key in data:
            continue
        value = b"value:%d" % i
        if size:
            value = value[:size].ljust(size, b"\x00")
        add(key, value)
    return OK


def _debug_object(c, argv):
    from emberkv.commands.object import object_encoding

    value = c.ks.lookup_read(c.db, argv[2])
    if value is None:
        raise CommandError("ERR no such key")
    encoding = object_encoding(value).decode()
    extra = ""
    if encoding == "quicklist":
        extra = f" ql_nodes:{max(1, len(value) // 128)} ql_avg_node:{len(value):.2f}"
    return SimpleString(
        f"Value at:0x{id(value):x} refcount:1 encoding:{encoding} serializedlength:"
        f"{len(value)} lru:0 lru_seconds_idle:0{extra}".encode()
    )


def _debug_digest(c, argv):
    from emberkv.keyspace.digest import dataset_digest

    return SimpleString(dataset_digest(c.ks))


def _debug_digest_value(c, argv):
    from emberkv.keyspace.digest import key_digest_hex

    replies = []
    for key in argv[2:]:
        value = c.db.data.get(key)
        if value is None:
            replies.append(SimpleString(b"0" * 40))
        else:
            replies.append(SimpleString(key_digest_hex(value, key in c.db.expires)))
    return replies


DEBUG_SUBCOMMANDS = {
    b"help": (lambda n: n == 2, _debug_help),
    b"sleep": (lambda n: n == 3, _debug_sleep),
    b"set-active-expire": (lambda n: n == 3, _debug_set_active_expire),
    b"populate": (lambda n: 3 <= n <= 5, _debug_populate),
    b"object": (lambda n: n == 3, _debug_object),
    b"digest": (lambda n: n == 2, _debug_digest),
    b"digest-value": (lambda n: n >= 2, _debug_digest_value),
}


def register_debug(name: bytes, arity_ok, handler) -> None:
    """Persistence adds DEBUG RELOAD (and others) here."""
    DEBUG_SUBCOMMANDS[name] = (arity_ok, handler)
