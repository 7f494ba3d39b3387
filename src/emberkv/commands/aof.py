"""AOF commands: BGREWRITEAOF and DEBUG LOADAOF (the AOF itself is persistence/aof/)."""

from __future__ import annotations

from emberkv.commands.errors import CommandError
from emberkv.commands.server import register_debug
from emberkv.commands.table import command
from emberkv.protocol.replies import OK, SimpleString


def _aof(c):
    aof = getattr(c.server, "aof", None)
    if aof is None:
        raise CommandError("ERR the AOF is not available in this server")
    return aof


@command("bgrewriteaof", 1, "admin noscript no_async_loading", group="server")
def bgrewriteaof(c, argv):
    """Rebuild the append-only log from the current dataset, in the background."""
    aof = _aof(c)
    state = c.server.persistence
    if aof.rewriting:
        raise CommandError("ERR Background append only file rewriting already in progress")
    if aof.snapshot_running() or c.in_exec:
        # A BGSAVE (or a replica's sync) holds the snapshot engine: start when it is done. Asking by
        # hand lifts the throttling that repeated failures put on automatic rewrites.
        state.aof_rewrite_scheduled = True
        state.aof_rewrites_consecutive_failures = 0
        return SimpleString(b"Background append only file rewriting scheduled")
    if not aof.start_rewrite():
        raise CommandError("ERR Can't execute an AOF background rewriting. Please check the server logs "
                           "for more information.")
    return SimpleString(b"Background append only file rewriting started")


def _debug_loadaof(c, argv):
    """DEBUG LOADAOF: write out the AOF buffer, empty the dataset and load the AOF files again."""
    from emberkv.persistence.aof.loader import AofLoadError
    from emberkv.persistence.aof.manifest import ManifestError
    from emberkv.persistence.aof.opening import reload_aof

    aof = _aof(c)
    server = c.server
    try:
        aof.read_manifest()
    except (ManifestError, OSError) as exc:
        raise CommandError(f"ERR Error reading the AOF manifest: {exc}") from None
    if aof.manifest.empty:
        # Redis would empty the dataset and exit here; refusing keeps the data.
        raise CommandError("ERR There is no AOF to load")
    try:
        reload_aof(aof)
    except AofLoadError as exc:
        # The dataset is now partial: it must not be served (or saved). Stop as Redis does.
        server.log.warning(str(exc))
        server.log.warning("DEBUG LOADAOF failed: exiting without saving.")
        server.exit_code = 1
        server.shutdown_event.set()
        raise CommandError("ERR Error loading the AOF, the server is exiting: check the server logs") from None
    return OK


register_debug(b"loadaof", lambda n: n == 2, _debug_loadaof)
