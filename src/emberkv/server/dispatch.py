"""From argv to reply: the checks Redis makes before running a command, and the call itself.

``process_command`` mirrors Redis's processCommand: look the command up (unknown command, arity and
subcommand errors come first, even before NOAUTH), then authentication, MULTI queuing, the
subscribed-client restriction, LOADING and write refusals (MISCONF). ``call`` runs the handler with the
clock read once, encodes its reply, keeps the per-command statistics, and hands what changed data to
propagation (AOF, replicas) as effects.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from emberkv.commands.errors import NOAUTH, CommandError, unknown_command, wrong_arity
from emberkv.commands.table import COMMANDS, NO_AUTH, NO_MULTI, Command
from emberkv.protocol.replies import QUEUED, SimpleString

if TYPE_CHECKING:
    from emberkv.server.client import Client

# Commands that run immediately inside MULTI instead of being queued.
MULTI_CONTROL = frozenset({"exec", "discard", "multi", "watch", "quit", "reset"})
# What a RESP2 client in subscribed mode may still send.
SUBSCRIBED_ALLOWED = frozenset(
    {"subscribe", "unsubscribe", "psubscribe", "punsubscribe", "ssubscribe", "sunsubscribe", "ping",
     "quit", "reset"}
)

_perf = time.perf_counter
_time = time.time


def lookup(argv: list[bytes]) -> Command:
    """The command (or subcommand) argv names; raises CommandError as Redis replies."""
    cmd = COMMANDS.get(argv[0].lower())
    if cmd is None:
        raise CommandError(unknown_command(argv[0], argv[1:]))
    if not cmd.arity_ok(len(argv)):
        raise CommandError(wrong_arity(cmd.name))
    if cmd.subcommands:
        cmd = cmd.resolve(argv)
    return cmd


def process_command(c: Client, argv: list[bytes]) -> None:
    """Check and run one command from client c; its reply goes to c.out."""
    cmd = COMMANDS.get(argv[0].lower())
    # Fast path: a plain command with its exact argument count; everything else goes by lookup().
    if cmd is None or cmd.fast_path != len(argv) and (cmd.subcommands or not cmd.arity_ok(len(argv))):
        try:
            cmd = lookup(argv)
        except CommandError as exc:
            if c.multi is not None:
                c.multi_error = True
            c.out.append(b"-%s\r\n" % exc.message)
            return
    server = c.server
    if not c.authenticated and NO_AUTH not in cmd.flags:
        c.out.append(b"-%s\r\n" % NOAUTH.encode())
        return
    if c.multi is not None and cmd.name not in MULTI_CONTROL:
        if NO_MULTI in cmd.flags:
            c.multi_error = True
            c.out.append(b"-ERR Command not allowed inside a transaction\r\n")
            return
        refusal = server.refuse_reason(c, cmd)
        if refusal is not None:
            c.multi_error = True
            c.out.append(b"-%s\r\n" % refusal)
            return
        c.multi.append((cmd, argv))
        c.encode(QUEUED, c.out)
        return
    if (c.channels or c.patterns) and c.resp == 2 and cmd.name not in SUBSCRIBED_ALLOWED:
        c.out.append(
            b"-ERR Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET "
            b"are allowed in this context\r\n" % cmd.fullname.encode()
        )
        return
    # Refusals come from rare states (loading, persistence errors): only ask when one is possible.
    if server.persistence.loading or (server.write_guards and (cmd.is_write or cmd.name == "ping")):
        refusal = server.refuse_reason(c, cmd)
        if refusal is not None:
            cmd.rejected_calls += 1
            c.out.append(b"-%s\r\n" % refusal)
            return
    call(c, cmd, argv)
    if server.keyspace.ready_keys:
        server.blocking.handle_ready_keys()


def call(c: Client, cmd: Command, argv: list[bytes]) -> None:
    """Run a checked command: reply into c.out, statistics, propagation of its effects."""
    server = c.server
    ks = c.ks
    if not c.in_exec:
        ks.now_ms = int(_time() * 1000)
    dirty = ks.dirty
    db = c.db
    c.propagate_as = None
    c.last_command = cmd
    start = _perf()
    try:
        reply = cmd.handler(c, argv)
    except CommandError as exc:
        cmd.failed_calls += 1
        c.out.append(b"-%s\r\n" % exc.message)
    except Exception as exc:  # noqa: BLE001 - a bug in one command must not cost the client its connection
        cmd.failed_calls += 1
        _internal_error(c, cmd, exc)
        dirty = ks.dirty  # its own effects are not propagated; those it caused on the way (a lazy
        c.propagate_as = None  # expiry's DEL) are already pending and go out below as usual
    else:
        # The common replies are encoded here directly; the rest by the client's RESP encoder.
        kind = type(reply)
        if kind is bytes:
            c.out.append(b"$%d\r\n%s\r\n" % (len(reply), reply))
        elif kind is SimpleString:
            c.out.append(b"+%s\r\n" % reply)
        elif kind is int:
            c.out.append(b":%d\r\n" % reply)
        else:
            c.encode(reply, c.out)
    cmd.seconds += _perf() - start
    cmd.calls += 1
    if ks.dirty != dirty and cmd.is_write and server.effect_feeds:
        if c.propagate_as is None:
            server.propagate(db.id, argv)
        else:
            for effect in c.propagate_as:
                server.propagate(db.id, effect)
    if server.monitors:
        server.feed_monitors(c, db.id, argv)
    if not c.in_exec and server.pending_effects:
        # A command that propagates several effects (SPOP with a count: one SREM per member) reaches
        # the AOF and replicas as one MULTI/EXEC block, as Redis wraps them.
        effects = c.propagate_as
        server.flush_effects(multi=effects is not None and len(effects) > 1)


_NO_NEWLINES = bytes.maketrans(b"\r\n", b"  ")


def _internal_error(c: Client, cmd: Command, exc: Exception) -> None:
    """A command raised what no command should: log the traceback and answer an error. The caller
    propagates none of the command's own effects (replaying it from the AOF would raise again)."""
    import traceback

    c.server.log.warning(f"Internal error in '{cmd.fullname}': "
                         + "".join(traceback.format_exception(exc)).rstrip())
    c.out.append(b"-ERR internal error in '%s': %s\r\n"
                 % (cmd.fullname.encode(), f"{type(exc).__name__}: {exc}".encode()[:200].translate(_NO_NEWLINES)))
