"""What runs between "Server initialized" and "Ready to accept connections": persistence comes up.

With ``appendonly yes`` the dataset comes from the AOF only (never from dump.rdb, as in Redis): the
manifest's base and incr files are replayed, an old single-file AOF is first moved into the AOF
directory, and a fresh base is written when there is no AOF yet. With ``appendonly no`` it comes from
``dbfilename`` (the RDB). The RDB saver is attached either way (save points work with AOF on too), and
the AOF manifest is read either way (BGREWRITEAOF uses it; a broken one stops start-up, as in Redis).
A dataset that cannot be loaded stops start-up (exit code 1) with one clear line.
"""

from __future__ import annotations

from emberkv.persistence.aof.loader import AofLoadError
from emberkv.persistence.aof.manifest import ManifestError
from emberkv.persistence.aof.opening import start_aof
from emberkv.persistence.aof.service import AofService
from emberkv.persistence.loading import LoadError, load_rdb
from emberkv.persistence.saving import RdbSaver
from emberkv.server.app import Server


async def start_persistence(server: Server) -> bool:
    """Load the dataset and attach persistence; False when start-up must stop (logged already)."""
    server.rdb = RdbSaver(server)
    aof = AofService(server)
    try:
        aof.read_manifest()
    except ManifestError as exc:
        server.log.warning(f"Fatal error in the AOF manifest {aof.manifest_path}: {exc}")
        return False
    except OSError as exc:
        server.log.warning(f"Can't read the AOF manifest {aof.manifest_path}: {exc.strerror}")
        return False
    try:
        if server.config["appendonly"]:
            await start_aof(aof)
        else:
            await load_rdb(server, server.rdb.path)
            aof.delete_history()
    except (LoadError, AofLoadError) as exc:
        server.log.warning(str(exc))
        return False
    return True
