"""Connection commands: PING, ECHO, QUIT, SELECT, SWAPDB, AUTH, HELLO, RESET and CLIENT."""

from __future__ import annotations

import hmac
import time

from emberkv import REDIS_COMPAT_VERSION
from emberkv.commands.args import parse_int
from emberkv.commands.errors import (
    DB_INDEX_OUT_OF_RANGE,
    NOT_INTEGER,
    SYNTAX,
    WRONGPASS,
    CommandError,
)
from emberkv.commands.table import command
from emberkv.protocol.replies import OK, PONG, ErrorReply, Map, SimpleString, Verbatim
from emberkv.protocol.resp import encode_resp2, encode_resp3


@command("ping", -1, "fast stale loading", group="connection")
def ping(c, argv):
    """Ping the server."""
    if len(argv) > 2:
        raise CommandError("ERR wrong number of arguments for 'ping' command")
    if c.resp == 2 and c.subscriptions:
        return [b"pong", argv[1] if len(argv) == 2 else b""]
    return argv[1] if len(argv) == 2 else PONG


@command("echo", 2, "fast stale loading", group="connection")
def echo(c, argv):
    """Echo the given string."""
    return argv[1]


@command("quit", -1, "fast no_auth stale loading allow_busy", group="connection")
def quit_(c, argv):
    """Close the connection."""
    c.close_after_reply = True
    return OK


@command("select", 2, "fast stale loading", group="connection")
def select(c, argv):
    """Change the selected database for the current connection."""
    index = parse_int(argv[1], NOT_INTEGER)
    if not 0 <= index < len(c.ks.dbs):
        raise CommandError(DB_INDEX_OUT_OF_RANGE)
    c.db = c.ks.dbs[index]
    return OK


@command("swapdb", 3, "write fast", group="keyspace")
def swapdb(c, argv):
    """Swaps two Redis databases."""
    first = _db_index(argv[1], "ERR invalid first DB index")
    second = _db_index(argv[2], "ERR invalid second DB index")
    count = len(c.ks.dbs)
    if not (0 <= first < count and 0 <= second < count):
        raise CommandError(DB_INDEX_OUT_OF_RANGE)
    if first != second:
        ks = c.ks
        ks.swap_db(first, second)
        # Clients blocked on a key that the swap brought into their database get another try.
        for dbid, key in list(ks.blocking_keys):
            if dbid in (first, second) and key in ks.dbs[dbid].data:
                ks.signal_ready(ks.dbs[dbid], key)
    else:
        c.ks.dirty += 1
    return OK


def _db_index(raw: bytes, error: str) -> int:
    try:
        return parse_int(raw)
    except CommandError:
        raise CommandError(error) from None


@command("auth", -2, "fast no_auth stale loading", group="connection")
def auth(c, argv):
    """Authenticate to the server."""
    if len(argv) > 3:
        raise CommandError(SYNTAX)
    password = c.server.config["requirepass"]
    if len(argv) == 2 and not password:
        raise CommandError(
            "ERR AUTH <password> called without any password configured for the default user. "
            "Are you sure your configuration is correct?"
        )
    user = argv[1] if len(argv) == 3 else b"default"
    _check_credentials(c, user, argv[-1])
    return OK


def _check_credentials(c, user: bytes, given: bytes) -> None:
    password = c.server.config["requirepass"]
    if user.lower() != b"default" or (password and not hmac.compare_digest(given, password.encode())):
        c.server.log.verbose(f"Failed authentication for client id={c.id}")
        raise CommandError(WRONGPASS)
    c.authenticated = True


@command("hello", -1, "fast no_auth stale loading", group="connection")
def hello(c, argv):
    """Handshake with Redis."""
    version = c.resp
    if len(argv) >= 2:
        try:
            version = parse_int(argv[1])
        except CommandError:
            raise CommandError("ERR Protocol version is not an integer or out of range") from None
        if version not in (2, 3):
            raise CommandError("NOPROTO unsupported protocol version")
    i, name = 2, None
    while i < len(argv):
        option = argv[i].lower()
        more = len(argv) - i - 1
        if option == b"auth" and more >= 2:
            _check_credentials(c, argv[i + 1], argv[i + 2])
            i += 3
        elif option == b"setname" and more >= 1:
            name = argv[i + 1]
            _check_name(name)
            i += 2
        else:
            raise CommandError(f"ERR Syntax error in HELLO option '{argv[i].decode('utf-8', 'replace')}'")
    if not c.authenticated:
        raise CommandError(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO "
            "AUTH <user> <pass> option can be used to authenticate the client and select the RESP "
            "protocol version at the same time"
        )
    if name is not None:
        c.name = name or None
    c.resp = version
    c.encode = encode_resp3 if version == 3 else encode_resp2
    return Map([
        b"server", b"redis", b"version", REDIS_COMPAT_VERSION.encode(), b"proto", version,
        b"id", c.id, b"mode", b"standalone", b"role", b"master", b"modules", [],
    ])


@command("reset", 1, "fast no_auth stale loading", group="connection")
def reset(c, argv):
    """Reset the connection."""
    from emberkv.commands.transactions import discard_transaction, unwatch_all

    discard_transaction(c)
    unwatch_all(c)
    c.server.pubsub.unsubscribe_all(c)
    if c.monitor:
        c.monitor = False
        c.server.monitors.remove(c)
    c.db = c.ks.dbs[0]
    c.resp = 2
    c.encode = encode_resp2
    c.name = None
    c.authenticated = not c.server.config["requirepass"]
    return SimpleString(b"RESET")


# -- CLIENT ----------------------------------------------------------------------------------------

CLIENT_HELP = [
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GETNAME", "    The name of this connection, or null.",
    "ID", "    The unique id of this connection.",
    "INFO", "    One line describing this connection, in CLIENT LIST's form.",
    "KILL <ip:port>", "    Close the connection from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Close the connections matching all the filters: ID <id>, ADDR <ip:port>, LADDR <ip:port>,",
    "    TYPE (NORMAL|MASTER|REPLICA|PUBSUB), USER <username>, SKIPME (YES|NO) (default yes).",
    "LIST [TYPE (NORMAL|MASTER|REPLICA|PUBSUB)] [ID <id> [<id> ...]]",
    "    One line per connection.",
    "SETNAME <name>", "    Name this connection.",
    "SETINFO (LIB-NAME|LIB-VER) <value>", "    Record the client library's name or version.",
    "UNBLOCK <id> [TIMEOUT|ERROR]", "    End a blocking command of another connection.",
    "NO-EVICT (ON|OFF)", "    Accepted for compatibility.",
    "HELP", "    This text.",
]


@command("help", 2, "loading stale", parent="client")
def client_help(c, argv):
    return [SimpleString(line.encode()) for line in CLIENT_HELP]


@command("id", 2, "noscript loading stale", parent="client")
def client_id(c, argv):
    return c.id


@command("getname", 2, "noscript loading stale", parent="client")
def client_getname(c, argv):
    return c.name


@command("setname", 3, "noscript loading stale", parent="client")
def client_setname(c, argv):
    _check_name(argv[2])
    c.name = argv[2] or None
    return OK


def _check_name(name: bytes) -> None:
    if any(b < 33 or b > 126 for b in name):
        raise CommandError("ERR Client names cannot contain spaces, newlines or special characters.")


@command("setinfo", 4, "noscript loading stale", parent="client")
def client_setinfo(c, argv):
    attr = argv[2].lower()
    if attr not in (b"lib-name", b"lib-ver"):
        raise CommandError(f"ERR Unrecognized option '{argv[2].decode('utf-8', 'replace')}'")
    if any(b < 33 or b > 126 for b in argv[3]):
        raise CommandError(f"ERR {attr.decode()} cannot contain spaces, newlines or special characters.")
    if attr == b"lib-name":
        c.lib_name = argv[3]
    else:
        c.lib_ver = argv[3]
    return OK


@command("no-evict", 3, "admin noscript loading stale", parent="client")
def client_no_evict(c, argv):
    if argv[2].lower() not in (b"on", b"off"):
        raise CommandError(SYNTAX)
    return OK


@command("info", 2, "noscript loading stale", parent="client")
def client_info(c, argv):
    return Verbatim(client_line(c).encode() + b"\n")


@command("list", -2, "admin noscript loading stale", parent="client")
def client_list(c, argv):
    clients = list(c.server.clients.values())
    i = 2
    while i < len(argv):
        option = argv[i].lower()
        if option == b"type" and i + 1 < len(argv):
            kind = argv[i + 1].lower()
            if kind not in (b"normal", b"master", b"replica", b"slave", b"pubsub"):
                raise CommandError(f"ERR Unknown client type '{argv[i + 1].decode('utf-8', 'replace')}'")
            clients = [x for x in clients if _client_type(x) == kind]
            i += 2
        elif option == b"id" and i + 1 < len(argv):
            ids = set()
            for raw in argv[i + 1:]:
                try:
                    ids.add(parse_int(raw))
                except CommandError:
                    raise CommandError("ERR Invalid client ID") from None
            clients = [x for x in clients if x.id in ids]
            i = len(argv)
        else:
            raise CommandError(SYNTAX)
    return Verbatim("".join(client_line(x) + "\n" for x in clients).encode())


def _client_type(c) -> bytes:
    return b"pubsub" if c.subscriptions else b"normal"


def client_line(c) -> str:
    now = time.time()
    flags = ("O" if c.monitor else "") + ("P" if c.subscriptions else "") + ("x" if c.multi is not None else "")
    flags += "b" if c.blocked is not None else ""
    cmd = c.last_command.fullname if c.last_command else "NULL"
    return (
        f"id={c.id} addr={c.addr} laddr={c.laddr} fd=-1 name={(c.name or b'').decode('utf-8', 'replace')} "
        f"age={int(now - c.created)} idle={int(now - c.last_interaction)} flags={flags or 'N'} "
        f"db={c.db.id} sub={len(c.channels)} psub={len(c.patterns)} ssub=0 "
        f"multi={len(c.multi) if c.multi is not None else -1} qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 "
        f"rbs=16384 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={cmd} user=default redir=-1 "
        f"resp={c.resp}"
    )


@command("kill", -3, "admin noscript loading stale", parent="client")
def client_kill(c, argv):
    server = c.server
    if len(argv) == 3:
        victims = [x for x in server.clients.values() if x.addr == argv[2].decode("utf-8", "replace")]
        if not victims:
            raise CommandError("ERR No such client")
        _kill(c, victims[0])
        return OK
    if len(argv) % 2:
        raise CommandError(SYNTAX)
    candidates = list(server.clients.values())
    skipme = True
    for i in range(2, len(argv), 2):
        option, value = argv[i].lower(), argv[i + 1]
        text = value.decode("utf-8", "replace")
        if option == b"id":
            try:
                wanted = parse_int(value)
            except CommandError:
                raise CommandError("ERR client-id should be greater than 0") from None
            candidates = [x for x in candidates if x.id == wanted]
        elif option == b"addr":
            candidates = [x for x in candidates if x.addr == text]
        elif option == b"laddr":
            candidates = [x for x in candidates if x.laddr == text]
        elif option == b"type":
            kind = value.lower()
            if kind not in (b"normal", b"master", b"replica", b"slave", b"pubsub"):
                raise CommandError(f"ERR Unknown client type '{text}'")
            candidates = [x for x in candidates if _client_type(x) == kind]
        elif option == b"user":
            if value != b"default":
                raise CommandError(f"ERR No such user '{text}'")
        elif option == b"skipme":
            if value.lower() not in (b"yes", b"no"):
                raise CommandError(SYNTAX)
            skipme = value.lower() == b"yes"
        else:
            raise CommandError(SYNTAX)
    killed = 0
    for victim in candidates:
        if victim is c and skipme:
            continue
        _kill(c, victim)
        killed += 1
    return killed


def _kill(c, victim) -> None:
    if victim is c:
        c.close_after_reply = True
    else:
        victim.close()


@command("unblock", -3, "admin noscript loading stale", parent="client")
def client_unblock(c, argv):
    if len(argv) > 4:
        raise CommandError(SYNTAX)
    try:
        target_id = parse_int(argv[2])
    except CommandError:
        raise CommandError("ERR value is not an integer or out of range") from None
    mode = argv[3].lower() if len(argv) == 4 else b"timeout"
    if mode not in (b"timeout", b"error"):
        raise CommandError("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
    target = c.server.clients.get(target_id)
    if target is None or target.blocked is None:
        return 0
    if mode == b"error":
        reply = ErrorReply(b"UNBLOCKED client unblocked via CLIENT UNBLOCK")
    else:
        reply = target.blocked.timeout_reply
    c.server.blocking.cancel(target, reply)
    return 1
