"""COMMAND, COMMAND COUNT / INFO / DOCS / GETKEYS / LIST: the command table, as clients see it."""

from __future__ import annotations

from emberkv.commands.errors import CommandError
from emberkv.commands.table import COMMANDS, Command, command
from emberkv.keyspace.glob import glob_match
from emberkv.protocol.replies import Map, SetReply, SimpleString

# ACL categories each command family belongs to (COMMAND INFO reports them).
_GROUP_CATEGORIES = {
    "string": "@string", "list": "@list", "hash": "@hash", "set": "@set", "sorted-set": "@sortedset",
    "bitmap": "@bitmap", "pubsub": "@pubsub", "transactions": "@transaction",
    "connection": "@connection", "keyspace": "@keyspace", "server": "@admin",
}


def _categories(cmd: Command) -> list[SimpleString]:
    cats = []
    if cmd.is_write:
        cats.append("@write")
    if "readonly" in cmd.flags:
        cats.append("@read")
    if cmd.group in _GROUP_CATEGORIES:
        cats.append(_GROUP_CATEGORIES[cmd.group])
    cats.append("@fast" if "fast" in cmd.flags else "@slow")
    if "blocking" in cmd.flags:
        cats.append("@blocking")
    if "admin" in cmd.flags:
        cats += ["@admin", "@dangerous"]
    return [SimpleString(x.encode()) for x in dict.fromkeys(cats)]


def _key_specs(cmd: Command) -> list:
    if cmd.first_key == 0:
        return []
    flags = [SimpleString(b"RW" if cmd.is_write else b"RO")]
    last = cmd.last_key - cmd.first_key if cmd.last_key >= 0 else cmd.last_key
    return [Map([
        b"flags", SetReply(flags),
        b"begin_search", Map([b"type", b"index", b"spec", Map([b"index", cmd.first_key])]),
        b"find_keys", Map([b"type", b"range", b"spec",
                           Map([b"lastkey", last, b"keystep", cmd.step, b"limit", 0])]),
    ])]


def command_info(cmd: Command) -> list:
    return [
        cmd.fullname.encode(), cmd.arity, SetReply([SimpleString(f.encode()) for f in sorted(cmd.flags)]),
        cmd.first_key, cmd.last_key, cmd.step, SetReply(_categories(cmd)), [], _key_specs(cmd),
        [command_info(sub) for sub in cmd.subcommands.values()],
    ]


def _find(name: bytes) -> Command | None:
    parts = name.lower().split(b"|", 1)
    cmd = COMMANDS.get(parts[0])
    if cmd is not None and len(parts) == 2:
        return cmd.subcommands.get(parts[1])
    return cmd


@command("command", -1, "loading stale", group="server")
def command_(c, argv):
    """Details about every command."""
    if len(argv) > 1:
        raise CommandError(
            f"ERR unknown subcommand '{argv[1].decode('utf-8', 'replace')}'. Try COMMAND HELP."
        )
    return [command_info(cmd) for cmd in COMMANDS.values()]


@command("count", 2, "loading stale", parent="command")
def command_count(c, argv):
    return len(COMMANDS)


@command("info", -2, "loading stale", parent="command")
def command_info_cmd(c, argv):
    if len(argv) == 2:
        return [command_info(cmd) for cmd in COMMANDS.values()]
    return [None if (cmd := _find(name)) is None else command_info(cmd) for name in argv[2:]]


def _docs(cmd: Command) -> Map:
    doc = Map([b"summary", cmd.summary.encode(), b"since", b"1.0.0", b"group", cmd.group.encode()])
    if cmd.subcommands:
        doc += [b"subcommands", Map([x for sub in cmd.subcommands.values()
                                      for x in (sub.fullname.encode(), _docs(sub))])]
    return doc


@command("docs", -2, "loading stale", parent="command")
def command_docs(c, argv):
    chosen = list(COMMANDS.values()) if len(argv) == 2 else [x for n in argv[2:] if (x := _find(n))]
    return Map([x for cmd in chosen for x in (cmd.fullname.encode(), _docs(cmd))])


@command("getkeys", -3, "loading stale", parent="command")
def command_getkeys(c, argv):
    cmd = _find(argv[2])
    if cmd is None:
        raise CommandError("ERR Invalid command specified")
    args = argv[2:]
    if cmd.subcommands and len(args) > 1:
        cmd = cmd.subcommands.get(args[1].lower(), cmd)
    if not cmd.arity_ok(len(args)):
        raise CommandError("ERR Invalid number of arguments specified for command")
    positions = cmd.key_positions(args)
    if not positions:
        raise CommandError("ERR The command has no key arguments")
    return [args[i] for i in positions]


@command("list", -2, "loading stale", parent="command")
def command_list(c, argv):
    names = [cmd.fullname.encode() for cmd in COMMANDS.values()]
    if len(argv) == 2:
        return names
    if len(argv) != 5 or argv[2].lower() != b"filterby":
        raise CommandError("ERR syntax error")
    kind, value = argv[3].lower(), argv[4]
    if kind == b"pattern":
        return [n for n in names if glob_match(value, n, nocase=True)]
    if kind == b"aclcat":
        wanted = b"@" + value.lower().lstrip(b"@")
        return [cmd.fullname.encode() for cmd in COMMANDS.values()
                if wanted in (bytes(x) for x in _categories(cmd))]
    if kind == b"module":
        return []
    raise CommandError("ERR syntax error")


COMMAND_HELP = [
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)", "    Details about every command.",
    "COUNT", "    How many commands there are.",
    "INFO [<command-name> ...]", "    Details about the named commands (all when none are named).",
    "DOCS [<command-name> ...]", "    Documentation of the named commands (all when none are named).",
    "GETKEYS <full-command>", "    The keys in a full command line.",
    "LIST [FILTERBY (MODULE <name>|ACLCAT <category>|PATTERN <pattern>)]", "    Command names.",
    "HELP", "    This text.",
]


@command("help", 2, "loading stale", parent="command")
def command_help(c, argv):
    return [SimpleString(line.encode()) for line in COMMAND_HELP]
